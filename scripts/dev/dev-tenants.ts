/**
 * The dev server's embedded tenant registry (`npm start -- --tenants`): a JSON file under `.local/` with a
 * few demo tenants, each with its own dev key and certificate, so multi-tenant mode runs with no AWS account.
 * The file is the registry's "file" backend (functions/tenancy/store.ts): edit it while the server runs and
 * the change is served within 5 s.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigInput } from '../../functions/runtime/config.js';
import type { TenantItemInput } from '../../functions/tenancy/tenant.js';
import { ensureDevSigningKey } from './dev-keys.js';

/** The claim of dev caller tokens that names their tenant(s). */
export const DEV_TENANT_CLAIM = 'tenant';
/** The demo tenants written on first use. */
export const DEV_TENANTS = ['acme', 'globex'] as const;

/** Writes `<dir>/tenants.json` and one key per demo tenant unless they exist; returns the registry path. */
export async function ensureDevTenants(dir: string): Promise<string> {
  const path = join(dir, 'tenants.json');
  const tenants: TenantItemInput[] = [];
  for (const id of DEV_TENANTS) {
    const keys = await ensureDevSigningKey(join(dir, 'tenants', id));
    tenants.push({
      id,
      status: 'active',
      version: 1,
      description: `dev tenant ${id}`,
      qlik: {
        tenantHost: `${id}.example.qlikcloud.com`,
        issuer: `https://qlik-token-vending.local/${id}`,
        keyId: `qtv-dev-${id}`,
      },
      identity: { preset: 'generic' },
      signing: { backend: 'file', privateKeyPath: keys.privateKeyPath, certificatePath: keys.certificatePath },
    });
  }
  if (!existsSync(path)) writeFileSync(path, `${JSON.stringify({ tenants }, null, 2)}\n`);
  return path;
}

/** `base` in multi-tenant mode over the registry file at `path`. */
export function withDevTenants(base: ConfigInput, path: string): ConfigInput {
  return { ...base, tenancy: { tenantClaim: DEV_TENANT_CLAIM, registry: { backend: 'file', path } } };
}
