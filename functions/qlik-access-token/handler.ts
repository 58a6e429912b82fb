/**
 * `POST /qlik/access-token`: caller claims -> {@link vendAccessToken} -> JSON, or the bare token as
 * `text/plain` when the caller sends `Accept: text/plain` (what qlik-embed's `getAccessToken` returns).
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import * as z from 'zod';
import { NotConfiguredError } from '../errors.js';
import { headerValue, json, parseJsonBody, problemJsonErrors, text, wantsText } from '../http/lambda-http.js';
import { callerClaimsFrom } from '../identity/caller.js';
import { observe, type Runtime } from '../runtime/wiring.js';
import { vendAccessToken } from './core.js';

/** The caller chooses nothing: the identity comes from its verified token only. */
const accessTokenRequestSchema = z.strictObject({});

/** True when a `Cache-Control` request header carries the `no-cache` directive (RFC 9111 §5.2.1.4). */
export function requestsNoCache(cacheControl: string | undefined): boolean {
  return (cacheControl ?? '')
    .split(',')
    .some((directive) => directive.trim().split('=')[0]?.trim().toLowerCase() === 'no-cache');
}

/** Builds the Lambda handler over a runtime. */
export function createHandler(runtime: Runtime) {
  const { logger } = runtime;
  const warn = (message: string) => logger.warn(message);
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(observe(runtime))
    .use(problemJsonErrors(logger))
    .handler(async (event) => {
      const oauth = runtime.oauth;
      if (oauth === undefined || !oauth.config.impersonation.enabled)
        throw new NotConfiguredError(
          'Impersonation tokens are not enabled in this deployment (oauth.impersonation.enabled).',
        );
      parseJsonBody(event, accessTokenRequestSchema);
      const noCache = requestsNoCache(headerValue(event, 'cache-control'));
      const result = await vendAccessToken(
        callerClaimsFrom(event),
        { oauth, identity: runtime.identity, clock: runtime.clock, logger, warn },
        { noCache },
      );
      // Never the token: its lifetime is enough to trace issuance.
      logger.info('qlik access token vended', { expiresIn: result.expiresIn, noCache });
      return wantsText(event) ? text(200, result.accessToken) : json(200, result);
    });
}
