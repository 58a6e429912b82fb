import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../functions/runtime/config.js';
import { validateTenantItem } from '../../../functions/tenancy/tenant.js';
import { tenancyConfig, tenantItemInput } from '../../support/tenants.js';

const tenancy = tenancyConfig();

describe('Function: validateTenantItem', () => {
  it('accepts an item that names its own key secret and applies the configuration defaults', () => {
    // Act
    const result = validateTenantItem(tenantItemInput('acme'), tenancy, 'acme');
    // Assess
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.item.qlik.token).toEqual({ defaultTtlSeconds: 300, maxTtlSeconds: 600, notBeforeSkewSeconds: 30 });
    expect(result.item.identity.preset).toBe('generic');
    expect(result.item.allowedOrigins).toEqual([]);
  });

  it('accepts its own KMS key by alias or alias ARN, and the shared key with a key ID of its own', () => {
    for (const signing of [
      { backend: 'kms', keyId: 'alias/qtv-tenant-acme' },
      { backend: 'kms', keyId: 'arn:aws:kms:eu-west-1:123456789012:alias/qtv-tenant-acme' },
      { backend: 'shared' },
      {
        backend: 'secrets-manager',
        secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:qtv/tenants/acme-AbC123',
      },
    ] as const) {
      expect(validateTenantItem(tenantItemInput('acme', { signing }), tenancy, 'acme')).toMatchObject({ ok: true });
    }
  });

  it('accepts its own public-material secret and a rotation admin client under its own prefix', () => {
    const result = validateTenantItem(
      tenantItemInput('acme', {
        signing: {
          backend: 'secrets-manager',
          secretId: 'qtv/tenants/acme',
          publicSecretId: 'qtv/tenants/acme/public',
        },
        rotation: { qlikMode: 'register', adminCredentialsSecretId: 'qtv/tenants/acme/qlik-admin' },
      }),
      tenancy,
      'acme',
    );
    expect(result).toMatchObject({ ok: true, item: { rotation: { qlikMode: 'register' } } });
  });

  it.each([
    [
      'another tenant’s key secret',
      { signing: { backend: 'secrets-manager', secretId: 'qtv/tenants/globex' } },
      'signing.secretId',
    ],
    [
      'a key secret outside the prefix',
      { signing: { backend: 'secrets-manager', secretId: 'qtv/signing-key' } },
      'signing.secretId',
    ],
    [
      'a secret whose name only starts with its own',
      { signing: { backend: 'secrets-manager', secretId: 'qtv/tenants/acme2' } },
      'signing.secretId',
    ],
    ['another tenant’s KMS alias', { signing: { backend: 'kms', keyId: 'alias/qtv-tenant-globex' } }, 'signing.keyId'],
    [
      'a bare KMS key ID (ownership unprovable)',
      { signing: { backend: 'kms', keyId: '1234abcd-12ab-34cd-56ef-1234567890ab' } },
      'signing.keyId',
    ],
    [
      'a dev file key outside the dev server',
      { signing: { backend: 'file', privateKeyPath: '/tmp/k.pem' } },
      'signing.backend',
    ],
    [
      'the shared key without a key ID',
      {
        signing: { backend: 'shared' },
        qlik: { tenantHost: 'acme.eu.qlikcloud.com', issuer: 'https://qtv.example/acme' },
      },
      'qlik.keyId',
    ],
    [
      'a lifetime Qlik refuses',
      { qlik: { tenantHost: 'acme.eu.qlikcloud.com', issuer: 'i', keyId: 'k', token: { maxTtlSeconds: 3600 } } },
      'qlik.token.maxTtlSeconds',
    ],
    ['a preset without email_verified and no decision', { identity: { preset: 'entra-id' } }, 'identity.emailVerified'],
    [
      'a tenant host with a scheme',
      { qlik: { tenantHost: 'https://acme.eu.qlikcloud.com', issuer: 'i' } },
      'qlik.tenantHost',
    ],
    [
      'an OAuth client secret outside its own prefix',
      {
        oauth: {
          clientId: 'c',
          clientSecretId: 'qtv/tenants/globex/oauth',
          redirectUris: ['https://app.example/cb'],
          mode: 'json',
        },
      },
      'oauth.clientSecretId',
    ],
    [
      'an impersonation secret of another tenant',
      {
        oauth: {
          clientId: 'c',
          clientSecretId: 'qtv/tenants/acme/oauth',
          redirectUris: ['https://app.example/cb'],
          mode: 'json',
          impersonation: { enabled: true, clientId: 'i', clientSecretId: 'qtv/tenants/globex/imp' },
        },
      },
      'oauth.impersonation.clientSecretId',
    ],
    [
      'a public-material secret of another tenant',
      {
        signing: {
          backend: 'secrets-manager',
          secretId: 'qtv/tenants/acme',
          publicSecretId: 'qtv/tenants/globex/public',
        },
      },
      'signing.publicSecretId',
    ],
    [
      'a public-material secret of its own under another name than <prefix><id>/public',
      {
        signing: {
          backend: 'secrets-manager',
          secretId: 'qtv/tenants/acme',
          publicSecretId: 'qtv/tenants/acme/other',
        },
      },
      'signing.publicSecretId',
    ],
    [
      'a rotation admin client secret of another tenant',
      { rotation: { adminCredentialsSecretId: 'qtv/tenants/globex/qlik-admin' } },
      'rotation.adminCredentialsSecretId',
    ],
    [
      'OAuth cookie names of its own (the proxy reads the cookie before it knows the tenant)',
      {
        oauth: {
          clientId: 'c',
          clientSecretId: 'qtv/tenants/acme/oauth',
          redirectUris: ['https://app.example/cb'],
          mode: 'json',
          cookie: { stateName: 'acme-state', sessionName: 'acme-session' },
        },
      },
      'oauth.cookie',
    ],
    ['an unknown field', { extra: true }, '(top level)'],
    ['a status that is not one of active/suspended', { status: 'Active' }, 'status'],
  ] as const)('refuses an item with %s, naming %s', (_, overrides, path) => {
    // Act
    const result = validateTenantItem({ ...tenantItemInput('acme'), ...overrides }, tenancy, 'acme');
    // Assess
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems.some((p) => p.startsWith(`${path}:`))).toBe(true);
  });

  it('refuses an item stored under another tenant’s key', () => {
    const result = validateTenantItem(tenantItemInput('acme'), tenancy, 'globex');
    expect(result).toMatchObject({ ok: false, problems: [expect.stringMatching(/^id: /)] });
  });

  it('accepts dev-only file keys when the registry itself is the dev server’s file', () => {
    const fileTenancy = tenancyConfig({
      registry: { backend: 'file', path: '.local/tenants.json', cacheTtlSeconds: 5, maxCachedTenants: 10 },
    });
    const result = validateTenantItem(
      tenantItemInput('acme', { signing: { backend: 'file', privateKeyPath: '.local/acme.pem' } }),
      fileTenancy,
      'acme',
    );
    expect(result.ok).toBe(true);
  });
});

describe('Configuration: tenancy', () => {
  const base = { qlik: { issuer: 'https://qtv.example' }, signing: { backend: 'file', privateKeyPath: 'k.pem' } };

  it('is absent by default, so a single-tenant configuration parses exactly as before', () => {
    expect(parseConfig(base).tenancy).toBeUndefined();
  });

  it('fills the key prefixes and cache bounds when a tenant claim and registry are named', () => {
    const config = parseConfig({
      ...base,
      tenancy: { tenantClaim: 'org_id', registry: { backend: 'dynamodb', tableName: 't' } },
    });
    expect(config.tenancy).toEqual({
      tenantClaim: 'org_id',
      registry: { backend: 'dynamodb', tableName: 't', cacheTtlSeconds: 60, maxCachedTenants: 1000 },
      keys: { secretPrefix: 'qtv/tenants/', kmsAliasPrefix: 'alias/qtv-tenant-', cacheTtlSeconds: 300 },
    });
  });

  it.each([
    [{ tenantClaim: '', registry: { backend: 'dynamodb', tableName: 't' } }, 'tenancy.tenantClaim'],
    [{ tenantClaim: 'tid', registry: { backend: 'dynamodb' } }, 'tenancy.registry.tableName'],
    [
      { tenantClaim: 'tid', registry: { backend: 'dynamodb', tableName: 't' }, keys: { kmsAliasPrefix: 'qtv-' } },
      'tenancy.keys.kmsAliasPrefix',
    ],
    [
      {
        tenantClaim: 'tid',
        registry: { backend: 'dynamodb', tableName: 't' },
        keys: { kmsAliasPrefix: 'alias/aws/x' },
      },
      'tenancy.keys.kmsAliasPrefix',
    ],
  ])('refuses %j naming %s', (tenancy, path) => {
    expect(() => parseConfig({ ...base, tenancy })).toThrow(new RegExp(`${path.replace(/\./g, '\\.')}:`));
  });
});
