/**
 * Per-tenant key rotation with the one rotation function, against moto's Secrets Manager and two emulated Qlik
 * tenants (each with its own admin client and web integration). The steps are invoked as Secrets Manager
 * invokes them (createSecret, setSecret, testSecret, finishSecret, with the secret's ARN); the function finds
 * the tenant by the secret's name, and the new key's IdP goes to that tenant's Qlik only, under its issuer.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  RotateSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QlikRestIdentityProviders } from '../../functions/qlik/identity-providers.js';
import { SecretsManagerRotationStore } from '../../functions/rotate-signing-key/adapters.js';
import { adminCredentialsLoader } from '../../functions/rotate-signing-key/credentials.js';
import { createHandler } from '../../functions/rotate-signing-key/handler.js';
import { systemClock } from '../../functions/runtime/clock.js';
import { parseConfig, tenancySchema } from '../../functions/runtime/config.js';
import { parsePublicMaterial } from '../../functions/signing/public-material.js';
import { TenantRegistry } from '../../functions/tenancy/registry.js';
import { MemoryTenantStore } from '../../functions/tenancy/store.js';
import { tenantItemSchema } from '../../functions/tenancy/tenant.js';
import { motoSecretsManager } from '../support/aws.js';
import { capturingLogger } from '../support/logs.js';
import { type MultiTenantEmulator, startMultiTenantEmulator } from '../support/multi-tenant-emulator.js';
import { createRotatableKeySecret, driveRotation, keyAt } from '../support/rotation.js';
import { tenantItemInput } from '../support/tenants.js';

const run = randomBytes(4).toString('hex');
const PREFIX = `qtv-rot-${run}/`;
const issuerOf = (id: string) => `https://qtv.example/${id}`;
const adminOf = (id: string) => ({ clientId: `${id}-admin`, clientSecret: `${id}-admin-${run}` });
const webIntegrationOf = (id: string) => `${id}-web-integration`;
let sm: SecretsManagerClient;
let qlik: MultiTenantEmulator;
let handler: ReturnType<typeof createHandler>;
const log = capturingLogger('INFO');
const initialKids: Record<string, string> = {};

const arnOf = async (name: string) => (await sm.send(new DescribeSecretCommand({ SecretId: name }))).ARN!;
const idpsAt = (id: string) =>
  qlik
    .tenant(id)
    .identityProviders.list()
    .map((idp) => ({ kid: idp.options.staticKeys[0]?.kid, issuer: idp.options.issuer }));

beforeAll(async () => {
  sm = motoSecretsManager();
  qlik = await startMultiTenantEmulator(
    Object.fromEntries(
      ['acme', 'globex'].map((id) => [
        id,
        {
          clients: [{ ...adminOf(id), secrets: [adminOf(id).clientSecret], admin: true }],
          webIntegrations: [{ id: webIntegrationOf(id), validOrigins: [`https://${id}.apps.example`] }],
        },
      ]),
    ),
  );
  const tenancy = tenancySchema.parse({
    tenantClaim: 'org_id',
    registry: { backend: 'dynamodb', tableName: 'unused' },
    keys: { secretPrefix: PREFIX },
  });
  const items = [];
  for (const [id, emulator] of qlik.tenants) {
    const initial = await createRotatableKeySecret(sm, `${PREFIX}${id}`, issuerOf(id));
    initialKids[id] = initial.kid;
    emulator.addJwtIdentityProvider({ kid: initial.kid, issuer: issuerOf(id), pem: initial.certificate });
    await sm.send(
      new CreateSecretCommand({ Name: `${PREFIX}${id}/qlik-admin`, SecretString: JSON.stringify(adminOf(id)) }),
    );
    items.push(
      tenantItemSchema.parse(
        tenantItemInput(id, {
          qlik: { tenantHost: emulator.tenantHost, issuer: issuerOf(id) },
          signing: { backend: 'secrets-manager', secretId: `${PREFIX}${id}` },
          webIntegrationId: webIntegrationOf(id),
          rotation: { qlikMode: 'register', adminCredentialsSecretId: `${PREFIX}${id}/qlik-admin` },
          // The emulator is plain http on loopback: its base URL comes from oauth.tenantUrl.
          oauth: {
            tenantUrl: emulator.url,
            clientId: `${id}-web`,
            clientSecretId: `${PREFIX}${id}/oauth-client`,
            redirectUris: ['http://127.0.0.1:9/cb'],
            mode: 'json',
          },
        }),
      ),
    );
  }
  // acme has its public-material secret (qtv tenant add makes it); globex was onboarded without one.
  await sm.send(new CreateSecretCommand({ Name: `${PREFIX}acme/public`, SecretString: 'placeholder' }));
  // A tenant registered in "manual" mode without an admin client, and one whose item is missing.
  await createRotatableKeySecret(sm, `${PREFIX}initech`, issuerOf('initech'));
  items.push(
    tenantItemSchema.parse(
      tenantItemInput('initech', {
        signing: { backend: 'secrets-manager', secretId: `${PREFIX}initech` },
        rotation: { qlikMode: 'register' },
      }),
    ),
  );
  await createRotatableKeySecret(sm, `${PREFIX}nobody`, issuerOf('nobody'));
  await createRotatableKeySecret(sm, `${PREFIX}acme/stray-key`, issuerOf('acme'));
  await sm.send(
    new RotateSecretCommand({
      SecretId: `${PREFIX}acme/public`,
      RotateImmediately: false,
      RotationRules: { AutomaticallyAfterDays: 30 },
    }),
  );
  // The deployment's own key (the shared key), rotated without Qlik, under the deployment's issuer.
  await createRotatableKeySecret(sm, `qtv-rot-${run}-deployment`, 'https://qtv.example/shared');
  await createRotatableKeySecret(sm, `qtv-rot-${run}-other`, 'https://qtv.example/other');
  const config = parseConfig({
    qlik: { issuer: 'https://qtv.example/shared' },
    signing: { backend: 'secrets-manager', secretId: `qtv-rot-${run}-deployment` },
    rotation: { enabled: true, gracePeriodSeconds: 3600, qlik: { mode: 'promote-without-qlik' } },
    tenancy,
  });
  handler = createHandler({
    config,
    clock: systemClock,
    logger: log.logger,
    secrets: new SecretsManagerRotationStore(sm),
    tenants: {
      tenancy,
      registry: new TenantRegistry({
        store: new MemoryTenantStore(items),
        tenancy,
        clock: systemClock,
        logger: log.logger,
      }),
      rotation: config.rotation,
      // What index.ts builds: the real REST adapter, the admin client from the tenant's own secret.
      qlikFor: (tenant) =>
        new QlikRestIdentityProviders({
          tenant: tenant.baseUrl,
          fetch: globalThis.fetch,
          ...(tenant.webIntegrationId !== undefined ? { webIntegrationId: tenant.webIntegrationId } : {}),
          ...(tenant.adminCredentialsSecretId !== undefined
            ? { credentials: adminCredentialsLoader(sm, tenant.adminCredentialsSecretId) }
            : {}),
        }),
    },
  });
});

afterAll(async () => {
  await qlik?.close();
  sm?.destroy();
});

describe('Function: rotate-signing-key for tenant key secrets', () => {
  it('rotates a tenant’s key with its own issuer, registers the new IdP at its own Qlik only, and publishes its public material', async () => {
    const { token, results } = await driveRotation(handler, await arnOf(`${PREFIX}acme`));
    expect(results.map((r) => `${r.step}:${r.outcome}`)).toEqual([
      'createSecret:done',
      'setSecret:done',
      'testSecret:done',
      'finishSecret:done',
    ]);
    const current = await keyAt(sm, `${PREFIX}acme`, 'AWSCURRENT');
    expect(current.versionId).toBe(token);
    expect(current.issuer).toBe(issuerOf('acme'));
    expect(new X509Certificate(current.certificate).subject).toContain('qtv.example/acme');
    expect(idpsAt('acme')).toEqual(
      expect.arrayContaining([
        { kid: current.kid, issuer: issuerOf('acme') },
        { kid: initialKids.acme, issuer: issuerOf('acme') },
      ]),
    );
    expect(idpsAt('globex').map((i) => i.kid)).not.toContain(current.kid);
    // testSecret proved a login at acme's Qlik with the new key (through acme's web integration).
    expect(qlik.tenant('acme').requests.some((r) => r.path === '/login/jwt-session')).toBe(true);
    expect(qlik.tenant('globex').requests.some((r) => r.path === '/login/jwt-session')).toBe(false);
    const published = parsePublicMaterial(
      (await sm.send(new GetSecretValueCommand({ SecretId: `${PREFIX}acme/public` }))).SecretString ?? '',
    );
    expect(published.current).toMatchObject({ kid: current.kid, issuer: issuerOf('acme') });
  });

  it('rotates another tenant with its own admin client and Qlik; a missing public-material secret is a warning', async () => {
    const { results } = await driveRotation(handler, await arnOf(`${PREFIX}globex`));
    expect(results.map((r) => r.outcome)).toEqual(['done', 'done', 'done', 'done']);
    const current = await keyAt(sm, `${PREFIX}globex`, 'AWSCURRENT');
    expect(idpsAt('globex')).toContainEqual({ kid: current.kid, issuer: issuerOf('globex') });
    expect(idpsAt('acme').map((i) => i.kid)).not.toContain(current.kid);
    expect(qlik.tenant('globex').requests.some((r) => r.path === '/oauth/token')).toBe(true);
    expect(log.lines.map((l) => JSON.parse(l))).toContainEqual(
      expect.objectContaining({ message: 'tenant public-material secret missing: not updated', tenant: 'globex' }),
    );
  });

  it('still rotates the deployment’s own key under the deployment’s issuer', async () => {
    const { results } = await driveRotation(handler, await arnOf(`qtv-rot-${run}-deployment`));
    // promote-without-qlik (the deployment's mode): setSecret has nothing to register.
    expect(results.map((r) => `${r.step}:${r.outcome}`)).toEqual([
      'createSecret:done',
      'setSecret:skipped',
      'testSecret:done',
      'finishSecret:done',
    ]);
    expect((await keyAt(sm, `qtv-rot-${run}-deployment`, 'AWSCURRENT')).issuer).toBe('https://qtv.example/shared');
  });

  it.each([
    ['a secret under the prefix that is no key secret', () => `${PREFIX}acme/public`, /no tenant's key secret/],
    [
      'another tenant-looking secret inside a tenant’s folder',
      () => `${PREFIX}acme/stray-key`,
      /no tenant's key secret/,
    ],
    ['the key secret of a tenant not in the registry', () => `${PREFIX}nobody`, /not in the tenant registry/],
    ['a register-mode tenant without an admin client', () => `${PREFIX}initech`, /names no admin client/],
    [
      'a secret that is neither a tenant’s nor the deployment’s key',
      () => `qtv-rot-${run}-other`,
      /neither a tenant key secret/,
    ],
  ])('refuses %s, changing nothing', async (_, name, message) => {
    const secretId = await arnOf(name());
    const before = await keyAt(sm, name(), 'AWSCURRENT');
    await expect(driveRotation(handler, secretId, { steps: ['createSecret'] })).rejects.toThrow(message);
    expect((await keyAt(sm, name(), 'AWSCURRENT')).versionId).toBe(before.versionId);
  });
});
