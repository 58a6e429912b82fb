/** `GET /qlik/idp-config`: the public facts Qlik's JWT identity provider needs. Wiring only. */
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { json, problemJsonErrors } from '../shared/http.js';
import type { Runtime } from '../shared/runtime.js';
import { describeIdpConfig } from './core.js';

/** Builds the handler (the Lambda entry and the dev server both call this). */
export function createHandler(runtime: Runtime) {
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(injectLambdaContext(runtime.logger, { resetKeys: true }))
    .use(problemJsonErrors(runtime.logger))
    .handler(async () => {
      return json(200, await describeIdpConfig(runtime.signers, runtime.config.qlik.issuer, runtime.pendingSigners));
    });
}
