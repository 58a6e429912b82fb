/** `GET /qlik/idp-config`: the public facts Qlik's JWT identity provider needs. Wiring only. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { json, problemJsonErrors } from '../http/lambda-http.js';
import { observe, type Runtime } from '../runtime/wiring.js';
import { describeIdpConfig, describePublicIdpConfig } from './core.js';

/** Builds the handler (the Lambda entry and the dev server both call this). */
export function createHandler(runtime: Runtime) {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(observe(runtime))
    .use(problemJsonErrors(runtime.logger))
    .handler(async () => {
      const issuer = runtime.config.qlik.issuer;
      // Deployed: public material only. The dev server (no public-material secret) derives it from the key.
      if (runtime.publicMaterial !== undefined)
        return json(200, await describePublicIdpConfig(runtime.publicMaterial, issuer));
      return json(200, await describeIdpConfig(runtime.signers, issuer, runtime.pendingSigners));
    });
}
