/**
 * CORS for the emulator's browser-facing routes (`/api/…`, `/login/…`, `/resources/…`), as Qlik documents it, and
 * marked where it is a guess.
 *
 * Documented:
 * - OAuth tokens used from a browser: "If you plan to use the access token from a browser
 *   application, add it to the Allowed Origins list" (qlik.dev, "Create a M2M impersonation OAuth2
 *   client", https://qlik.dev/authenticate/oauth/create/create-oauth-client-m2m-impersonation/; the
 *   SPA client guide says the same for SPA clients). So an origin on any OAuth client's Allowed
 *   origins may call the APIs cross-origin.
 * - Cookie sessions (JWT login, interactive login): the web integration's allowlist of origins
 *   (qlik.dev "Implement JWT Authorization", https://qlik.dev/authenticate/jwt/implement-jwt-authorization/:
 *   the browser sends `qlik-web-integration-id` with `credentials: 'include'`), which needs
 *   `Access-Control-Allow-Credentials: true` and the CSRF header exposed (`qlik-csrf-token` is read
 *   from the response of `GET /api/v1/csrf-token`, qlik.dev /apis/rest/csrf-token).
 * - Every `@qlik/api` request carries `qlik-api-version` (and `qlik-csrf-token`,
 *   `qlik-web-integration-id` with cookie auth): `@qlik/api` 2.19.0 `performActualHttpFetch` sets
 *   `headers["qlik-api-version"]` on each call (github.com/qlik-oss/qlik-api-ts,
 *   src/invoke-fetch/invoke-fetch-functions.ts; the npm package's chunks/invoke-fetch-functions-*.js),
 *   so a preflight must allow it or no Qlik client can call the tenant from another origin.
 *
 * Guessed (Qlik publishes no CORS reference; each is switchable where a client could tell):
 * - The exact preflight answer: methods and the allowed header list (we allow the headers Qlik's
 *   clients and docs send, not a reflection of whatever the browser asks for);
 * - `Access-Control-Allow-Credentials` only for web-integration origins (OAuth clients send
 *   bearer tokens; @qlik/api's oauth2 module uses `credentials: "omit"`);
 * - `Access-Control-Max-Age` 600 s.
 * - `legacyWebIntegrationOnly: true` reproduces the emulator's earlier answer (CORS from web
 *   integrations only), so a test can show what a browser client sees when the OAuth client's
 *   Allowed origins are ignored.
 */
import type { IncomingMessage } from 'node:http';

/** Request headers Qlik's browser clients send cross-origin (see the module comment). */
export const QLIK_CORS_ALLOWED_HEADERS = [
  'authorization',
  'content-type',
  'qlik-api-version',
  'qlik-csrf-token',
  'qlik-web-integration-id',
] as const;

/** Methods the preflight allows (guessed: the methods Qlik's REST APIs use). */
export const QLIK_CORS_ALLOWED_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** The origin lists CORS reads: web integrations (cookie flows) and OAuth clients' Allowed origins. */
export interface CorsSources {
  readonly webIntegrations: ReadonlyMap<string, { readonly validOrigins: readonly string[] }>;
  readonly clients: ReadonlyMap<string, { readonly allowedOrigins?: readonly string[] }>;
}

/** Switches for what Qlik does not document. */
export interface CorsOptions {
  /** Grant CORS from web integrations only, ignoring OAuth clients' Allowed origins (the old emulator). @default false */
  readonly legacyWebIntegrationOnly?: boolean;
  /** Leave `qlik-api-version` out of the allowed headers (the old emulator). @default false */
  readonly omitApiVersionHeader?: boolean;
}

/** How an origin is allowed, if at all. */
export type OriginGrant = 'web-integration' | 'oauth-client' | undefined;

/** Which list allows `origin`: a web integration (cookies) first, then an OAuth client's Allowed origins. */
export function originGrant(origin: string, sources: CorsSources, options: CorsOptions = {}): OriginGrant {
  for (const integration of sources.webIntegrations.values())
    if (integration.validOrigins.includes(origin)) return 'web-integration';
  if (options.legacyWebIntegrationOnly) return undefined;
  for (const client of sources.clients.values()) if (client.allowedOrigins?.includes(origin)) return 'oauth-client';
  return undefined;
}

/** CORS headers for a browser-facing response (empty when the request has no allowed Origin). */
export function qlikCorsHeaders(
  request: IncomingMessage,
  sources: CorsSources,
  options: CorsOptions = {},
): Record<string, string> {
  const origin = request.headers.origin;
  if (origin === undefined) return {};
  const grant = originGrant(origin, sources, options);
  if (grant === undefined) return {};
  return {
    'access-control-allow-origin': origin,
    ...(grant === 'web-integration' ? { 'access-control-allow-credentials': 'true' } : {}),
    'access-control-expose-headers': 'qlik-csrf-token',
    vary: 'Origin',
  };
}

/** The extra headers of a preflight (`OPTIONS`) answer for an allowed origin. */
export function qlikPreflightHeaders(options: CorsOptions = {}): Record<string, string> {
  const headers = QLIK_CORS_ALLOWED_HEADERS.filter((h) => !(options.omitApiVersionHeader && h === 'qlik-api-version'));
  return {
    'access-control-allow-methods': QLIK_CORS_ALLOWED_METHODS.join(', '),
    'access-control-allow-headers': headers.join(', '),
    'access-control-max-age': '600',
  };
}
