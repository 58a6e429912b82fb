import { describe, expect, it } from 'vitest';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { parseConfig } from '../../../functions/runtime/config.js';
import { MemorySecretStore } from '../../../functions/secrets/secret-source.js';
import { TenantOAuthRuntimes } from '../../../functions/tenancy/oauth.js';
import { tenantFromItem } from '../../../functions/tenancy/tenant.js';
import { capturingLogger } from '../../support/logs.js';
import { tenantItem } from '../../support/tenants.js';

const oauthOf = (id: string) => ({
  clientId: `${id}-web`,
  clientSecretId: `qtv/tenants/${id}/oauth-client`,
  redirectUris: [`https://qtv.example/${id}/oauth/callback`],
  mode: 'json' as const,
  impersonation: { enabled: true, clientId: `${id}-m2m`, clientSecretId: `qtv/tenants/${id}/impersonation` },
});

function setup() {
  const base = parseConfig({
    qlik: { issuer: 'https://qtv.example' },
    signing: { backend: 'file', privateKeyPath: 'k' },
  });
  const runtimes = new TenantOAuthRuntimes(
    base,
    { clock: new FixedClock(0), logger: capturingLogger().logger, secretStore: new MemorySecretStore() },
    10,
  );
  return { runtimes };
}

describe('Class: TenantOAuthRuntimes', () => {
  it('builds each tenant’s OAuth runtime from its own item: its tenant URL, its clients, its own token cache', () => {
    const { runtimes } = setup();
    const acme = runtimes.forTenant(tenantFromItem(tenantItem('acme', { oauth: oauthOf('acme') })))!;
    const globex = runtimes.forTenant(tenantFromItem(tenantItem('globex', { oauth: oauthOf('globex') })))!;
    expect(acme.tenantUrl).toBe('https://acme.eu.qlikcloud.com');
    expect(globex.tenantUrl).toBe('https://globex.eu.qlikcloud.com');
    expect(acme.config.impersonation.clientId).toBe('acme-m2m');
    expect(acme.accessTokens).not.toBe(globex.accessTokens);
  });

  it('reuses a tenant’s runtime (and its cache) until its oauth settings change', () => {
    const { runtimes } = setup();
    const first = runtimes.forTenant(tenantFromItem(tenantItem('acme', { oauth: oauthOf('acme') })));
    const again = runtimes.forTenant(tenantFromItem(tenantItem('acme', { oauth: oauthOf('acme'), version: 2 })));
    const changed = runtimes.forTenant(
      tenantFromItem(tenantItem('acme', { oauth: { ...oauthOf('acme'), clientId: 'acme-web-2' } })),
    );
    expect(again).toBe(first);
    expect(changed).not.toBe(first);
  });

  it('has no OAuth runtime for a tenant without an oauth section', () => {
    const { runtimes } = setup();
    expect(runtimes.forTenant(tenantFromItem(tenantItem('acme')))).toBeUndefined();
  });
});
