/**
 * `qtv tenant add` writes the tenant's public-material secret `<secretPrefix><id>/public` (own key secret and
 * own KMS key), so that right after onboarding `GET /qlik/idp-config?tenant=<id>` (the real handler, against
 * moto and the registry table the CLI wrote) serves that tenant's issuer, key ID and a certificate that verifies
 * the tokens its users get. Also: idempotence, a mismatched public secret refused with the fix, the plan on
 * --dry-run, the partial-failure summary, `tenant remove` naming the secret, and `--rotation-function`.
 *
 * moto cannot take a RotateSecret with RotationLambdaARN (it invokes the function's testSecret step, which needs
 * a Lambda function and Docker; see cli-tenant-rotation.test.ts), so that one test runs `tenant add` in process
 * and answers only DescribeSecret/RotateSecret of the key secret at the SDK port; every other call goes to moto.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { importX509, jwtVerify } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHandler } from '../../functions/idp-config/handler.js';
import { buildQlikClaims } from '../../functions/qlik/claims.js';
import { FixedClock } from '../../functions/runtime/clock.js';
import { parseConfig } from '../../functions/runtime/config.js';
import { createRuntime } from '../../functions/runtime/wiring.js';
import { SecretsManagerStore } from '../../functions/secrets/secret-source.js';
import { createSelfSignedCertificate } from '../../functions/signing/certificates.js';
import { publicKeyMaterial, serializePublicMaterial } from '../../functions/signing/public-material.js';
import { signCompactJws } from '../../functions/signing/signer.js';
import { TenantRegistry } from '../../functions/tenancy/registry.js';
import { TenantSigners } from '../../functions/tenancy/signers.js';
import { DynamoDbTenantStore } from '../../functions/tenancy/store.js';
import { tenantAddCommand } from '../../scripts/commands/tenant-add.js';
import { motoDynamoDb, motoEnv, motoKms, motoSecretsManager, uniqueName } from '../support/aws.js';
import { runQtv } from '../support/cli.js';
import { httpEvent, lambdaContext } from '../support/events.js';
import { pkcs8Pem } from '../support/keys.js';
import { capturingLogger } from '../support/logs.js';
import { type MultiTenantEmulator, startMultiTenantEmulator } from '../support/multi-tenant-emulator.js';
import { createTenantTable, tenancyConfig } from '../support/tenants.js';

const API_KEY = 'tenant-admin-key';
const FUNCTION = 'arn:aws:lambda:eu-west-1:123456789012:function:qtv-KeyRotation';
const sm = motoSecretsManager();
let table: string;
let prefix: string;
let aliasPrefix: string;
let qlik: MultiTenantEmulator;

beforeAll(async () => {
  table = uniqueName('qtv-tenants');
  await createTenantTable(motoDynamoDb(), table);
  prefix = `${uniqueName('qtv-tp')}/`;
  aliasPrefix = `alias/${uniqueName('qtv-tp')}-`;
  qlik = await startMultiTenantEmulator({
    acme: { adminApiKey: API_KEY },
    globex: { adminApiKey: API_KEY },
    initech: { adminApiKey: API_KEY },
    hooli: { adminApiKey: API_KEY },
    umbrella: { adminApiKey: API_KEY },
  });
});

afterAll(async () => {
  await qlik.close();
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

const flags = () => ['--table', table, '--secret-prefix', prefix, '--kms-alias-prefix', aliasPrefix];
const addArgs = (id: string, extra: string[] = []) => [
  'add',
  id,
  '--tenant-host',
  `${id}.eu.qlikcloud.com`,
  '--qlik-url',
  qlik.tenants.get(id)!.url,
  '--issuer',
  `https://qtv.example.com/${id}`,
  ...extra,
];
const qtv = (args: string[], apiKey = API_KEY) =>
  runQtv(['tenant', ...args, ...flags()], { env: { ...motoEnv(), QTV_QLIK_API_KEY: apiKey } });
const stepsOf = (stdout: string) =>
  (JSON.parse(stdout).steps as { step: string; action: string }[]).map((s) => `${s.step} ${s.action}`);
const publicSecretOf = async (id: string) =>
  (await sm.send(new GetSecretValueCommand({ SecretId: `${prefix}${id}/public` }))).SecretString;

function tenancy() {
  return tenancyConfig({
    registry: { backend: 'dynamodb', tableName: table, cacheTtlSeconds: 60, maxCachedTenants: 10 },
    keys: { secretPrefix: prefix, kmsAliasPrefix: aliasPrefix, cacheTtlSeconds: 300 },
  });
}

/** The deployed `GET /qlik/idp-config` handler over the registry table and moto; it can never sign. */
async function idpConfig(tenant: string) {
  const config = parseConfig({
    qlik: { issuer: 'https://qtv.example.com/deployment' },
    signing: { backend: 'secrets-manager', secretId: `${prefix}deployment-key` },
    tenancy: {
      tenantClaim: 'org_id',
      registry: { backend: 'dynamodb', tableName: table },
      keys: { secretPrefix: prefix, kmsAliasPrefix: aliasPrefix },
    },
  });
  const handler = createHandler(
    createRuntime(config, {
      logger: capturingLogger('ERROR').logger,
      secretsManager: sm,
      kms: motoKms(),
      signers: { current: () => Promise.reject(new Error('the private key was used')) },
      pendingSigners: null,
      tenancy: { store: new DynamoDbTenantStore(motoDynamoDb(), table) },
    }),
  );
  const response = await handler(
    { ...httpEvent({ method: 'GET', path: '/qlik/idp-config' }), queryStringParameters: { tenant } },
    lambdaContext(),
  );
  return { status: response.statusCode, body: JSON.parse(response.body ?? '{}') };
}

/** A Qlik JWT for a user of `tenantId`, signed the way the token function signs it (registry -> tenant signer). */
async function tokenFor(tenantId: string, sub: string): Promise<string> {
  const clock = new FixedClock(Date.now());
  const logger = capturingLogger().logger;
  const registry = new TenantRegistry({
    store: new DynamoDbTenantStore(motoDynamoDb(), table),
    tenancy: tenancy(),
    clock,
    logger,
  });
  const found = await registry.lookup(tenantId);
  if (found.state !== 'active') throw new Error(`tenant ${tenantId} is ${found.state}`);
  const signers = new TenantSigners({
    tenancy: tenancy(),
    clock,
    logger,
    secretStore: () => new SecretsManagerStore(sm),
    kms: () => motoKms(),
  });
  const key = await signers.current(found.tenant);
  const claims = buildQlikClaims(
    { sub, name: sub, email: `${sub}@example.com`, emailVerified: true, groups: [] },
    {
      issuer: key.issuer!,
      issuedAtSeconds: Math.floor(clock.nowMs() / 1000),
      ttlSeconds: 300,
      notBeforeSkewSeconds: 30,
    },
  );
  return signCompactJws(claims, key);
}

/** Verifies `token` with the certificate /qlik/idp-config served, as Qlik's IdP would with the registered one. */
async function verifiesWith(token: string, config: { certificate: string; issuer: string; keyId: string }) {
  const { payload, protectedHeader } = await jwtVerify(token, await importX509(config.certificate, 'RS256'), {
    issuer: config.issuer,
  });
  return { sub: payload.sub, kid: protectedHeader.kid };
}

describe('Command: qtv tenant add writes the tenant’s public material for /qlik/idp-config', () => {
  it('plans the public-material secret and the rotation on --dry-run, writing neither', async () => {
    const result = await qtv(addArgs('acme', ['--rotation-function', FUNCTION, '--dry-run']));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/public-material\s+would create\s+secret \S+acme\/public with the key's key ID/);
    expect(result.stdout).toMatch(/rotation\s+would create\s+\S+acme rotated by \S+qtv-KeyRotation every 30 days/);
    await expect(publicSecretOf('acme')).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('onboards a tenant on its own key secret; idp-config then serves its issuer, key ID and a certificate that verifies its users’ tokens', async () => {
    // Act
    const added = await qtv(addArgs('acme', ['--json']));
    // Assess
    expect(added.code, added.stderr).toBe(0);
    expect(stepsOf(added.stdout)).toEqual([
      'key create',
      'public-material create',
      'qlik-idp create',
      'web-integration create',
      'csp-origin skip',
      'registry create',
    ]);
    const { keyId } = JSON.parse(added.stdout);
    const { status, body } = await idpConfig('acme');
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ issuer: 'https://qtv.example.com/acme', keyId, certificateSource: 'stored' });
    // The certificate served is the one registered at the tenant's Qlik JWT IdP.
    expect(qlik.tenants.get('acme')!.identityProviders.list()).toMatchObject([
      { options: { staticKeys: [{ kid: keyId }] } },
    ]);
    expect(await verifiesWith(await tokenFor('acme', 'alice'), body)).toEqual({ sub: 'alice', kid: keyId });
  });

  it('onboards a tenant on its own KMS key: the certificate KMS signed is stored, and verifies its users’ tokens', async () => {
    const added = await qtv(addArgs('globex', ['--key', 'kms', '--json']));
    expect(added.code, added.stderr).toBe(0);
    expect(stepsOf(added.stdout)).toContain('public-material create');
    const { status, body } = await idpConfig('globex');
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ issuer: 'https://qtv.example.com/globex', keyId: JSON.parse(added.stdout).keyId });
    expect(await verifiesWith(await tokenFor('globex', 'bob'), body)).toMatchObject({ sub: 'bob' });
    // Another tenant's certificate does not verify it.
    await expect(verifiesWith(await tokenFor('globex', 'bob'), (await idpConfig('acme')).body)).rejects.toThrow();
  });

  it('is idempotent: a second add finds the public material and leaves it as it was', async () => {
    const before = await publicSecretOf('acme');
    const again = await qtv(addArgs('acme', ['--json']));
    expect(again.code, again.stderr).toBe(0);
    expect(stepsOf(again.stdout)).toContain('public-material exists');
    expect(await publicSecretOf('acme')).toBe(before);
  });

  it('refuses public material of another key with one line naming the fix, and changes nothing', async () => {
    // Prepare: acme's public secret now holds another key's material.
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const certificate = await createSelfSignedCertificate({ privateKey, commonName: 'other' });
    const other = serializePublicMaterial({ current: publicKeyMaterial({ kid: 'other', publicKey, certificate }) });
    await sm.send(new PutSecretValueCommand({ SecretId: `${prefix}acme/public`, SecretString: other }));
    // Act
    const result = await qtv(addArgs('acme'));
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^qtv: the public key material \S+acme\/public holds the public key of another key \(key ID other\), not secret \S+acme: .* Delete it \(aws secretsmanager delete-secret --secret-id \S+acme\/public --force-delete-without-recovery\) and re-run/,
    );
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(await publicSecretOf('acme')).toBe(other);
  });

  it('refuses a key secret without a certificate with one line naming the fix, writing no public material', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await sm.send(
      new CreateSecretCommand({
        Name: `${prefix}umbrella`,
        SecretString: JSON.stringify({ privateKey: pkcs8Pem(privateKey) }),
      }),
    );
    const result = await qtv(addArgs('umbrella'));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^qtv: secret \S+umbrella holds no certificate, so \S+umbrella\/public cannot be written: store the key with one \(qtv secret put --secret-id \S+umbrella --key-file KEY.pem --cert-file CERT.cer\), then re-run/,
    );
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    await expect(publicSecretOf('umbrella')).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    expect(qlik.tenants.get('umbrella')!.identityProviders.list()).toHaveLength(0);
  });

  it('names the public material among the steps done when a later step fails', async () => {
    const result = await qtv(addArgs('hooli'), 'wrong-admin-key');
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(
      /Done before the failure: key create, public-material create; the registry item is not written yet/,
    );
    expect(new X509Certificate(JSON.parse((await publicSecretOf('hooli'))!).current.certificate)).toBeDefined();
  });

  it('tenant remove names the public-material secret it leaves in place', async () => {
    const removed = await qtv(['remove', 'globex', '--json']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout).leftInPlace).toMatchObject({ publicSecret: `${prefix}globex/public` });
    expect((await qtv(['remove', 'acme'])).stdout).toMatch(/its public-material secret \S+acme\/public/);
  });
});

describe('Command: qtv tenant add --rotation-function', () => {
  it('attaches the rotation function to the new key secret with the RotateSecret qtv tenant rotation sends, then finds it attached', async () => {
    for (const [name, value] of Object.entries(motoEnv())) vi.stubEnv(name, value);
    vi.stubEnv('QTV_QLIK_API_KEY', API_KEY);
    // DescribeSecret/RotateSecret of the key secret answered at the port (moto would invoke the Lambda).
    const keySecret = `${prefix}initech`;
    let rotation: { RotationEnabled: boolean; RotationLambdaARN?: string; RotationRules?: object } = {
      RotationEnabled: false,
    };
    const rotateCalls: unknown[] = [];
    const send = SecretsManagerClient.prototype.send;
    vi.spyOn(SecretsManagerClient.prototype, 'send').mockImplementation(function (
      this: SecretsManagerClient,
      command: unknown,
      ...rest: unknown[]
    ) {
      if (command instanceof RotateSecretCommand && command.input.SecretId === keySecret) {
        rotateCalls.push(command.input);
        rotation = {
          RotationEnabled: true,
          RotationLambdaARN: command.input.RotationLambdaARN,
          RotationRules: command.input.RotationRules,
        };
        return Promise.resolve({});
      }
      if (command instanceof DescribeSecretCommand && command.input.SecretId === keySecret)
        return Promise.resolve(rotation);
      return (send as (...args: unknown[]) => Promise<unknown>).call(this, command, ...rest);
    } as never);
    const out: string[] = [];
    const io = { stdout: (t: string) => out.push(t), stderr: () => {}, readStdin: async () => '', fetch };
    const argv = [
      ...addArgs('initech').slice(1),
      '--rotation-function',
      FUNCTION,
      '--rotation-schedule-days',
      '45',
      '--json',
      ...flags(),
    ];
    // Act
    expect(await tenantAddCommand.run(argv, io)).toBe(0);
    expect(await tenantAddCommand.run(argv, io)).toBe(0);
    // Assess
    expect(stepsOf(out[0]!).at(-1)).toBe('rotation create');
    expect(stepsOf(out[1]!).at(-1)).toBe('rotation exists');
    expect(rotateCalls).toEqual([
      {
        SecretId: keySecret,
        RotationLambdaARN: FUNCTION,
        RotationRules: { AutomaticallyAfterDays: 45 },
        RotateImmediately: false,
      },
    ]);
  });

  it('refuses --rotation-function for a tenant on a KMS key with one line, before creating anything', async () => {
    const result = await qtv(addArgs('initech', ['--key', 'kms', '--rotation-function', FUNCTION]));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^qtv: --rotation-function works with --key secret only/);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});
