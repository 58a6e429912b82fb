/**
 * `POST /qlik/jwt`: parse -> (multi-tenant: bind the caller to its tenant) -> {@link vendQlikJwt} -> respond,
 * with one audit line per token. Wiring only.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { json, parseJsonBody, problemJsonErrors } from '../http/lambda-http.js';
import { callerClaimsFrom } from '../identity/caller.js';
import type { CallerClaims } from '../identity/mapping.js';
import type { QlikJwtPayload } from '../qlik/claims.js';
import { missingFromBundle } from '../runtime/bundle-flags.js';
import { observe, type Runtime } from '../runtime/wiring.js';
import * as z from '../runtime/zod.js';
import { recordIssuance, SINGLE_TENANT_ID } from '../tenancy/audit.js';
import {
  type TenantRequestContext,
  tenantChoiceSchema,
  tenantRequestContext,
  tenantRequestContextNow,
} from '../tenancy/runtime.js';
import { type VendRequest, vendQlikJwt, vendRequestSchema } from './core.js';

/** Multi-tenant mode: the caller may also pick one of its tenants (`tenant`); nothing else is added. */
const tenantVendRequestSchema = /* @__PURE__ */ z.extend(vendRequestSchema, { tenant: z.optional(tenantChoiceSchema) });

/** What a token is signed with: the caller's tenant's ports (multi-tenant mode) or the deployment's. */
type SigningContext = Pick<TenantRequestContext, 'signers' | 'identity' | 'qlik'> & {
  readonly tenant: TenantRequestContext['tenant'] | undefined;
};

/**
 * The request, the caller and what to sign with. No promise on the per-token path: `context` is one only
 * when the caller's tenant must first be read from the registry (docs/performance.md).
 */
function bind(
  event: APIGatewayProxyEventV2,
  runtime: Runtime,
): { request: VendRequest; caller: CallerClaims; context: SigningContext | Promise<SigningContext> } {
  // Only bundles built for multi-tenant mode hold this branch (runtime/bundle-flags.ts, QTV_BUNDLE_TENANCY).
  if (typeof QTV_BUNDLE_TENANCY === 'undefined' || QTV_BUNDLE_TENANCY) {
    const tenancy = runtime.tenancy;
    if (tenancy !== undefined) {
      const { tenant: requested, ...request } = parseJsonBody(event, tenantVendRequestSchema);
      const caller = callerClaimsFrom(event);
      // The tenant comes from the verified claims only; query string and headers are never read for it.
      const context =
        tenantRequestContextNow(caller, requested, tenancy) ?? tenantRequestContext(caller, requested, tenancy);
      return { request, caller, context };
    }
  }
  // Single-tenant mode keeps its strict body: a `tenant` field there is an unknown field (400).
  const request = parseJsonBody(event, vendRequestSchema);
  const caller = callerClaimsFrom(event);
  const context = {
    tenant: undefined,
    signers: runtime.signers,
    identity: runtime.identity,
    qlik: runtime.config.qlik,
  };
  return { request, caller, context };
}

/** Builds the Lambda handler over a runtime (the Lambda entry and the dev server both call this). */
export function createHandler(runtime: Runtime) {
  // Built without multi-tenant mode (runtime/bundle-flags.ts) but configured with `tenancy` (QTV_CONFIG edited
  // after deployment): refuse at cold start rather than serve every tenant's callers in single-tenant mode.
  if (!(typeof QTV_BUNDLE_TENANCY === 'undefined' || QTV_BUNDLE_TENANCY) && runtime.config.tenancy !== undefined)
    throw missingFromBundle('multi-tenant mode');
  const { logger } = runtime;
  const warn = (message: string) => logger.warn(message);
  // middy's early timeout (on by default) arms a timer and races two promises on every request, a
  // measurable share of a token's cost (docs/performance.md). Off here: a request that runs out of time is
  // ended by Lambda as a timeout, which the function's error alarm counts (a 500 from middy would not).
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>({ timeoutEarlyInMillis: 0 })
    .use(observe(runtime))
    .use(problemJsonErrors(logger))
    .handler(async (event) => {
      const bound = bind(event, runtime);
      const { request, caller } = bound;
      const context = bound.context instanceof Promise ? await bound.context : bound.context;
      let issued: QlikJwtPayload | undefined;
      const result = await vendQlikJwt(caller, request, {
        signers: context.signers,
        clock: runtime.clock,
        identity: context.identity,
        qlik: context.qlik,
        warn,
        onIssued: (claims) => {
          issued = claims;
        },
      });
      // One audit line per token (tenant, subject, jti, caller, expiry); never the token itself.
      recordIssuance(
        logger,
        {
          kind: 'qlik-jwt',
          tenant: context.tenant?.item.id ?? SINGLE_TENANT_ID,
          subject: issued?.sub ?? '',
          ...(issued !== undefined ? { jti: issued.jti } : {}),
          callerIssuer: typeof caller.iss === 'string' ? caller.iss : undefined,
          callerSubject: typeof caller.sub === 'string' ? caller.sub : undefined,
          expiresAt: result.expiresAt,
          keyId: result.keyId,
        },
        runtime.clock.nowMs(),
      );
      return json(200, result);
    });
}
