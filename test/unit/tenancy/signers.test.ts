import { generateKeyPairSync } from 'node:crypto';
import type { KMSClient } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { buildQlikClaims } from '../../../functions/qlik/claims.js';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { MemorySecretStore, type SecretStore } from '../../../functions/secrets/secret-source.js';
import { signCompactJws } from '../../../functions/signing/signer.js';
import { signingKeyFromSecret } from '../../../functions/signing/signing-key.js';
import { TenantSigners } from '../../../functions/tenancy/signers.js';
import { tenantFromItem } from '../../../functions/tenancy/tenant.js';
import { pkcs8Pem, verifyWithJsonwebtoken } from '../../support/keys.js';
import { capturingLogger } from '../../support/logs.js';
import { tenancyConfig, tenantItem } from '../../support/tenants.js';

const keys = {
  acme: generateKeyPairSync('rsa', { modulusLength: 2048 }),
  globex: generateKeyPairSync('rsa', { modulusLength: 2048 }),
  shared: generateKeyPairSync('rsa', { modulusLength: 2048 }),
};
const spki = (name: keyof typeof keys) => keys[name].publicKey.export({ format: 'pem', type: 'spki' }).toString();

function setup() {
  const secrets = new MemorySecretStore({
    'qtv/tenants/acme': JSON.stringify({
      privateKey: pkcs8Pem(keys.acme.privateKey),
      kid: 'acme-kid',
      issuer: 'https://wrong.example',
    }),
    'qtv/tenants/globex': pkcs8Pem(keys.globex.privateKey),
  });
  let fetches = 0;
  const counting: SecretStore = {
    description: secrets.description,
    fetch: (id) => {
      fetches++;
      return secrets.fetch(id);
    },
  };
  const shared = signingKeyFromSecret(pkcs8Pem(keys.shared.privateKey), { fallbackKid: 'shared-kid' });
  const signers = new TenantSigners({
    tenancy: tenancyConfig(),
    clock: new FixedClock(Date.UTC(2026, 10, 26)),
    logger: capturingLogger().logger,
    secretStore: () => counting,
    kms: () => {
      throw new Error('no KMS in this test') as never as KMSClient;
    },
    sharedSigners: { current: () => shared },
  });
  return { signers, fetches: () => fetches };
}

async function sign(signers: TenantSigners, tenant: ReturnType<typeof tenantFromItem>) {
  const key = await signers.current(tenant);
  const claims = buildQlikClaims(
    { sub: 'u1', name: 'U', email: 'u@example.com', emailVerified: true, groups: [] },
    { issuer: key.issuer!, issuedAtSeconds: Math.floor(Date.now() / 1000), ttlSeconds: 60, notBeforeSkewSeconds: 0 },
  );
  return { key, token: await signCompactJws(claims, key) };
}

describe('Class: TenantSigners', () => {
  it('signs each tenant’s token with its own key secret, verifiable only with that tenant’s public key', async () => {
    // Prepare
    const { signers } = setup();
    const acme = tenantFromItem(tenantItem('acme'));
    const globex = tenantFromItem(tenantItem('globex'));
    // Act
    const a = await sign(signers, acme);
    const g = await sign(signers, globex);
    // Assess
    expect(verifyWithJsonwebtoken(a.token, spki('acme')).payload.iss).toBe('https://qtv.example/acme');
    expect(verifyWithJsonwebtoken(g.token, spki('globex')).payload.iss).toBe('https://qtv.example/globex');
    expect(() => verifyWithJsonwebtoken(a.token, spki('globex'))).toThrow(/invalid signature/);
    expect(() => verifyWithJsonwebtoken(g.token, spki('acme'))).toThrow(/invalid signature/);
  });

  it('takes the issuer from the registry item, never from an issuer stored beside the key', async () => {
    const { signers } = setup();
    const key = await signers.current(tenantFromItem(tenantItem('acme')));
    expect(key.issuer).toBe('https://qtv.example/acme');
    // The secret's own kid stays: it is what the tenant's Qlik IdP was registered with.
    expect(key.kid).toBe('acme-kid');
  });

  it('signs tenants on the shared key under each tenant’s own issuer and key ID', async () => {
    const { signers } = setup();
    const one = tenantFromItem(tenantItem('acme', { signing: { backend: 'shared' } }));
    const two = tenantFromItem(tenantItem('globex', { signing: { backend: 'shared' } }));
    const a = await sign(signers, one);
    const b = await sign(signers, two);
    expect(verifyWithJsonwebtoken(a.token, spki('shared')).header.kid).toBe('acme-key-1');
    expect(verifyWithJsonwebtoken(b.token, spki('shared')).header.kid).toBe('globex-key-1');
    expect(verifyWithJsonwebtoken(b.token, spki('shared')).payload.iss).toBe('https://qtv.example/globex');
  });

  it('holds a tenant’s key ready once fetched, with the tenant’s issuer, and nothing before', async () => {
    const { signers } = setup();
    const acme = tenantFromItem(tenantItem('acme'));
    const bound = signers.forTenant(acme);
    expect(bound.ready?.()).toBeUndefined();
    const fetched = await bound.current();
    expect(bound.ready?.()).toBe(fetched);
    expect(fetched.issuer).toBe(tenantItem('acme').qlik.issuer);
  });

  it('builds one cached source per tenant: the key secret is read once for many tokens', async () => {
    const { signers, fetches } = setup();
    const acme = tenantFromItem(tenantItem('acme'));
    for (let i = 0; i < 25; i++) await signers.current(acme);
    expect(fetches()).toBe(1);
  });

  it('builds a new source when the item’s signing reference changes', async () => {
    const { signers } = setup();
    const before = await signers.current(tenantFromItem(tenantItem('acme')));
    const after = await signers.current(tenantFromItem(tenantItem('acme', { signing: { backend: 'shared' } })));
    expect(before.kid).toBe('acme-kid');
    expect(after.kid).toBe('acme-key-1');
  });
});
