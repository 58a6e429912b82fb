/**
 * `POST /qlik/access-token`: caller claims -> {@link vendAccessToken} -> JSON, or the bare token as
 * `text/plain` when the caller sends `Accept: text/plain` (what qlik-embed's `getAccessToken` returns).
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { NotConfiguredError } from '../errors.js';
import { headerValue, json, parseJsonBody, problemJsonErrors, text, wantsText } from '../http/lambda-http.js';
import { callerClaimsFrom } from '../identity/caller.js';
import { missingFromBundle } from '../runtime/bundle-flags.js';
import { observe, type Runtime } from '../runtime/wiring.js';
import * as z from '../runtime/zod.js';
import { recordIssuance, SINGLE_TENANT_ID } from '../tenancy/audit.js';
import { resolveCallerTenant } from '../tenancy/resolve.js';
import { tenantChoiceSchema } from '../tenancy/runtime.js';
import { vendAccessToken } from './core.js';

/** The caller chooses nothing: the identity comes from its verified token only. */
const accessTokenRequestSchema = z.strictObject({});
/** Multi-tenant mode: the caller may pick one of the tenants its claim lists; nothing else. */
const tenantAccessTokenRequestSchema = z.strictObject({ tenant: z.optional(tenantChoiceSchema) });

/** True when a `Cache-Control` request header carries the `no-cache` directive (RFC 9111 §5.2.1.4). */
export function requestsNoCache(cacheControl: string | undefined): boolean {
  return (cacheControl ?? '')
    .split(',')
    .some((directive) => directive.trim().split('=')[0]?.trim().toLowerCase() === 'no-cache');
}

/** Builds the Lambda handler over a runtime. */
export function createHandler(runtime: Runtime) {
  // Built without multi-tenant mode (runtime/bundle-flags.ts) but configured with `tenancy` (QTV_CONFIG edited
  // after deployment): refuse at cold start rather than serve every tenant's callers in single-tenant mode.
  if (!(typeof QTV_BUNDLE_TENANCY === 'undefined' || QTV_BUNDLE_TENANCY) && runtime.config.tenancy !== undefined)
    throw missingFromBundle('multi-tenant mode');
  const { logger } = runtime;
  const warn = (message: string) => logger.warn(message);
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(observe(runtime))
    .use(problemJsonErrors(logger))
    .handler(async (event) => {
      const tenancy = runtime.tenancy;
      const caller = callerClaimsFrom(event);
      let oauth = runtime.oauth;
      let identity = runtime.identity;
      let tenantId = SINGLE_TENANT_ID;
      if (tenancy !== undefined) {
        // The tenant comes from the verified claims only (the body may pick one of the claim's tenants).
        const { tenant: requested } = parseJsonBody(event, tenantAccessTokenRequestSchema);
        const tenant = await resolveCallerTenant(caller, requested, tenancy);
        oauth = tenancy.oauth?.forTenant(tenant);
        identity = tenant.identity;
        tenantId = tenant.item.id;
      } else parseJsonBody(event, accessTokenRequestSchema);
      if (oauth === undefined || !oauth.config.impersonation.enabled)
        throw new NotConfiguredError(
          tenancy !== undefined
            ? 'Impersonation tokens are not enabled for your tenant (its registry item has no oauth.impersonation).'
            : 'Impersonation tokens are not enabled in this deployment (oauth.impersonation.enabled).',
        );
      const noCache = requestsNoCache(headerValue(event, 'cache-control'));
      let subject = '';
      const result = await vendAccessToken(
        caller,
        { oauth, identity, clock: runtime.clock, logger, warn },
        {
          noCache,
          onIssued: (issued) => {
            subject = issued.subject;
          },
        },
      );
      // One audit line per answered token (tenant, subject, caller, expiry); never the token.
      recordIssuance(
        logger,
        {
          kind: 'impersonation',
          tenant: tenantId,
          subject,
          callerIssuer: typeof caller.iss === 'string' ? caller.iss : undefined,
          callerSubject: typeof caller.sub === 'string' ? caller.sub : undefined,
          expiresAt: result.expiresAt,
        },
        runtime.clock.nowMs(),
      );
      return wantsText(event) ? text(200, result.accessToken) : json(200, result);
    });
}
