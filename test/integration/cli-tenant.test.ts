/**
 * `qtv tenant add|list|show|suspend|remove` as subprocesses against moto (DynamoDB, Secrets Manager, KMS)
 * and two Qlik tenant emulators (one per customer tenant); then tokens signed the way the token function
 * signs them (registry + per-tenant signer, in process) are tried at each tenant's /login/jwt-session.
 */
import { generateKeyPairSync } from 'node:crypto';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQlikClaims } from '../../functions/qlik/claims.js';
import { QlikRestIdentityProviders } from '../../functions/qlik/identity-providers.js';
import { FixedClock } from '../../functions/runtime/clock.js';
import { SecretsManagerStore } from '../../functions/secrets/secret-source.js';
import { createSelfSignedCertificate } from '../../functions/signing/certificates.js';
import { signCompactJws } from '../../functions/signing/signer.js';
import { TenantRegistry } from '../../functions/tenancy/registry.js';
import { TenantSigners } from '../../functions/tenancy/signers.js';
import { DynamoDbTenantStore } from '../../functions/tenancy/store.js';
import { motoDynamoDb, motoEnv, motoKms, motoSecretsManager, uniqueName } from '../support/aws.js';
import { runQtv } from '../support/cli.js';
import { pkcs8Pem } from '../support/keys.js';
import { capturingLogger } from '../support/logs.js';
import { type MultiTenantEmulator, startMultiTenantEmulator } from '../support/multi-tenant-emulator.js';
import type { TenantEmulator } from '../support/tenant-emulator/index.js';
import { createTenantTable, tenancyConfig } from '../support/tenants.js';

const API_KEY = 'tenant-admin-key';
const WEB_INTEGRATION = 'wi-test';
let table: string;
let prefix: string;
let aliasPrefix: string;
let qlik: MultiTenantEmulator;
const emulators: Record<string, TenantEmulator> = {};

beforeAll(async () => {
  table = uniqueName('qtv-tenants');
  await createTenantTable(motoDynamoDb(), table);
  // Unique prefixes: moto is shared by every test file of the run.
  prefix = `${uniqueName('qtv-t')}/`;
  aliasPrefix = `alias/${uniqueName('qtv-t')}-`;
  qlik = await startMultiTenantEmulator({ acme: { adminApiKey: API_KEY }, globex: { adminApiKey: API_KEY } });
  for (const [name, emulator] of qlik.tenants) {
    emulator.addWebIntegration({ id: WEB_INTEGRATION, validOrigins: [] });
    emulators[name] = emulator;
  }
});

afterAll(async () => {
  await qlik.close();
});

const qtv = (args: string[]) =>
  runQtv(['tenant', ...args, '--table', table, '--secret-prefix', prefix, '--kms-alias-prefix', aliasPrefix], {
    env: { ...motoEnv(), QTV_QLIK_API_KEY: API_KEY },
  });

const addArgs = (id: string, extra: string[] = []) => [
  'add',
  id,
  '--tenant-host',
  `${id}.eu.qlikcloud.com`,
  '--qlik-url',
  emulators[id]!.url,
  '--issuer',
  `https://qtv.example.com/${id}`,
  ...extra,
];

/** Signs a Qlik JWT for `tenantId` the way the token function will: registry item -> tenant signer. */
async function tokenFor(tenantId: string, sub: string) {
  const tenancy = tenancyConfig({
    registry: { backend: 'dynamodb', tableName: table, cacheTtlSeconds: 60, maxCachedTenants: 10 },
    keys: { secretPrefix: prefix, kmsAliasPrefix: aliasPrefix, cacheTtlSeconds: 300 },
  });
  const clock = new FixedClock(Date.now());
  const logger = capturingLogger().logger;
  const registry = new TenantRegistry({
    store: new DynamoDbTenantStore(motoDynamoDb(), table),
    tenancy,
    clock,
    logger,
  });
  const found = await registry.lookup(tenantId);
  if (found.state !== 'active') throw new Error(`tenant ${tenantId} is ${found.state}`);
  const signers = new TenantSigners({
    tenancy,
    clock,
    logger,
    secretStore: () => new SecretsManagerStore(motoSecretsManager()),
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

const loginAt = (emulator: TenantEmulator, token: string) =>
  new QlikRestIdentityProviders({ tenant: emulator.url, fetch, webIntegrationId: WEB_INTEGRATION }).tryJwtLogin(token);

describe('Command: qtv tenant', () => {
  it('plans without changing anything on --dry-run', async () => {
    const result = await qtv(addArgs('acme', ['--dry-run']));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/plan \(dry run, nothing changed\)/);
    expect(result.stdout).toMatch(/key\s+would create\s+secret .*acme with a new RSA 2048 key/);
    expect(result.stdout).toMatch(/qlik-idp\s+would create/);
    expect(result.stdout).toMatch(/registry\s+would create/);
    expect(emulators.acme!.identityProviders.list()).toHaveLength(0);
    expect((await qtv(['list', '--json'])).stdout.trim()).toBe('[]');
  });

  it('onboards two tenants, each with its own key and Qlik IdP; each tenant’s users get tokens only its own Qlik accepts', async () => {
    // Act
    const acme = await qtv(addArgs('acme', ['--json']));
    const globex = await qtv(addArgs('globex', ['--key', 'kms', '--json']));
    // Assess: the CLI's report
    expect(acme.code, acme.stderr).toBe(0);
    expect(globex.code, globex.stderr).toBe(0);
    expect(JSON.parse(acme.stdout).steps.map((s: { step: string; action: string }) => `${s.step} ${s.action}`)).toEqual(
      ['key create', 'qlik-idp create', 'web-integration create', 'csp-origin skip', 'registry create'],
    );
    // Each Qlik tenant now has exactly one JWT IdP, for its own issuer.
    expect(emulators.acme!.identityProviders.list()).toMatchObject([
      { options: { issuer: 'https://qtv.example.com/acme' } },
    ]);
    expect(emulators.globex!.identityProviders.list()).toMatchObject([
      { options: { issuer: 'https://qtv.example.com/globex' } },
    ]);
    // Tokens: accepted by the own tenant, refused by the other.
    const acmeToken = await tokenFor('acme', 'alice');
    const globexToken = await tokenFor('globex', 'bob');
    expect(await loginAt(emulators.acme!, acmeToken)).toMatchObject({ ok: true });
    expect(await loginAt(emulators.globex!, globexToken)).toMatchObject({ ok: true });
    expect(await loginAt(emulators.globex!, acmeToken)).toMatchObject({ ok: false });
    expect(await loginAt(emulators.acme!, globexToken)).toMatchObject({ ok: false });
  });

  it('is idempotent: a second add reports every step as existing and creates nothing', async () => {
    const again = await qtv(addArgs('acme', ['--json']));
    expect(again.code, again.stderr).toBe(0);
    expect(
      JSON.parse(again.stdout).steps.map((s: { step: string; action: string }) => `${s.step} ${s.action}`),
    ).toEqual(['key exists', 'qlik-idp exists', 'web-integration exists', 'csp-origin skip', 'registry exists']);
    expect(emulators.acme!.webIntegrations.size).toBe(2);
    expect(emulators.acme!.identityProviders.list()).toHaveLength(1);
  });

  it('refuses to re-add a tenant with another issuer, before creating anything', async () => {
    const result = await qtv([...addArgs('acme').slice(0, -1), 'https://other.example.com/acme']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^qtv: tenant acme already exists in \S+ with other settings: compare with qtv tenant show acme/,
    );
    expect(emulators.acme!.identityProviders.list()).toHaveLength(1);
  });

  it('lists and shows tenants (references only, validated as the token functions validate)', async () => {
    const list = await qtv(['list', '--json']);
    expect(JSON.parse(list.stdout)).toMatchObject([
      { id: 'acme', status: 'active', valid: true, signing: 'secrets-manager' },
      { id: 'globex', status: 'active', valid: true, signing: 'kms' },
    ]);
    const show = await qtv(['show', 'acme', '--json']);
    expect(show.code, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({
      valid: true,
      item: { id: 'acme', signing: { secretId: `${prefix}acme` } },
    });
    expect(show.stdout).not.toMatch(/PRIVATE KEY/);
  });

  it('suspends and resumes a tenant, and removes one, each with a one-line answer', async () => {
    expect((await qtv(['suspend', 'globex'])).stdout).toBe('tenant globex is now suspended\n');
    expect(JSON.parse((await qtv(['list', '--json'])).stdout)[1]).toMatchObject({
      id: 'globex',
      status: 'suspended',
      version: 2,
    });
    expect((await qtv(['suspend', 'globex', '--resume'])).stdout).toBe('tenant globex is now active\n');
    const removed = await qtv(['remove', 'globex']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toMatch(/^removed tenant globex\nleft in place: key secret/);
    const missing = await qtv(['suspend', 'globex']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^qtv: tenant globex is not in \S+: see qtv tenant list\n$/);
  });

  it('puts a tenant on the shared key under its own key ID, registering the shared certificate at its Qlik', async () => {
    // Prepare: the deployment's shared key, stored as qtv secret put stores it.
    const hooli = await qlik.addTenant('hooli', { adminApiKey: API_KEY });
    hooli.addWebIntegration({ id: WEB_INTEGRATION, validOrigins: [] });
    emulators.hooli = hooli;
    const sharedId = uniqueName('qtv-shared-key');
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const certificate = await createSelfSignedCertificate({ privateKey, commonName: 'shared' });
    await motoSecretsManager().send(
      new CreateSecretCommand({
        Name: sharedId,
        SecretString: JSON.stringify({ privateKey: pkcs8Pem(privateKey), kid: 'shared', certificate }),
      }),
    );
    // Act
    const result = await qtv([
      ...addArgs('hooli'),
      '--key',
      'shared',
      '--kid',
      'hooli-kid',
      '--shared-secret-id',
      sharedId,
      '--json',
    ]);
    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(hooli.identityProviders.list()).toMatchObject([
      { options: { issuer: 'https://qtv.example.com/hooli', staticKeys: [{ kid: 'hooli-kid' }] } },
    ]);
    const show = JSON.parse((await qtv(['show', 'hooli', '--json'])).stdout);
    expect(show).toMatchObject({ valid: true, item: { signing: { backend: 'shared' }, qlik: { keyId: 'hooli-kid' } } });
  });

  it.each([
    [
      ['add', 'bad id', '--tenant-host', 'x.eu.qlikcloud.com', '--issuer', 'i'],
      /^qtv: tenant ID "bad id" must be 1-64 letters/,
    ],
    [['add', 'acme2', '--issuer', 'i'], /^qtv: --tenant-host required/],
    [
      ['add', 'acme2', '--tenant-host', 'h', '--issuer', 'i', '--key', 'hsm'],
      /^qtv: --key "hsm": use secret, kms or shared/,
    ],
    [['add', 'acme2', '--tenant-host', 'h', '--issuer', 'i', '--key', 'shared'], /^qtv: --key shared needs --kid/],
    [['show'], /^qtv: a tenant ID is required: qtv tenant show <id>/],
  ])('refuses %j with one line naming the fix (exit 2)', async (args, message) => {
    const result = await qtv(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});
