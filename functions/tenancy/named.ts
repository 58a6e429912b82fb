/**
 * Public routes that name a tenant in their URL (`GET /qlik/idp-config?tenant=`, `GET /oauth/login?tenant=`):
 * there is no caller token to bind, so the ID names which tenant's *public* face is wanted, and the registry
 * decides whether that tenant exists and is active. Nothing private is chosen by this value: a login it
 * starts is sealed to that tenant (functions/tenancy/oauth-session.ts), public material is public.
 */
import { TENANT_ID_PATTERN } from '../runtime/config.js';
import { TenantConfigInvalidError, TenantForbiddenError, TenantNotFoundError } from './errors.js';
import type { TenantRegistry } from './registry.js';
import type { Tenant } from './tenant.js';

/**
 * The active tenant `tenantId` names.
 * @throws TenantNotFoundError (404 `TENANT_UNKNOWN`: not a tenant ID, or not registered),
 *   TenantForbiddenError (403 `TENANT_SUSPENDED`), TenantConfigInvalidError (503),
 *   TenantRegistryUnavailableError (503)
 */
export async function lookupNamedTenant(tenantId: string, registry: TenantRegistry): Promise<Tenant> {
  // A value no tenant ID can have is not looked up: no registry read, no cache entry, no echo of it.
  if (!TENANT_ID_PATTERN.test(tenantId)) throw new TenantNotFoundError();
  const found = await registry.lookup(tenantId);
  switch (found.state) {
    case 'active':
      return found.tenant;
    case 'suspended':
      throw new TenantForbiddenError('TENANT_SUSPENDED', `Tenant ${tenantId} is suspended.`);
    case 'unknown':
      throw new TenantNotFoundError(`Tenant ${tenantId} is not registered with this service.`);
    case 'invalid':
      throw new TenantConfigInvalidError(tenantId, found.problems);
  }
}
