/**
 * Binds a verified caller to its tenant. The tenant comes only from the caller's verified token: the
 * configured claim (`tenancy.tenantClaim`) holds one tenant ID, or a list of them. A caller with several may
 * pick one with `"tenant"` in the request body; that choice can only narrow the claim, never widen it.
 * Nothing else in a request (query string, headers, other body fields) names a tenant: those are never read.
 *
 * Values are compared byte for byte: no trimming, no case folding, no splitting of a flattened list, so two
 * tenant IDs that differ in any character are two tenants (the identity rules of docs/identity-mapping.md).
 */
import type { CallerClaims } from '../identity/mapping.js';
import { TENANT_ID_PATTERN, type TenancyConfig } from '../runtime/config.js';
import { TenantConfigInvalidError, TenantForbiddenError } from './errors.js';
import type { TenantLookup, TenantRegistry } from './registry.js';
import type { Tenant } from './tenant.js';

/** Most tenant IDs one caller's claim may list (a larger list is refused, not truncated). */
export const MAX_TENANTS_PER_CALLER = 100;

/**
 * The tenant IDs the caller's verified claim grants, exactly as sent.
 * @throws TenantForbiddenError `TENANT_CLAIM_MISSING` when the claim is absent, empty or not text.
 */
export function callerTenantIds(claims: CallerClaims, claimName: string): readonly string[] {
  const value = Object.hasOwn(claims, claimName) ? claims[claimName] : undefined;
  const missing = () =>
    new TenantForbiddenError(
      'TENANT_CLAIM_MISSING',
      `Your token names no tenant: its "${claimName}" claim must be a tenant ID or a list of tenant IDs.`,
    );
  if (typeof value === 'string') {
    if (value === '') throw missing();
    return [value];
  }
  if (Array.isArray(value)) {
    if (value.length === 0 || value.length > MAX_TENANTS_PER_CALLER) throw missing();
    if (!value.every((entry): entry is string => typeof entry === 'string' && entry !== '')) throw missing();
    return value;
  }
  throw missing();
}

/**
 * The one tenant ID this request is for.
 * @param requested The body's `tenant`, when the caller sent one.
 * @throws TenantForbiddenError `TENANT_NOT_ALLOWED` (asked for a tenant its claim does not list) or
 *   `TENANT_AMBIGUOUS` (its claim lists several and it named none).
 */
export function selectTenantId(granted: readonly string[], requested: string | undefined, claimName: string): string {
  if (requested !== undefined) {
    if (!granted.includes(requested))
      throw new TenantForbiddenError(
        'TENANT_NOT_ALLOWED',
        `The tenant you asked for is not one of the tenants in your token's "${claimName}" claim.`,
      );
    return requested;
  }
  const only = granted[0];
  if (only === undefined || granted.length > 1)
    throw new TenantForbiddenError(
      'TENANT_AMBIGUOUS',
      `Your token's "${claimName}" claim lists ${granted.length} tenants: name one in the request body as {"tenant": "<id>"}.`,
    );
  return only;
}

/**
 * The tenant ID this request is for, checked for the shape a tenant ID has; no registry read.
 * @throws TenantForbiddenError (403 with the reason in `code`)
 */
export function callerTenantId(claims: CallerClaims, requested: string | undefined, tenancy: TenancyConfig): string {
  const claimName = tenancy.tenantClaim;
  const tenantId = selectTenantId(callerTenantIds(claims, claimName), requested, claimName);
  // A value no tenant ID can have is not looked up: no registry read, no cache entry, no echo of it.
  if (!TENANT_ID_PATTERN.test(tenantId))
    throw new TenantForbiddenError(
      'TENANT_UNKNOWN',
      'The tenant your token names is not registered with this service.',
    );
  return tenantId;
}

/**
 * The usable tenant of a registry answer.
 * @throws TenantForbiddenError (suspended, unknown), TenantConfigInvalidError (503)
 */
export function usableTenant(found: TenantLookup, tenantId: string): Tenant {
  switch (found.state) {
    case 'active':
      return found.tenant;
    case 'suspended':
      throw new TenantForbiddenError(
        'TENANT_SUSPENDED',
        `Tenant ${tenantId} is suspended: tokens are not issued for it.`,
      );
    case 'unknown':
      throw new TenantForbiddenError('TENANT_UNKNOWN', `Tenant ${tenantId} is not registered with this service.`);
    case 'invalid':
      throw new TenantConfigInvalidError(tenantId, found.problems);
  }
}

/**
 * Resolves the caller's tenant to a usable registry item.
 * @throws TenantForbiddenError (403 with the reason in `code`), TenantConfigInvalidError (503),
 *   TenantRegistryUnavailableError (503)
 */
export async function resolveCallerTenant(
  claims: CallerClaims,
  requested: string | undefined,
  deps: { readonly tenancy: TenancyConfig; readonly registry: TenantRegistry },
): Promise<Tenant> {
  const tenantId = callerTenantId(claims, requested, deps.tenancy);
  return usableTenant(await deps.registry.lookup(tenantId), tenantId);
}
