/**
 * `GET /qlik/idp-config?tenant=<id>` in multi-tenant mode against moto: each tenant's public material from its
 * own public-material secret (`<secretPrefix><id>/public`), from KMS GetPublicKey on its own alias, or from the
 * deployment's shared key under the tenant's own issuer and key ID. The route never reads a private key: the
 * tenants' key secrets do not even exist here, and the runtime's signers fail on use.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CreateAliasCommand } from '@aws-sdk/client-kms';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/idp-config/handler.js';
import { parseConfig } from '../../functions/runtime/config.js';
import { createRuntime } from '../../functions/runtime/wiring.js';
import { createSelfSignedCertificate } from '../../functions/signing/certificates.js';
import { publicKeyMaterial, serializePublicMaterial } from '../../functions/signing/public-material.js';
import { MemoryTenantStore } from '../../functions/tenancy/store.js';
import { type TenantItem, tenantItemSchema } from '../../functions/tenancy/tenant.js';
import { motoEnv, motoKms, motoSecretsManager } from '../support/aws.js';
import { runQtv, tempDir } from '../support/cli.js';
import { httpEvent, lambdaContext } from '../support/events.js';
import { rsaKeyPair } from '../support/keys.js';
import { createKmsKey, kmsPublicKey } from '../support/kms.js';
import { capturingLogger } from '../support/logs.js';
import { tenantItemInput } from '../support/tenants.js';

const run = randomBytes(4).toString('hex');
const PREFIX = `qtv-idp-${run}/`;
const ALIAS_PREFIX = `alias/qtv-idp-${run}-`;
const secretsManager = motoSecretsManager();
const kms = motoKms();
let handler: ReturnType<typeof createHandler>;
let kmsPem: string;
const acmeKey = rsaKeyPair(2048);
const sharedKey = rsaKeyPair(2048);

async function material(key: ReturnType<typeof rsaKeyPair>, kid: string, issuer: string): Promise<string> {
  const certificate = await createSelfSignedCertificate({ privateKey: key.privateKey, commonName: issuer });
  return serializePublicMaterial({
    current: publicKeyMaterial({ kid, publicKey: key.publicKey, certificate, issuer }),
  });
}

function item(id: string, overrides: Parameters<typeof tenantItemInput>[1] = {}): TenantItem {
  return tenantItemSchema.parse(
    tenantItemInput(id, { signing: { backend: 'secrets-manager', secretId: `${PREFIX}${id}` }, ...overrides }),
  );
}

beforeAll(async () => {
  // acme: its own key secret; only its public-material secret exists (written by qtv or the rotation).
  await secretsManager.send(
    new CreateSecretCommand({
      Name: `${PREFIX}acme/public`,
      // An issuer stored beside the key is not what the tenant's IdP trusts: the item's issuer wins.
      SecretString: await material(acmeKey, 'acme-kid-1', 'https://stale.example/acme'),
    }),
  );
  // globex: its own KMS key under the tenant alias; the certificate KMS signed, stored by `qtv keys cert`.
  const keyId = await createKmsKey(kms, 'RSA_2048');
  await kms.send(new CreateAliasCommand({ AliasName: `${ALIAS_PREFIX}globex`, TargetKeyId: keyId }));
  await secretsManager.send(new CreateSecretCommand({ Name: `${PREFIX}globex/public`, SecretString: 'placeholder' }));
  const cert = await runQtv(
    ['keys', 'cert', '--kms', `${ALIAS_PREFIX}globex`, '--out', join(tempDir(), 'globex.cer')].concat([
      '--public-secret-id',
      `${PREFIX}globex/public`,
    ]),
    { env: motoEnv() },
  );
  if (cert.code !== 0) throw new Error(cert.stderr);
  kmsPem = (await kmsPublicKey(kms, keyId)).pem;
  const config = parseConfig({
    qlik: { issuer: 'https://qtv.example/shared', keyId: 'shared-kid' },
    signing: {
      backend: 'secrets-manager',
      secretId: `${PREFIX}shared-signing-key`,
      publicSecretId: `qtv-idp-${run}-deployment-public`,
    },
    tenancy: {
      tenantClaim: 'org_id',
      registry: { backend: 'dynamodb', tableName: 'unused' },
      keys: { secretPrefix: PREFIX, kmsAliasPrefix: ALIAS_PREFIX },
    },
  });
  const store = new MemoryTenantStore([
    item('acme'),
    item('globex', {
      signing: { backend: 'kms', keyId: `${ALIAS_PREFIX}globex` },
      qlik: { tenantHost: 'globex.eu.qlikcloud.com', issuer: 'https://qtv.example/globex', keyId: 'globex-kid' },
    }),
    item('initech', {
      signing: { backend: 'shared' },
      qlik: { tenantHost: 'initech.eu.qlikcloud.com', issuer: 'https://qtv.example/initech', keyId: 'initech-kid' },
    }),
    item('hooli', { status: 'suspended' }),
  ]);
  // An item that names another tenant's key: invalid, this tenant only.
  store.setRecord({
    id: 'broken',
    status: 'active',
    version: 1,
    document: { ...tenantItemInput('broken'), signing: { backend: 'secrets-manager', secretId: `${PREFIX}acme` } },
  });
  // The deployment's own public-material secret (the stack creates it; signing.publicSecretId names it).
  await secretsManager.send(
    new CreateSecretCommand({
      Name: `qtv-idp-${run}-deployment-public`,
      SecretString: await material(sharedKey, 'shared-kid', 'https://qtv.example/shared'),
    }),
  );
  handler = createHandler(
    createRuntime(config, {
      logger: capturingLogger('ERROR').logger,
      secretsManager,
      kms,
      signers: { current: () => Promise.reject(new Error('the private key was used')) },
      pendingSigners: null,
      tenancy: { store },
    }),
  );
});

afterAll(() => {
  secretsManager.destroy();
  kms.destroy();
});

async function idpConfig(query?: Record<string, string>) {
  const response = await handler(
    {
      ...httpEvent({ method: 'GET', path: '/qlik/idp-config' }),
      ...(query !== undefined ? { queryStringParameters: query } : {}),
    },
    lambdaContext(),
  );
  return { status: response.statusCode, headers: response.headers, body: JSON.parse(response.body ?? '{}') };
}

const pemOf = (key: ReturnType<typeof rsaKeyPair>) => key.publicKey.export({ format: 'pem', type: 'spki' }).toString();

describe('Handler: GET /qlik/idp-config?tenant= in multi-tenant mode', () => {
  it('serves a tenant on its own key secret from its public-material secret, under the item’s issuer', async () => {
    const { status, body } = await idpConfig({ tenant: 'acme' });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ issuer: 'https://qtv.example/acme', keyId: 'acme-kid-1', publicKey: pemOf(acmeKey) });
    expect(body.identityProviderRequest).toMatchObject({ options: { issuer: 'https://qtv.example/acme' } });
  });

  it('serves a tenant on its own KMS key from GetPublicKey on its alias and the certificate KMS signed', async () => {
    const { status, body } = await idpConfig({ tenant: 'globex' });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ issuer: 'https://qtv.example/globex', keyId: 'globex-kid', publicKey: kmsPem });
  });

  it('serves a tenant on the shared key under its own issuer and key ID, not the deployment’s', async () => {
    const { status, body } = await idpConfig({ tenant: 'initech' });
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({
      issuer: 'https://qtv.example/initech',
      keyId: 'initech-kid',
      publicKey: pemOf(sharedKey),
    });
    expect((await idpConfig()).body).toMatchObject({ issuer: 'https://qtv.example/shared', keyId: 'shared-kid' });
  });

  it.each([
    ['an unknown tenant', 'nobody', 404, 'TENANT_UNKNOWN'],
    ['a value no tenant ID can have', '../acme', 404, 'TENANT_UNKNOWN'],
    ['a suspended tenant', 'hooli', 403, 'TENANT_SUSPENDED'],
    ['a tenant whose item names another tenant’s key', 'broken', 503, 'TENANT_CONFIG_INVALID'],
  ])('answers %s (?tenant=%s) with problem+json %i %s', async (_, tenant, status, code) => {
    const response = await idpConfig({ tenant });
    expect(response.status).toBe(status);
    expect(response.headers?.['content-type']).toBe('application/problem+json');
    expect(response.body).toMatchObject({ status, code });
  });

  it('answers ?tenant= in a single-tenant deployment with 404 NOT_CONFIGURED', async () => {
    const single = createHandler(
      createRuntime(
        parseConfig({ qlik: { issuer: 'https://qtv.example/one' }, signing: { backend: 'file', privateKeyPath: 'x' } }),
        {
          logger: capturingLogger('ERROR').logger,
          signers: { current: () => Promise.reject(new Error('unused')) },
          pendingSigners: null,
        },
      ),
    );
    const response = await single(
      { ...httpEvent({ method: 'GET', path: '/qlik/idp-config' }), queryStringParameters: { tenant: 'acme' } },
      lambdaContext(),
    );
    expect(response.statusCode).toBe(404);
    expect(JSON.parse(response.body ?? '{}')).toMatchObject({ code: 'NOT_CONFIGURED' });
  });
});
