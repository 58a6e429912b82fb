/**
 * `GET /qlik/idp-config`: the public facts Qlik's JWT identity provider needs. Wiring only.
 * Multi-tenant mode: `?tenant=<id>` names the tenant whose IdP settings are wanted (public data: issuer, key ID,
 * certificate); without it, the deployment's own key (the shared key) is described.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { InvalidRequestError, NotConfiguredError } from '../errors.js';
import { json, problemJsonErrors } from '../http/lambda-http.js';
import { observe, type Runtime } from '../runtime/wiring.js';
import * as z from '../runtime/zod.js';
import { lookupNamedTenant } from '../tenancy/named.js';
import { describeIdpConfig, describePublicIdpConfig, type IdpConfig } from './core.js';

/** Which tenant (multi-tenant mode); other query parameters are not read (the route was public without any). */
const idpConfigQuerySchema = z.object({ tenant: z.optional(z.string().check(z.minLength(1), z.maxLength(256))) });

/** Builds the handler (the Lambda entry and the dev server both call this). */
export function createHandler(runtime: Runtime) {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(observe(runtime))
    .use(problemJsonErrors(runtime.logger))
    .handler(async (event) => {
      const query = idpConfigQuerySchema.safeParse(event.queryStringParameters ?? {});
      if (!query.success)
        throw new InvalidRequestError('tenant must be a tenant ID of 1-256 characters (?tenant=<id>).');
      if (query.data.tenant !== undefined) return json(200, await tenantIdpConfig(runtime, query.data.tenant));
      const issuer = runtime.config.qlik.issuer;
      // Deployed: public material only. The dev server (no public-material secret) derives it from the key.
      if (runtime.publicMaterial !== undefined)
        return json(200, await describePublicIdpConfig(runtime.publicMaterial, issuer));
      return json(200, await describeIdpConfig(runtime.signers, issuer, runtime.pendingSigners));
    });
}

/** The named tenant's IdP settings: 404 unknown, 403 suspended, 503 invalid item (problem+json with codes). */
async function tenantIdpConfig(runtime: Runtime, tenantId: string): Promise<IdpConfig> {
  const tenancy = runtime.tenancy;
  if (tenancy === undefined)
    throw new NotConfiguredError('This deployment serves one Qlik tenant: call /qlik/idp-config without ?tenant=.');
  const tenant = await lookupNamedTenant(tenantId, tenancy.registry);
  const issuer = tenant.item.qlik.issuer;
  if (tenancy.publicMaterial !== undefined)
    return describePublicIdpConfig(tenancy.publicMaterial.forTenant(tenant), issuer);
  // The dev server's file registry: its key files are local, so the material is derived from the key.
  return describeIdpConfig(tenancy.signers.forTenant(tenant), issuer);
}
