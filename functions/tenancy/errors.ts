/**
 * Typed errors of the multi-tenant mode. A caller bound to no usable tenant gets 403 with a reason
 * (its own mistake or its operator's decision); a registry fault or a bad registry item is 503 for that
 * tenant only. Messages name the claim and the tenant ID the caller already holds, never another tenant.
 */
import { type ErrorCode, TokenVendingError } from '../errors.js';

/** Why a caller may not have a token for the tenant it asked for (403). */
export type TenantRefusalReason = Extract<
  ErrorCode,
  'TENANT_CLAIM_MISSING' | 'TENANT_NOT_ALLOWED' | 'TENANT_AMBIGUOUS' | 'TENANT_UNKNOWN' | 'TENANT_SUSPENDED'
>;

/** The caller is authenticated but not bound to a usable tenant (403, `code` says why). */
export class TenantForbiddenError extends TokenVendingError {
  constructor(code: TenantRefusalReason, message: string) {
    super(code, 403, message);
  }
}

/** The tenant's registry item is invalid: an operator fault for this tenant only (503). */
export class TenantConfigInvalidError extends TokenVendingError {
  /** Every problem of the item, for the log line (never sent to the caller). */
  readonly problems: readonly string[];
  constructor(tenantId: string, problems: readonly string[]) {
    super('TENANT_CONFIG_INVALID', 503, `The configuration of tenant ${tenantId} is invalid.`, {
      retryAfterSeconds: 30,
    });
    this.problems = problems;
  }
}

/** The tenant registry could not be read and no earlier copy is cached (503: retry later). */
export class TenantRegistryUnavailableError extends TokenVendingError {
  constructor(message: string, options?: ErrorOptions) {
    super('TENANT_REGISTRY_UNAVAILABLE', 503, message, { retryAfterSeconds: 5, ...options });
  }
}

/**
 * A public route (login, `GET /qlik/idp-config`) names a tenant the registry does not hold (404). Public
 * routes have no caller token, so "not registered" is an answer about the URL, not a refusal of a caller.
 */
export class TenantNotFoundError extends TokenVendingError {
  constructor(message = 'No tenant of this service has that ID.') {
    super('TENANT_UNKNOWN', 404, message);
  }
}
