/**
 * Issue #17 "Done when": a second and a third tenant are onboarded with `qtv tenant add` (subprocesses)
 * against moto and the multi-tenant emulator while load runs against the first tenant through the dev
 * server (`POST /qlik/jwt`, DynamoDB registry on moto), with 0 failed requests; then the new tenants'
 * users get tokens that their own emulated Qlik tenant accepts and the others refuse.
 */
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QlikRestIdentityProviders } from '../../functions/qlik/identity-providers.js';
import { type DevServer, startDevServer } from '../../scripts/dev-server.js';
import { motoDynamoDb, motoEnv, motoKms, motoSecretsManager, uniqueName } from '../support/aws.js';
import { runQtv, tempDir } from '../support/cli.js';
import { pkcs8Pem, rsaKeyPair, verifyWithJsonwebtoken } from '../support/keys.js';
import { type MultiTenantEmulator, startMultiTenantEmulator } from '../support/multi-tenant-emulator.js';
import { createTenantTable } from '../support/tenants.js';

const API_KEY = 'isv-admin-key';
const WEB_INTEGRATION = 'wi-onboarding';
const CLAIM = 'org_id';
const TENANTS = ['acme', 'globex', 'initech'] as const;
let table: string;
let prefix: string;
let qlik: MultiTenantEmulator;
let dev: DevServer;

const qtv = (args: string[]) =>
  runQtv(['tenant', ...args, '--table', table, '--secret-prefix', prefix], {
    env: { ...motoEnv(), QTV_QLIK_API_KEY: API_KEY },
  });

const onboard = (id: string) =>
  qtv([
    'add',
    id,
    '--tenant-host',
    `${id}.eu.qlikcloud.com`,
    '--qlik-url',
    qlik.tenant(id).url,
    '--issuer',
    `https://qtv.example.com/${id}`,
  ]);

/** The certificate Qlik was given for `id` (from its emulated IdP): what its tokens must verify with. */
const certificateOf = (id: string) => {
  const stored = qlik.tenant(id).identityProviders.list()[0]?.options.staticKeys[0]?.pem ?? '';
  // Qlik keeps the pem on one line (as the IdP API takes it); rewrap it as PEM for node:crypto.
  const body = stored.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  const pem = `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)?.join('\n')}\n-----END CERTIFICATE-----\n`;
  return new X509Certificate(pem).publicKey.export({ format: 'pem', type: 'spki' }).toString();
};

const callerToken = (id: string, sub: string) => dev.identityProvider.mint({ sub }, { [CLAIM]: id });

async function vend(token: string) {
  const response = await fetch(`${dev.url}/qlik/jwt`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: response.status, body: (await response.json()) as { token?: string; code?: string } };
}

beforeAll(async () => {
  table = uniqueName('qtv-onboarding');
  prefix = `${uniqueName('qtv-onb')}/`;
  await createTenantTable(motoDynamoDb(), table);
  qlik = await startMultiTenantEmulator(Object.fromEntries(TENANTS.map((id) => [id, { adminApiKey: API_KEY }])));
  for (const emulator of qlik.tenants.values()) emulator.addWebIntegration({ id: WEB_INTEGRATION, validOrigins: [] });
  const dir = tempDir('qtv-onboarding-');
  const sharedKey = join(dir, 'shared.pem');
  writeFileSync(sharedKey, pkcs8Pem(rsaKeyPair().privateKey));
  dev = await startDevServer({
    port: 0,
    localDir: dir,
    config: () => ({
      qlik: { issuer: 'https://qtv.example.com/shared', keyId: 'shared' },
      signing: { backend: 'file', privateKeyPath: sharedKey },
      tenancy: {
        tenantClaim: CLAIM,
        registry: { backend: 'dynamodb', tableName: table, cacheTtlSeconds: 5 },
        keys: { secretPrefix: prefix },
      },
    }),
    runtimeOverrides: {
      secretsManager: motoSecretsManager(),
      kms: motoKms(),
      tenancy: { dynamoDb: motoDynamoDb() },
    },
    logLevel: 'ERROR',
  });
  const first = await onboard('acme');
  expect(first.code, first.stderr).toBe(0);
});

afterAll(async () => {
  await dev?.close();
  await qlik?.close();
});

describe('Scenario: onboarding tenants while the first one is under load', () => {
  it('onboards globex and initech during a load run on acme with 0 failed requests; each tenant’s tokens are accepted by its own Qlik only', async () => {
    // Prepare: caller tokens of acme's users, and a warm acme.
    const acmeCallers = await Promise.all(['alice', 'bob', 'carol', 'dave'].map((sub) => callerToken('acme', sub)));
    expect((await vend(acmeCallers[0]!)).status).toBe(200);
    const bodies: Array<{ status: number; body: string }> = [];
    let next = 0;
    // Act: load on acme, and the two onboardings at the same time.
    const load = autocannon({
      url: dev.url,
      connections: 16,
      amount: 6000,
      timeout: 30,
      requests: [
        {
          method: 'POST',
          path: '/qlik/jwt',
          setupRequest: (request) => ({
            ...request,
            headers: { ...request.headers, authorization: `Bearer ${acmeCallers[next++ % acmeCallers.length]}` },
          }),
          onResponse: (status, body) => {
            bodies.push({ status, body });
          },
        },
      ],
    });
    const finished =
      (at: Record<string, number>, name: string) =>
      <T>(value: T) => {
        at[name] = Date.now();
        return value;
      };
    const at: Record<string, number> = {};
    const [result, globex, initech] = await Promise.all([
      load.then(finished(at, 'load')),
      onboard('globex').then(finished(at, 'globex')),
      onboard('initech').then(finished(at, 'initech')),
    ]);
    // The onboardings really happened during the load: both finished before the load's last response.
    expect(at.globex, JSON.stringify(at)).toBeLessThan(at.load!);
    expect(at.initech, JSON.stringify(at)).toBeLessThan(at.load!);
    // Assess: the load run
    expect(globex.code, globex.stderr).toBe(0);
    expect(initech.code, initech.stderr).toBe(0);
    expect(result.errors + result.timeouts).toBe(0);
    expect(bodies).toHaveLength(6000);
    const failed = bodies.filter((b) => b.status !== 200);
    expect(failed.slice(0, 3)).toEqual([]);
    const acmeKey = certificateOf('acme');
    for (const { body } of bodies) {
      const { payload } = verifyWithJsonwebtoken((JSON.parse(body) as { token: string }).token, acmeKey);
      expect(payload.iss).toBe('https://qtv.example.com/acme');
    }
    // Assess: every tenant's users get tokens their own Qlik accepts, and no other Qlik does.
    for (const id of TENANTS) {
      const vended = await vend(await callerToken(id, `user-of-${id}`));
      expect(vended.status, JSON.stringify(vended.body)).toBe(200);
      for (const other of TENANTS) {
        const login = await new QlikRestIdentityProviders({
          tenant: qlik.tenant(other).url,
          fetch,
          webIntegrationId: WEB_INTEGRATION,
        }).tryJwtLogin(vended.body.token!);
        expect(login.ok, `${id}'s token at ${other}`).toBe(other === id);
      }
    }
  });
});
