/**
 * The OAuth proxy's handlers: parse -> core -> respond, one factory per route. Wiring only; the
 * rules live in ./core.ts.
 */
import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { InvalidRequestError, NotConfiguredError, TokenVendingError } from '../errors.js';
import { headerValue, json, parseJsonBody, problemJsonErrors, text, wantsText } from '../http/lambda-http.js';
import { observe, type Runtime } from '../runtime/wiring.js';
import * as z from '../runtime/zod.js';
import { TenantForbiddenError } from '../tenancy/errors.js';
import { lookupNamedTenant } from '../tenancy/named.js';
import { DEFAULT_OAUTH_COOKIES, type Tenant } from '../tenancy/tenant.js';
import {
  callbackQuerySchema,
  clearCookie,
  codeExchangeSchema,
  completeLogin,
  exchangeCode,
  loginQuerySchema,
  type OAuthCoreDeps,
  OAuthSessionMissingError,
  OAuthStateError,
  refreshSchema,
  refreshTokens,
  revokeSchema,
  revokeTokens,
  splitTenantBound,
  startLogin,
  type TokenRouteResult,
} from './core.js';

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

const NO_STORE = { 'cache-control': 'no-store' };

/** The cores' ports, or a 404 when this deployment has no `oauth` section (single-tenant mode). */
async function coreDeps(runtime: Runtime): Promise<OAuthCoreDeps> {
  const oauth = runtime.oauth;
  if (oauth === undefined) throw new NotConfiguredError('The OAuth proxy is not configured in this deployment.');
  return depsOf(oauth, runtime);
}

/** The cores' ports from one OAuth runtime: the deployment's, or a tenant's (then `tenantId` is sealed in). */
async function depsOf(
  oauth: NonNullable<Runtime['oauth']>,
  runtime: Runtime,
  tenantId?: string,
): Promise<OAuthCoreDeps> {
  return {
    oauth: oauth.config,
    tenantUrl: oauth.tenantUrl,
    client: oauth.client,
    sealer: await oauth.sealer(),
    clock: runtime.clock,
    grace: oauth.grace,
    logger: runtime.logger,
    ...(tenantId !== undefined ? { tenantId } : {}),
  };
}

/**
 * Multi-tenant mode: the ports of the tenant `tenantId` names (its Qlik host, its OAuth client, its sealing
 * keys, the tenant in every sealed value and refresh-grace key). Which tenant that is comes from the route
 * (see {@link tenantOf}); here the registry says whether it exists, is active and has an OAuth client.
 */
async function tenantCoreDeps(runtime: Runtime, tenantId: string): Promise<{ deps: OAuthCoreDeps; tenant: Tenant }> {
  const tenancy = runtime.tenancy!;
  const tenant = await lookupNamedTenant(tenantId, tenancy.registry);
  const oauth = tenancy.oauth?.forTenant(tenant);
  if (oauth === undefined)
    throw new NotConfiguredError(`Tenant ${tenant.item.id} has no OAuth client (its registry item has no oauth).`);
  return { tenant, deps: await depsOf(oauth, runtime, tenant.item.id) };
}

/** `?tenant=<id>`: names a tenant on routes that have nothing sealed yet (login, code exchange). */
const tenantQuerySchema = z.object({ tenant: z.optional(z.string().check(z.minLength(1), z.maxLength(256))) });

/**
 * Which tenant a request is for, multi-tenant mode. A sealed value the request carries (the state cookie, the
 * session cookie, a bound refresh token) decides; `?tenant=` may only repeat it (anything else: 403
 * TENANT_NOT_ALLOWED, a session of one tenant sent to another). Only where nothing is sealed yet may
 * `?tenant=` name the tenant alone: the login (a top-level navigation: it only starts a login sealed to that
 * tenant) and the code exchange (the code is bound by Qlik to the tenant's client, RFC 6749 §4.1.3, and the
 * Origin must be one of that tenant's).
 */
function tenantOf(event: APIGatewayProxyEventV2, bound: readonly (string | undefined)[], route: string): string {
  const query = tenantQuerySchema.safeParse(event.queryStringParameters ?? {});
  if (!query.success) throw new InvalidRequestError('tenant must be a tenant ID (?tenant=<id>).');
  const named = query.data.tenant;
  const sealed = bound.map((value) => splitTenantBound(value)?.tenantId).find((id) => id !== undefined);
  if (sealed !== undefined) {
    if (named !== undefined && named !== sealed)
      throw new TenantForbiddenError(
        'TENANT_NOT_ALLOWED',
        'This session belongs to another tenant than ?tenant= names.',
      );
    return sealed;
  }
  if (named === undefined)
    throw new InvalidRequestError(`This service serves several Qlik tenants: name yours with ${route}?tenant=<id>.`);
  return named;
}

/** Multi-tenant: the request names no tenant at all (no bound session or token, no `?tenant=`). */
function namesNoTenant(event: APIGatewayProxyEventV2, bound: readonly (string | undefined)[]): boolean {
  return (
    event.queryStringParameters?.tenant === undefined && bound.every((value) => splitTenantBound(value) === undefined)
  );
}

/** The cookie names: the deployment's, or in multi-tenant mode the fixed ones every tenant uses. */
function cookieNames(runtime: Runtime): { stateName: string; sessionName: string } | undefined {
  if (runtime.tenancy !== undefined) return DEFAULT_OAUTH_COOKIES;
  return runtime.config.oauth?.cookie;
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

function parseQuery<S extends z.ZodMiniType>(event: APIGatewayProxyEventV2, schema: S): z.output<S> {
  const result = schema.safeParse(event.queryStringParameters ?? {});
  if (!result.success)
    throw new InvalidRequestError(
      `Invalid query: ${result.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; ')}.`,
    );
  return result.data;
}

/**
 * Cookie mode: refuses a cross-origin browser request. The session cookie is SameSite=Strict already;
 * this also stops same-site, cross-origin pages (another subdomain) from using it. Multi-tenant mode: the
 * tenant's own origins (`allowedOrigins`, its app return URLs), in every mode; `required` refuses a request
 * without an Origin header (the code exchange: browsers always send one on a POST).
 */
function checkOrigin(event: APIGatewayProxyEventV2, runtime: Runtime, tenant?: Tenant, required = false): void {
  const origin = headerValue(event, 'origin');
  if (tenant !== undefined) {
    const allowed = new Set([
      ...tenant.item.allowedOrigins.map((url) => new URL(url).origin),
      ...(tenant.item.oauth?.appReturnUrls ?? []).map((url) => new URL(url).origin),
    ]);
    if (origin === undefined ? required : !allowed.has(origin))
      throw new TokenVendingError('OAUTH_ORIGIN_NOT_ALLOWED', 403, 'This origin is not one of the tenant’s origins.');
    return;
  }
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

/** Query of `GET /oauth/login` in multi-tenant mode: the single-tenant query plus the tenant. */
const tenantLoginQuerySchema = z.extend(loginQuerySchema, {
  tenant: z.string().check(z.minLength(1), z.maxLength(256)),
});

/**
 * `GET /oauth/login?returnTo=<allowed app URL>[&prompt=login]`: 302 to Qlik's authorize endpoint.
 * Multi-tenant: `&tenant=<id>` (required): that tenant's Qlik and client; the state is sealed to it.
 */
export function createLoginHandler(runtime: Runtime): Handler {
  return base(runtime).handler(async (event) => {
    if (runtime.tenancy !== undefined) {
      const { tenant: tenantId, ...query } = parseQuery(event, tenantLoginQuerySchema);
      const { deps } = await tenantCoreDeps(runtime, tenantId);
      const { location, cookies } = startLogin(query, deps);
      runtime.logger.info('oauth login started', { tenant: deps.tenantId });
      return { statusCode: 302, headers: { location, ...NO_STORE }, cookies, body: '' };
    }
    const deps = await coreDeps(runtime);
    const { location, cookies } = startLogin(parseQuery(event, loginQuerySchema), deps);
    runtime.logger.info('oauth login started');
    return { statusCode: 302, headers: { location, ...NO_STORE }, cookies, body: '' };
  });
}

/**
 * `GET /oauth/callback?code&state`: tokens as JSON, or a sealed session cookie and a 302 to the app.
 * Multi-tenant: the tenant is the one the state cookie was sealed to (one redirect URI serves all tenants).
 */
export function createCallbackHandler(runtime: Runtime): Handler {
  const stateName = () => cookieNames(runtime)?.stateName;
  return base(runtime, () => (stateName() ? [clearCookie(stateName()!)] : [])).handler(async (event) => {
    const query = parseQuery(event, callbackQuerySchema);
    let deps: OAuthCoreDeps;
    if (runtime.tenancy !== undefined) {
      const stateCookie = requestCookie(event, DEFAULT_OAUTH_COOKIES.stateName);
      if (splitTenantBound(stateCookie) === undefined)
        throw new OAuthStateError(
          'The login state is missing or invalid (cookie absent, tampered, or from another browser); start again at /oauth/login.',
        );
      ({ deps } = await tenantCoreDeps(runtime, tenantOf(event, [stateCookie], '/oauth/login')));
    } else deps = await coreDeps(runtime);
    const result = await completeLogin(query, requestCookie(event, deps.oauth.cookie.stateName), deps);
    runtime.logger.info('oauth login completed', { mode: deps.oauth.mode, ...tenantField(deps) });
    if (result.kind === 'json') return { ...json(200, result.body), cookies: result.cookies };
    return { statusCode: 302, headers: { location: result.location, ...NO_STORE }, cookies: result.cookies, body: '' };
  });
}

const SESSION = DEFAULT_OAUTH_COOKIES.sessionName;

const tenantField = (deps: OAuthCoreDeps) => (deps.tenantId !== undefined ? { tenant: deps.tenantId } : {});

/**
 * `POST /oauth/code-exchange` `{code, redirect_uri, code_verifier}`: the proxy adds the client credentials.
 * Multi-tenant: `?tenant=<id>`, from one of that tenant's origins.
 */
export function createCodeExchangeHandler(runtime: Runtime): Handler {
  return base(runtime).handler(async (event) => {
    let deps: OAuthCoreDeps;
    if (runtime.tenancy !== undefined) {
      const resolved = await tenantCoreDeps(runtime, tenantOf(event, [], '/oauth/code-exchange'));
      checkOrigin(event, runtime, resolved.tenant, true);
      deps = resolved.deps;
    } else {
      deps = await coreDeps(runtime);
      checkOrigin(event, runtime);
    }
    const result = await exchangeCode(parseJsonBody(event, codeExchangeSchema), deps);
    runtime.logger.info('oauth code exchanged', { mode: deps.oauth.mode, ...tenantField(deps) });
    return tokenRouteResponse(event, result);
  });
}

/**
 * Multi-tenant refresh and revoke: the tenant of the session cookie or of the bound token in the body
 * ({@link tenantOf}); `?tenant=` alone only for a JSON-mode revoke of an access token (harmless elsewhere).
 */
async function sessionDeps(
  runtime: Runtime,
  event: APIGatewayProxyEventV2,
  bodyToken: string | undefined,
  route: string,
): Promise<OAuthCoreDeps> {
  if (runtime.tenancy === undefined) {
    const deps = await coreDeps(runtime);
    checkOrigin(event, runtime);
    return deps;
  }
  const session = requestCookie(event, DEFAULT_OAUTH_COOKIES.sessionName);
  const { deps, tenant } = await tenantCoreDeps(runtime, tenantOf(event, [session, bodyToken], route));
  checkOrigin(event, runtime, tenant);
  return deps;
}

/** The body's token field, read leniently only to find its tenant prefix (the core validates the body). */
function bodyField(event: APIGatewayProxyEventV2, field: string): string | undefined {
  try {
    const raw = event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? '');
    const value = (JSON.parse(raw) as Record<string, unknown> | null)?.[field];
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** `POST /oauth/refresh`: `{refresh_token}` (JSON mode) or the session cookie (cookie mode). */
export function createRefreshHandler(runtime: Runtime): Handler {
  const sessionName = () => cookieNames(runtime)?.sessionName;
  // Only a dead session clears the cookie; an upstream fault (502/504) leaves it for the next attempt.
  return base(runtime, (error) =>
    (runtime.tenancy !== undefined || runtime.config.oauth?.mode === 'cookie') &&
    sessionName() &&
    error instanceof TokenVendingError &&
    error.code === 'OAUTH_SESSION_MISSING'
      ? [clearCookie(sessionName()!, 'Strict')]
      : [],
  ).handler(async (event) => {
    const refreshToken = bodyField(event, 'refresh_token');
    // No session of any tenant: the same 401 as a single-tenant request without a session (the app signs in).
    if (runtime.tenancy !== undefined && namesNoTenant(event, [requestCookie(event, SESSION), refreshToken]))
      throw new OAuthSessionMissingError('No valid session: sign in again at /oauth/login?tenant=<id>.');
    const deps = await sessionDeps(runtime, event, refreshToken, '/oauth/refresh');
    const result = await refreshTokens(
      parseJsonBody(event, refreshSchema),
      requestCookie(event, deps.oauth.cookie.sessionName),
      deps,
    );
    runtime.logger.info('oauth tokens refreshed', { mode: deps.oauth.mode, ...tenantField(deps) });
    return tokenRouteResponse(event, result);
  });
}

/** `POST /oauth/revoke`: `{token, token_type_hint?}` (JSON mode) or the session cookie (cookie mode): 204. */
export function createRevokeHandler(runtime: Runtime): Handler {
  return base(runtime).handler(async (event) => {
    const token = bodyField(event, 'token');
    // Logout without a session of any tenant: nothing to revoke; clearing the cookie keeps logout idempotent.
    if (runtime.tenancy !== undefined && namesNoTenant(event, [requestCookie(event, SESSION), token]))
      return { statusCode: 204, headers: NO_STORE, cookies: [clearCookie(SESSION, 'Strict')] };
    const deps = await sessionDeps(runtime, event, token, '/oauth/revoke');
    const result = await revokeTokens(
      parseJsonBody(event, revokeSchema),
      requestCookie(event, deps.oauth.cookie.sessionName),
      deps,
    );
    runtime.logger.info('oauth tokens revoked', { mode: deps.oauth.mode, ...tenantField(deps) });
    return tokenRouteResponse(event, result);
  });
}
