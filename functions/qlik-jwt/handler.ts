/**
 * `POST /qlik/jwt`: parse -> {@link vendQlikJwt} -> respond. Wiring only.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { json, parseJsonBody, problemJsonErrors } from '../http/lambda-http.js';
import { callerClaimsFrom } from '../identity/caller.js';
import { observe, type Runtime } from '../runtime/wiring.js';
import { vendQlikJwt, vendRequestSchema } from './core.js';

/** Builds the Lambda handler over a runtime (the Lambda entry and the dev server both call this). */
export function createHandler(runtime: Runtime) {
  const { logger } = runtime;
  const warn = (message: string) => logger.warn(message);
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(observe(runtime))
    .use(problemJsonErrors(logger))
    .handler(async (event) => {
      const request = parseJsonBody(event, vendRequestSchema);
      const result = await vendQlikJwt(callerClaimsFrom(event), request, {
        signers: runtime.signers,
        clock: runtime.clock,
        identity: runtime.identity,
        qlik: runtime.config.qlik,
        warn,
      });
      // The token itself is never logged; the key ID and lifetime are enough to trace issuance.
      logger.info('qlik jwt vended', { keyId: result.keyId, expiresIn: result.expiresIn });
      return json(200, result);
    });
}
