/**
 * The OAuth proxy's handlers: parse -> core -> respond, one factory per route. Wiring only; the
 * rules live in ./core.ts.
 */
import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { InvalidRequestError, NotConfiguredError, TokenVendingError } from '../errors.js';
import { headerValue, json, parseJsonBody, problemJsonErrors, text, wantsText } from '../http/lambda-http.js';
import { observe, type Runtime } from '../runtime/wiring.js';
import {
  callbackQuerySchema,
  clearCookie,
  codeExchangeSchema,
  completeLogin,
  exchangeCode,
  loginQuerySchema,
  type OAuthCoreDeps,
  refreshSchema,
  refreshTokens,
  revokeSchema,
  revokeTokens,
  startLogin,
  type TokenRouteResult,
} from './core.js';

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

const NO_STORE = { 'cache-control': 'no-store' };

/** The cores' ports, or a 404 when this deployment has no `oauth` section. */
async function coreDeps(runtime: Runtime): Promise<OAuthCoreDeps> {
  const oauth = runtime.oauth;
  if (oauth === undefined) throw new NotConfiguredError('The OAuth proxy is not configured in this deployment.');
  return {
    oauth: oauth.config,
    tenantUrl: oauth.tenantUrl,
    client: oauth.client,
    sealer: await oauth.sealer(),
    clock: runtime.clock,
    grace: oauth.grace,
    logger: runtime.logger,
  };
}

/** Cookies of the request: API Gateway payload 2.0 puts them in `event.cookies`; a plain header works too. */
export function requestCookie(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const pairs = [...(event.cookies ?? []), ...(headerValue(event, 'cookie') ?? '').split(';')];
  for (const pair of pairs) {
    const index = pair.indexOf('=');
    if (index > 0 && pair.slice(0, index).trim() === name) return pair.slice(index + 1).trim();
  }
  return undefined;
}

function parseQuery<S extends z.ZodType>(event: APIGatewayProxyEventV2, schema: S): z.output<S> {
  const result = schema.safeParse(event.queryStringParameters ?? {});
  if (!result.success)
    throw new InvalidRequestError(
      `Invalid query: ${result.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; ')}.`,
    );
  return result.data;
}

/**
 * Cookie mode: refuses a cross-origin browser request. The session cookie is SameSite=Strict already;
 * this also stops same-site, cross-origin pages (another subdomain) from using it.
 */
function checkOrigin(event: APIGatewayProxyEventV2, runtime: Runtime): void {
  const origin = headerValue(event, 'origin');
  if (origin === undefined || runtime.config.oauth?.mode !== 'cookie') return;
  const allowed = new Set([
    ...runtime.config.cors.allowedOrigins,
    ...(runtime.config.oauth.appReturnUrls ?? []).map((url) => new URL(url).origin),
  ]);
  if (!allowed.has(origin))
    throw new TokenVendingError('OAUTH_ORIGIN_NOT_ALLOWED', 403, 'This origin may not use the session cookie.');
}

/** Adds `Set-Cookie` values to an error response (e.g. clearing a dead session or a used state cookie). */
function cookiesOnError(
  cookies: (error: unknown) => string[],
): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> {
  return {
    onError: async (request) => {
      const extra = cookies(request.error);
      if (request.response && extra.length > 0)
        request.response = { ...request.response, cookies: [...(request.response.cookies ?? []), ...extra] };
    },
  };
}

function base(runtime: Runtime, clearOnError: (error: unknown) => string[] = () => []) {
  // middy runs onError in reverse order: problemJsonErrors builds the response, then the cookies are added.
  return middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(observe(runtime))
    .use(cookiesOnError(clearOnError))
    .use(problemJsonErrors(runtime.logger));
}

function tokenRouteResponse(
  event: APIGatewayProxyEventV2,
  result: TokenRouteResult,
): APIGatewayProxyStructuredResultV2 {
  if (result.body === undefined) return { statusCode: 204, headers: NO_STORE, cookies: result.cookies };
  const response = wantsText(event) ? text(200, result.body.accessToken) : json(200, result.body);
  return { ...response, cookies: result.cookies };
}

/** `GET /oauth/login?returnTo=<allowed app URL>[&prompt=login]`: 302 to Qlik's authorize endpoint. */
export function createLoginHandler(runtime: Runtime): Handler {
  return base(runtime).handler(async (event) => {
    const deps = await coreDeps(runtime);
    const { location, cookies } = startLogin(parseQuery(event, loginQuerySchema), deps);
    runtime.logger.info('oauth login started');
    return { statusCode: 302, headers: { location, ...NO_STORE }, cookies, body: '' };
  });
}

/** `GET /oauth/callback?code&state`: tokens as JSON, or a sealed session cookie and a 302 to the app. */
export function createCallbackHandler(runtime: Runtime): Handler {
  const stateName = () => runtime.config.oauth?.cookie.stateName;
  return base(runtime, () => (stateName() ? [clearCookie(stateName()!)] : [])).handler(async (event) => {
    const deps = await coreDeps(runtime);
    const result = await completeLogin(
      parseQuery(event, callbackQuerySchema),
      requestCookie(event, deps.oauth.cookie.stateName),
      deps,
    );
    runtime.logger.info('oauth login completed', { mode: deps.oauth.mode });
    if (result.kind === 'json') return { ...json(200, result.body), cookies: result.cookies };
    return { statusCode: 302, headers: { location: result.location, ...NO_STORE }, cookies: result.cookies, body: '' };
  });
}

/** `POST /oauth/code-exchange` `{code, redirect_uri, code_verifier}`: the proxy adds the client credentials. */
export function createCodeExchangeHandler(runtime: Runtime): Handler {
  return base(runtime).handler(async (event) => {
    const deps = await coreDeps(runtime);
    checkOrigin(event, runtime);
    const result = await exchangeCode(parseJsonBody(event, codeExchangeSchema), deps);
    runtime.logger.info('oauth code exchanged', { mode: deps.oauth.mode });
    return tokenRouteResponse(event, result);
  });
}

/** `POST /oauth/refresh`: `{refresh_token}` (JSON mode) or the session cookie (cookie mode). */
export function createRefreshHandler(runtime: Runtime): Handler {
  const sessionName = () => runtime.config.oauth?.cookie.sessionName;
  // Only a dead session clears the cookie; an upstream fault (502/504) leaves it for the next attempt.
  return base(runtime, (error) =>
    runtime.config.oauth?.mode === 'cookie' &&
    sessionName() &&
    error instanceof TokenVendingError &&
    error.code === 'OAUTH_SESSION_MISSING'
      ? [clearCookie(sessionName()!, 'Strict')]
      : [],
  ).handler(async (event) => {
    const deps = await coreDeps(runtime);
    checkOrigin(event, runtime);
    const result = await refreshTokens(
      parseJsonBody(event, refreshSchema),
      requestCookie(event, deps.oauth.cookie.sessionName),
      deps,
    );
    runtime.logger.info('oauth tokens refreshed', { mode: deps.oauth.mode });
    return tokenRouteResponse(event, result);
  });
}

/** `POST /oauth/revoke`: `{token, token_type_hint?}` (JSON mode) or the session cookie (cookie mode): 204. */
export function createRevokeHandler(runtime: Runtime): Handler {
  return base(runtime).handler(async (event) => {
    const deps = await coreDeps(runtime);
    checkOrigin(event, runtime);
    const result = await revokeTokens(
      parseJsonBody(event, revokeSchema),
      requestCookie(event, deps.oauth.cookie.sessionName),
      deps,
    );
    runtime.logger.info('oauth tokens revoked', { mode: deps.oauth.mode });
    return tokenRouteResponse(event, result);
  });
}
