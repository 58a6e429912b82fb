/**
 * JWT login (`POST /login/jwt-session`), sessions and CSRF (`GET /api/v1/csrf-token`), web
 * integrations and CORS. Token rules come from functions/qlik/claims.ts (checkQlikToken):
 * the emulator never re-implements them. Sources (qlik-auth.md):
 * - https://qlik.dev/authenticate/jwt/implement-jwt-authorization/ (browser posts the JWT with
 *   `Authorization: Bearer`, header `qlik-web-integration-id`, credentials included; then
 *   `GET /api/v1/csrf-token`; jti and nbf required since June 2022; exp - nbf ≤ 3600 s);
 * - https://qlik.dev/authenticate/jwt/create-signed-tokens-for-jwt-authorization/ (RS256, kid);
 * - https://qlik.dev/apis/rest/login/ (rejection shape `{"errors":[{title, detail, code, status}]}`; the
 *   only failure status it documents for `/login/jwt-session` is 401, so every refusal here is a 401; on
 *   success the cookies `eas.sid`, `eas.sid.sig`, `_csrfToken`, `_csrfToken.sig`; rate limit tier 100/min,
 *   whose 429 answer is guessed).
 *
 * The `.sig` cookies are keygrip signatures (HMAC-SHA1 of `name=value`, base64url), what a koa app such as
 * Qlik's edge-auth writes for signed cookies: a session cookie whose `.sig` is missing or wrong is ignored.
 */
import { createHmac, verify as cryptoVerify, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkQlikToken, QLIK_JWT_ALGORITHM, qlikRejections } from '../../../functions/qlik/claims.js';
import { bearerToken, requestCookies, sendJson, sendQlikError } from './http.js';
import type { IdentityProviderRegistry } from './identity-providers.js';
import type { EmulatedUser, UserDirectory } from './users.js';

/** The session cookie Qlik Cloud sets after `/login/jwt-session`. */
export const SESSION_COOKIE = 'eas.sid';
/** The CSRF cookie Qlik Cloud sets beside the session. */
export const CSRF_COOKIE = '_csrfToken';
/** Suffix of the signature cookie Qlik sets beside each of its cookies. */
export const SIGNATURE_SUFFIX = '.sig';
/** Key of this emulator process's cookie signatures. */
const COOKIE_KEY = randomBytes(32);

/** The keygrip-style signature of one cookie (HMAC-SHA1 over `name=value`, base64url). */
export function cookieSignature(name: string, value: string): string {
  return createHmac('sha1', COOKIE_KEY).update(`${name}=${value}`).digest('base64url');
}

/** A signed cookie's value, only when its `.sig` cookie matches. */
function signedCookie(request: IncomingMessage, name: string): string | undefined {
  const cookies = requestCookies(request);
  const value = cookies.get(name);
  const signature = cookies.get(`${name}${SIGNATURE_SUFFIX}`);
  if (value === undefined || signature === undefined) return undefined;
  const expected = Buffer.from(cookieSignature(name, value));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given) ? value : undefined;
}

/** The response header carrying the CSRF token on `GET /api/v1/csrf-token`. */
export const CSRF_HEADER = 'qlik-csrf-token';
/** The request header naming the web integration. */
export const WEB_INTEGRATION_HEADER = 'qlik-web-integration-id';

/** A web integration (Management Console > Integrations > Web): an ID and its allowed origins. */
export interface WebIntegration {
  readonly id: string;
  readonly name: string;
  readonly validOrigins: string[];
}

/** A signed-in browser session. */
export interface EmulatedSession {
  readonly id: string;
  readonly userId: string;
  readonly csrfToken: string;
  readonly webIntegrationId: string;
}

/** A fixed-window rate limit. */
export interface RateLimit {
  /** Requests allowed per window. Qlik: tier of 100 requests per minute. */
  readonly limit: number;
  /** @default 60000 */
  readonly windowMs?: number;
}

/** State the JWT login needs. */
export interface JwtLoginContext {
  readonly users: UserDirectory;
  readonly idps: IdentityProviderRegistry;
  readonly webIntegrations: Map<string, WebIntegration>;
  readonly sessions: Map<string, EmulatedSession>;
  /** jti values seen, with their exp (seconds), so a replay is refused while the token is alive. */
  readonly seenJtis: Map<string, number>;
  /** Emulated "now" in ms (system time + the test's offset). */
  readonly nowMs: () => number;
  rateLimit: RateLimit | undefined;
  readonly rateWindow: { start: number; count: number };
}

const INVALID = 'Invalid token request';
/** Qlik's code for JWT login validation failures (qlik-auth.md example). */
const TOKEN_CODE = 'INTERNAL-TOKEN-1';

/** Qlik documents 401 as the failure status of `/login/jwt-session`; every refusal uses it. */
const REFUSED = 401;

function reject(response: ServerResponse, detail: string) {
  sendQlikError(response, REFUSED, TOKEN_CODE, INVALID, `JWT_LOGIN_VALIDATIONS ${detail}`);
}

function decodeSegment(segment: string | undefined): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment ?? '', 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** CORS headers for an allowed origin (any configured web integration's origin), with credentials. */
export function corsHeaders(
  request: IncomingMessage,
  webIntegrations: Map<string, WebIntegration>,
): Record<string, string> {
  const origin = request.headers.origin;
  if (origin === undefined) return {};
  for (const integration of webIntegrations.values()) {
    if (integration.validOrigins.includes(origin)) {
      return {
        'access-control-allow-origin': origin,
        'access-control-allow-credentials': 'true',
        'access-control-expose-headers': CSRF_HEADER,
        vary: 'Origin',
      };
    }
  }
  return {};
}

/**
 * Checks the `qlik-web-integration-id` header: it must name a configured web integration, and when
 * the browser sends an Origin, that origin must be one the integration allows.
 * @returns the integration, or undefined after answering the error.
 */
function checkWebIntegration(
  request: IncomingMessage,
  response: ServerResponse,
  webIntegrations: Map<string, WebIntegration>,
  status: 401 | 403,
): WebIntegration | undefined {
  const title = status === 401 ? 'Unauthorized' : 'Forbidden';
  const id = request.headers[WEB_INTEGRATION_HEADER];
  const integration = typeof id === 'string' ? webIntegrations.get(id) : undefined;
  if (!integration) {
    sendQlikError(response, status, 'LOGIN-WEB-INTEGRATION', title, `Missing or unknown ${WEB_INTEGRATION_HEADER}.`);
    return undefined;
  }
  const origin = request.headers.origin;
  if (origin !== undefined && !integration.validOrigins.includes(origin)) {
    sendQlikError(
      response,
      status,
      'LOGIN-WEB-INTEGRATION',
      title,
      'The Origin is not allowed by this web integration.',
    );
    return undefined;
  }
  return integration;
}

/** The user of a session cookie, if the cookie names a live session (and the web integration fits). */
export function sessionUser(request: IncomingMessage, context: JwtLoginContext): EmulatedUser | undefined {
  const sid = signedCookie(request, SESSION_COOKIE);
  const session = sid === undefined ? undefined : context.sessions.get(sid);
  if (!session) return undefined;
  // A browser call (Origin present) must come from an origin the session's web integration allows.
  const origin = request.headers.origin;
  const integration = context.webIntegrations.get(session.webIntegrationId);
  if (origin !== undefined && !integration?.validOrigins.includes(origin)) return undefined;
  return context.users.byId(session.userId);
}

// Claims a rule id can name (`claim.nbf.present`, `claim.email_verified`, ...); `claim.lifetime` names none.
const CLAIMS = new Set([
  'iss',
  'aud',
  'sub',
  'subType',
  'name',
  'email',
  'email_verified',
  'groups',
  'jti',
  'iat',
  'nbf',
  'exp',
]);

/** The claim a failing rule is about, when it is one and the token lacks it ("Missing required claim"). */
function missingClaim(rule: string, payload: Record<string, unknown>): string | undefined {
  const [kind, claim] = rule.split('.');
  return kind === 'claim' && claim !== undefined && CLAIMS.has(claim) && payload[claim] === undefined
    ? claim
    : undefined;
}

/** `POST /login/jwt-session`. */
export async function jwtSession(request: IncomingMessage, response: ServerResponse, context: JwtLoginContext) {
  const now = context.nowMs();
  if (context.rateLimit) {
    const windowMs = context.rateLimit.windowMs ?? 60_000;
    if (now - context.rateWindow.start >= windowMs) {
      context.rateWindow.start = now;
      context.rateWindow.count = 0;
    }
    context.rateWindow.count += 1;
    if (context.rateWindow.count > context.rateLimit.limit) {
      const retryAfter = Math.ceil((context.rateWindow.start + windowMs - now) / 1000);
      response.setHeader('retry-after', String(Math.max(retryAfter, 1)));
      sendQlikError(response, 429, 'HTTP-429', 'Too Many Requests', 'Rate limit exceeded for /login/jwt-session.');
      return;
    }
  }
  const integration = checkWebIntegration(request, response, context.webIntegrations, REFUSED);
  if (!integration) return;
  const token = bearerToken(request);
  if (token === undefined) return reject(response, 'Missing bearer token');
  const parts = token.split('.');
  const header = decodeSegment(parts[0]);
  const payload = decodeSegment(parts[1]);
  if (parts.length !== 3 || !header || !payload) return reject(response, 'Malformed JWT');

  // Algorithm first, before any key is touched: RS256 only, never HS* or none.
  if (header.alg !== QLIK_JWT_ALGORITHM) return reject(response, `Unsupported algorithm: ${String(header.alg)}`);
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  if (kid === undefined) return reject(response, 'Missing required header: kid');
  const candidates = context.idps.forKid(kid);
  if (candidates.length === 0) return reject(response, `No identity provider for kid ${kid}`);
  const signingInput = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2] ?? '', 'base64url');
  // Several IdPs may share a kid (unusual); the one whose issuer matches is preferred.
  const ordered = [...candidates].sort(
    (a, b) => Number(b.idp.options.issuer === payload.iss) - Number(a.idp.options.issuer === payload.iss),
  );
  const verified = ordered.find(({ key }) => cryptoVerify('sha256', signingInput, key, signature));
  if (!verified) return reject(response, 'Invalid signature');
  const { idp } = verified;

  // Every Qlik rule, from the shared module; clock tolerance is the IdP's clockToleranceSec.
  const rejections = qlikRejections(
    checkQlikToken(header, payload, {
      issuer: idp.options.issuer,
      keyId: kid,
      nowSeconds: Math.floor(now / 1000),
      clockToleranceSeconds: idp.clockToleranceSec,
    }),
  );
  const first = rejections[0];
  if (first) {
    if (first.rule.startsWith('time.'))
      return reject(
        response,
        `Token ${first.rule === 'time.not_expired' ? 'expired' : 'not yet valid'}: ${first.message}`,
      );
    // Qlik's message "JWT_LOGIN_VALIDATIONS Missing required claim: nbf" (qlik-auth.md); other rules word it as
    // checked. The status is the documented 401 (an older example showed the same message with 400).
    const missing = missingClaim(first.rule, payload);
    return reject(response, missing ? `Missing required claim: ${missing}` : `Invalid claim: ${first.message}`);
  }

  // Replay: a jti is refused while its token could still be accepted.
  const jti = payload.jti as string;
  for (const [seen, exp] of context.seenJtis)
    if (exp * 1000 + idp.clockToleranceSec * 1000 < now) context.seenJtis.delete(seen);
  if (context.seenJtis.has(jti)) return reject(response, 'Token replayed: jti already used');
  context.seenJtis.set(jti, payload.exp as number);

  // First sight creates the user (subject = sub); later logins refresh name, email and groups.
  const subject = payload.sub as string;
  const groups = Array.isArray(payload.groups) ? (payload.groups as string[]) : [];
  let user = context.users.bySubject(subject);
  if (!user)
    user = context.users.add({ subject, name: payload.name as string, email: payload.email as string, groups });
  else {
    user.name = payload.name as string;
    user.email = payload.email as string;
    user.groups = groups;
  }
  const session: EmulatedSession = {
    id: randomBytes(24).toString('base64url'),
    userId: user.id,
    csrfToken: randomBytes(24).toString('base64url'),
    webIntegrationId: integration.id,
  };
  context.sessions.set(session.id, session);
  // Real Qlik uses SameSite=None; Secure on https. The emulator is plain http on loopback, where a
  // Secure cookie would not come back; loopback ports are same-site, so Lax still travels with fetch.
  sendJson(
    response,
    200,
    {},
    {
      ...corsHeaders(request, context.webIntegrations),
      'set-cookie': [
        `${SESSION_COOKIE}=${session.id}; Path=/; HttpOnly; SameSite=Lax`,
        `${SESSION_COOKIE}${SIGNATURE_SUFFIX}=${cookieSignature(SESSION_COOKIE, session.id)}; Path=/; HttpOnly; SameSite=Lax`,
        `${CSRF_COOKIE}=${session.csrfToken}; Path=/; SameSite=Lax`,
        `${CSRF_COOKIE}${SIGNATURE_SUFFIX}=${cookieSignature(CSRF_COOKIE, session.csrfToken)}; Path=/; SameSite=Lax`,
      ],
    },
  );
}

/** `GET /api/v1/csrf-token`: needs the session cookie and the web integration ID. */
export function csrfToken(request: IncomingMessage, response: ServerResponse, context: JwtLoginContext) {
  const integration = checkWebIntegration(request, response, context.webIntegrations, 403);
  if (!integration) return;
  const sid = signedCookie(request, SESSION_COOKIE);
  const session = sid === undefined ? undefined : context.sessions.get(sid);
  if (!session || session.webIntegrationId !== integration.id) {
    sendQlikError(response, 401, 'HTTP-401', 'Unauthorized', 'No session: sign in at /login/jwt-session first.');
    return;
  }
  response.writeHead(204, {
    ...corsHeaders(request, context.webIntegrations),
    [CSRF_HEADER]: session.csrfToken,
    'cache-control': 'no-store',
  });
  response.end();
}
