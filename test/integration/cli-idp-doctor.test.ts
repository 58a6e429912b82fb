/**
 * `qtv idp config`, `qtv idp push` and `qtv doctor` as subprocesses, against a real dev server and the
 * Qlik tenant emulator (test/support/tenant-emulator), both started in this process.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pemOnOneLine } from '../../functions/qlik/identity-providers.js';
import { createSelfSignedCertificate } from '../../functions/signing/certificates.js';
import { DEV_KEY_ID, DEV_QLIK_ISSUER, type DevServer, startDevServer } from '../../scripts/dev-server.js';
import { runQtv, tempDir } from '../support/cli.js';
import { pkcs8Pem, rsaKeyPair } from '../support/keys.js';
import { publicKeyFromPem } from '../support/tenant-emulator/identity-providers.js';
import { startTenantEmulator, type TenantEmulatorOptions } from '../support/tenant-emulator/index.js';

const ISSUER = 'https://qtv.example.com/idp-test';
let dev: DevServer;
let devIdp: { issuer: string; keyId: string; certificate: string };
let keyFile: string;
let certFile: string;
/** A loopback URL on which nothing listens (a port just released). */
let closedUrl: string;
const stubs: { close(): Promise<void> }[] = [];

const tenantStub = async (options: TenantEmulatorOptions & { webIntegrationId?: string } = {}) => {
  const { webIntegrationId, ...rest } = options;
  const emulator = await startTenantEmulator(rest);
  stubs.push(emulator);
  if (webIntegrationId !== undefined) emulator.addWebIntegration({ id: webIntegrationId, validOrigins: [dev.url] });
  return emulator;
};
const idpPosts = (emulator: Awaited<ReturnType<typeof tenantStub>>) =>
  emulator.requests.filter((r) => r.method === 'POST' && r.path === '/api/v1/identity-providers');

beforeAll(async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
  await new Promise((resolve) => probe.close(resolve));
  dev = await startDevServer({ port: 0, localDir: tempDir('qtv-dev-'), logLevel: 'SILENT' });
  devIdp = (await (await fetch(`${dev.url}/qlik/idp-config`)).json()) as typeof devIdp;
  const dir = tempDir();
  keyFile = join(dir, 'privatekey.pem');
  certFile = join(dir, 'publickey.cer');
  writeFileSync(keyFile, pkcs8Pem(rsaKeyPair().privateKey), { mode: 0o600 });
  writeFileSync(
    certFile,
    await createSelfSignedCertificate({ privateKey: rsaKeyPair().privateKey, commonName: 'idp test' }),
  );
});
afterAll(async () => {
  await Promise.all(stubs.map((s) => s.close()));
  await dev?.close();
});

describe.concurrent('Command: qtv idp config', () => {
  it('prints issuer, key ID and certificate of a running token API', async () => {
    // Act
    const result = await runQtv(['idp', 'config', '--api-url', dev.url]);
    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`Issuer:      ${DEV_QLIK_ISSUER}`);
    expect(result.stdout).toContain(`Key ID:      ${DEV_KEY_ID}`);
    expect(result.stdout).toContain(devIdp.certificate.trim());
  });

  it('prints the POST /api/v1/identity-providers body for a local key with --json', async () => {
    // Act
    const result = await runQtv([
      'idp',
      'config',
      '--key-file',
      keyFile,
      '--cert-file',
      certFile,
      '--issuer',
      ISSUER,
      '--keyid',
      'qtv-2026-11',
      '--tenant-id',
      'tenant-1',
      '--clock-tolerance',
      '5',
      '--json',
    ]);
    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      tenantIds: ['tenant-1'],
      provider: 'external',
      protocol: 'jwtAuth',
      interactive: false,
      active: true,
      description: 'qlik-token-vending key qtv-2026-11',
      clockToleranceSec: 5,
      options: {
        jwtLoginEnabled: true,
        issuer: ISSUER,
        // Qlik's automation example: "pem must be on a single line".
        staticKeys: [{ kid: 'qtv-2026-11', pem: pemOnOneLine(readFileSync(certFile, 'utf8')) }],
      },
    });
  });

  it.each([
    ['no issuer for a local key', ['--key-file', 'KEY'], 2, /--issuer required/],
    [
      'a certificate of another key',
      ['--key-file', 'KEY', '--cert-file', 'OTHER', '--issuer', ISSUER],
      2,
      /does not belong to the stored private key/,
    ],
    [
      'an API that is not there',
      ['--api-url', 'CLOSED'],
      3,
      /^qtv: cannot get the IdP settings: http:\/\/127\.0\.0\.1:\d+ unreachable \(ECONNREFUSED\)/,
    ],
  ])('refuses %s with its exit code and one line', async (_name, args, code, message) => {
    // Prepare
    const other = join(tempDir(), 'other.cer');
    writeFileSync(other, await createSelfSignedCertificate({ privateKey: rsaKeyPair(3072).privateKey }));
    // Act
    const result = await runQtv([
      'idp',
      'config',
      ...args.map((a) => (a === 'KEY' ? keyFile : a === 'OTHER' ? other : a === 'CLOSED' ? closedUrl : a)),
    ]);
    // Assess
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe.concurrent('Command: qtv idp push', () => {
  it('creates the JWT IdP with an API key, from the idp config values, and leaves it alone on a second push', async () => {
    // Prepare
    const stub = await tenantStub({ adminApiKey: 'admin-api-key' });
    const env = { QTV_QLIK_API_KEY: 'admin-api-key' };
    // Act
    const first = await runQtv(['idp', 'push', '--tenant', stub.url, '--api-url', dev.url, '--json'], { env });
    const second = await runQtv(['idp', 'push', '--tenant', stub.url, '--api-url', dev.url], { env });
    const body = await runQtv(['idp', 'config', '--api-url', dev.url, '--json']);
    // Assess
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ created: true, issuer: DEV_QLIK_ISSUER, keyId: DEV_KEY_ID });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^already exists: JWT identity provider \S+ on http:\/\/127\.0\.0\.1:\d+/);
    expect(idpPosts(stub)).toHaveLength(1);
    const expected = JSON.parse(body.stdout) as {
      options: { issuer: string; staticKeys: { kid: string; pem: string }[] };
    };
    const [created] = stub.identityProviders.list();
    expect(created).toMatchObject({
      protocol: 'jwtAuth',
      active: true,
      options: { jwtLoginEnabled: true, issuer: expected.options.issuer },
    });
    expect(created?.options.staticKeys).toEqual(expected.options.staticKeys);
    expect(created?.options.staticKeys[0]?.kid).toBe(DEV_KEY_ID);
    // The API key is a secret: it is never echoed.
    expect(first.stdout + first.stderr + second.stdout + second.stderr).not.toContain('admin-api-key');
  });

  it('gets an admin token with client_credentials (secret from the environment) and creates the IdP', async () => {
    // Prepare
    const stub = await tenantStub();
    stub.addClient({ clientId: 'admin-client', secrets: ['s3cret-value'], admin: true });
    // Act
    const result = await runQtv(
      [
        'idp',
        'push',
        '--tenant',
        stub.url,
        '--client-id',
        'admin-client',
        '--key-file',
        keyFile,
        '--cert-file',
        certFile,
        '--issuer',
        ISSUER,
        '--keyid',
        'qtv-cc',
        '--scope',
        'admin_classic',
      ],
      { env: { QTV_QLIK_CLIENT_SECRET: 's3cret-value' } },
    );
    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /^created JWT identity provider \S+ on .* \(issuer https:\/\/qtv\.example\.com\/idp-test, key ID qtv-cc\)/,
    );
    expect(stub.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      'POST /oauth/token 200',
      'GET /api/v1/identity-providers 200',
      'POST /api/v1/identity-providers 201',
    ]);
    const pem = stub.identityProviders.list()[0]?.options.staticKeys[0]?.pem ?? '';
    expect(pem).not.toMatch(/[\r\n]/);
    expect(publicKeyFromPem(pem).export({ format: 'pem', type: 'spki' })).toBe(
      new X509Certificate(readFileSync(certFile)).publicKey.export({ format: 'pem', type: 'spki' }),
    );
    expect(result.stdout + result.stderr).not.toContain('s3cret-value');
  });

  it.each([
    [
      'a wrong API key',
      { QTV_QLIK_API_KEY: 'wrong' },
      [],
      3,
      /identity providers failed \(HTTP 401: HTTP-401 Unauthorized\): the credential needs the tenant admin role/,
    ],
    [
      'a wrong client secret',
      { QTV_QLIK_CLIENT_SECRET: 'wrong' },
      ['--client-id', 'admin-client', '--scope', 'admin_classic'],
      3,
      /refused the admin client's credentials \(HTTP 401: [^)]*\): check the client ID, QTV_QLIK_CLIENT_SECRET/,
    ],
    [
      'no credential',
      {},
      [],
      2,
      /no admin credential: set QTV_QLIK_API_KEY, or pass --client-id with QTV_QLIK_CLIENT_SECRET/,
    ],
    [
      'a tenant that is not a host',
      { QTV_QLIK_API_KEY: 'k' },
      ['--tenant', 'https//x y'],
      2,
      /--tenant "https\/\/x y" is not a host/,
    ],
  ] as const)('refuses %s with its exit code and one line', async (_name, env, args, code, message) => {
    // Prepare
    const stub = await tenantStub({ adminApiKey: 'admin-api-key' });
    stub.addClient({ clientId: 'admin-client', secrets: ['right'], admin: true });
    // Act
    const result = await runQtv(['idp', 'push', '--tenant', stub.url, '--api-url', dev.url, ...args], {
      env: { ...env },
    });
    // Assess
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(stub.identityProviders.list()).toHaveLength(0);
  });
});

describe.concurrent('Command: qtv doctor', () => {
  it('passes every check against the dev server, including a Qlik session on a tenant that knows the key', async () => {
    // Prepare: register the dev server's key on the stub tenant, as `qtv idp push` would.
    const stub = await tenantStub({ adminApiKey: 'k', webIntegrationId: 'web-int-1' });
    expect(
      (await runQtv(['idp', 'push', '--tenant', stub.url, '--api-url', dev.url], { env: { QTV_QLIK_API_KEY: 'k' } }))
        .code,
    ).toBe(0);
    // Act
    const result = await runQtv([
      'doctor',
      '--api-url',
      dev.url,
      '--tenant',
      stub.url,
      '--web-integration-id',
      'web-int-1',
    ]);
    // Assess
    expect(result.code, result.stdout + result.stderr).toBe(0);
    for (const check of [
      'api.reachable',
      'idp-config.served',
      'idp-config.certificate',
      'idp-config.key-matches',
      'caller.token',
      'qlik-jwt.minted',
      'rule claim.nbf.present',
      'rule header.kid.matches',
      'rule claim.iss.matches',
      'signature.verifies',
      'qlik.session',
    ])
      expect(result.stdout).toMatch(new RegExp(`^PASS  ${check.replaceAll('.', '\\.')}\\s`, 'm'));
    expect(result.stdout).not.toMatch(/^FAIL/m);
    expect(result.stdout).toContain('ok: every check passed');
    expect(stub.requests.some((r) => r.path === '/login/jwt-session')).toBe(true);
  });

  it('fails the session check, with a fix, when the tenant does not know the key', async () => {
    // Prepare
    const stub = await tenantStub({ adminApiKey: 'k', webIntegrationId: 'web-int-1' });
    // Act
    const result = await runQtv([
      'doctor',
      '--api-url',
      dev.url,
      '--tenant',
      stub.url,
      '--web-integration-id',
      'web-int-1',
      '--json',
    ]);
    // Assess
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as {
      ok: boolean;
      checks: { check: string; ok: boolean; detail: string; fix?: string }[];
    };
    expect(report.ok).toBe(false);
    expect(report.checks.filter((c) => !c.ok)).toEqual([
      {
        check: 'qlik.session',
        ok: false,
        detail: expect.stringMatching(/^POST \/login\/jwt-session answered 401 \(\S+/),
        fix: expect.stringMatching(/issuer, key ID and certificate must equal the values of qtv idp config/),
      },
    ]);
  });

  it.each([
    ['an API that is not there', ['--api-url', 'CLOSED'], 'api.reachable', /unreachable \(ECONNREFUSED\)/],
    [
      'a caller token the API refuses',
      ['--api-url', 'DEV', '--caller-token', 'not-a-jwt'],
      'qlik-jwt.minted',
      /POST \/qlik\/jwt answered 401/,
    ],
  ])('fails on %s with exit 1', async (_name, args, check, detail) => {
    // Act
    const result = await runQtv([
      'doctor',
      ...args.map((a) => (a === 'DEV' ? dev.url : a === 'CLOSED' ? closedUrl : a)),
    ]);
    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`^FAIL  ${check.replaceAll('.', '\\.')}\\s`, 'm'));
    expect(result.stdout).toMatch(detail);
    expect(result.stdout).toMatch(/^ {6}fix: /m);
  });
});
