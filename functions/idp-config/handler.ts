/** `GET /qlik/idp-config`: the public facts Qlik's JWT identity provider needs. Wiring only. */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { json, problemJsonErrors } from '../http/lambda-http.js';
import { observe, type Runtime } from '../runtime/wiring.js';
import { describeIdpConfig } from './core.js';

/** Builds the handler (the Lambda entry and the dev server both call this). */
export function createHandler(runtime: Runtime) {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(observe(runtime))
    .use(problemJsonErrors(runtime.logger))
    .handler(async () => {
      return json(200, await describeIdpConfig(runtime.signers, runtime.config.qlik.issuer, runtime.pendingSigners));
    });
}
