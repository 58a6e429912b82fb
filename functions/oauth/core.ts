/**
 * The OAuth proxy's cores: login redirect, callback, code exchange for SPAs, refresh and revoke. Pure
 * apart from their injected ports (the Qlik OAuth client, the sealer, the clock). See docs/oauth.md.
 *
 * State and PKCE without server storage: `/oauth/login` makes a random `state` and PKCE verifier and
 * seals them (AES-256-GCM, see shared/sealing.ts) with the return URL and the redirect URI into a
 * short-lived HttpOnly, Secure, SameSite=Lax cookie. `/oauth/callback` opens that cookie and compares
 * the `state` query parameter with the sealed one in constant time: the code is redeemed only in the
 * browser that started the login (RFC 6749 §10.12, RFC 9700 §2.1), with the verifier only this browser's
 * cookie holds (RFC 7636).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidRequestError, OAuthProtocolError, TokenVendingError } from '../errors.js';
import type { Sealer, SealPurpose } from '../http/sealing.js';
import type { QlikOAuthClient, TokenSet } from '../qlik/oauth-client.js';
import type { Clock } from '../runtime/clock.js';
import type { OAuthConfig } from '../runtime/config.js';
import * as z from '../runtime/zod.js';
import { graceKey, type RefreshGrace } from './refresh-grace.js';

/** The login state could not be verified (missing, expired, tampered, other browser) (400). */
export class OAuthStateError extends OAuthProtocolError {
  constructor(message: string) {
    super('invalid_request', 400, message, { code: 'OAUTH_STATE_INVALID' });
  }
}

/** A redirect target is not on the exact allowlist (400). */
export class RedirectNotAllowedError extends TokenVendingError {
  constructor(message: string) {
    super('OAUTH_REDIRECT_NOT_ALLOWED', 400, message);
  }
}

/** Cookie mode: no usable session cookie (401). */
export class OAuthSessionMissingError extends OAuthProtocolError {
  constructor(message = 'No valid session: sign in again at /oauth/login.') {
    super('invalid_grant', 401, message, { code: 'OAUTH_SESSION_MISSING' });
  }
}

/** Ports and settings of the OAuth cores. */
export interface OAuthCoreDeps {
  readonly oauth: OAuthConfig;
  readonly tenantUrl: string;
  readonly client: QlikOAuthClient;
  readonly sealer: Sealer;
  readonly clock: Clock;
  /** Cookie mode: parallel refreshes of one session share one upstream refresh (./refresh-grace.ts). */
  readonly grace?: RefreshGrace;
  /** Where store faults are reported (never a token). */
  readonly logger?: { warn(message: string, extra: Record<string, unknown>): void };
  /**
   * Multi-tenant mode: the tenant these ports belong to. Every sealed value (state, session, JSON-mode refresh
   * token) then carries it twice: as a clear `<tenant>.` prefix (so the proxy knows whose keys open it) and
   * inside the sealed payload (so a value of tenant A relabelled `B.` opens for no one), see {@link sealBound}.
   */
  readonly tenantId?: string;
}

/**
 * Seals `payload` for `purpose`; in multi-tenant mode as `<tenant>.<sealed>` with `t: <tenant>` inside.
 * Single-tenant values are unchanged (no prefix, no `t`), so existing cookies stay valid.
 */
function sealBound(purpose: SealPurpose, payload: Record<string, unknown>, deps: OAuthCoreDeps): string {
  if (deps.tenantId === undefined) return deps.sealer.seal(purpose, payload);
  return `${deps.tenantId}.${deps.sealer.seal(purpose, { ...payload, t: deps.tenantId })}`;
}

/**
 * Opens a value sealed by {@link sealBound}; undefined when it is not this tenant's: another prefix, another
 * tenant's keys, or a `t` inside that differs from the prefix (a relabelled value).
 */
function openBound(purpose: SealPurpose, value: string | undefined, deps: OAuthCoreDeps): unknown {
  if (deps.tenantId === undefined) return deps.sealer.open(purpose, value);
  const bound = splitTenantBound(value);
  if (bound === undefined || bound.tenantId !== deps.tenantId) return undefined;
  const opened = deps.sealer.open(purpose, bound.sealed) as Record<string, unknown> | undefined;
  if (typeof opened !== 'object' || opened === null || opened.t !== deps.tenantId) return undefined;
  const { t: _tenant, ...payload } = opened;
  return payload;
}

/** Tenant IDs (functions/runtime/config.ts TENANT_ID_PATTERN) hold no `.`, so the first `.` ends the prefix. */
const TENANT_BOUND = /^([A-Za-z0-9][A-Za-z0-9_-]{0,63})\.(v1\..+)$/;

/**
 * The tenant a bound value names in its clear prefix, and the sealed rest. The prefix only says whose keys to
 * try: it proves nothing until {@link openBound} opened the rest with that tenant's keys.
 */
export function splitTenantBound(value: string | undefined): { tenantId: string; sealed: string } | undefined {
  const match = value === undefined ? null : TENANT_BOUND.exec(value);
  return match === null ? undefined : { tenantId: match[1]!, sealed: match[2]! };
}

/** Tokens as the proxy answers them (JSON mode); `refreshToken` never appears in cookie mode. */
export interface TokenResponse {
  readonly accessToken: string;
  readonly tokenType: string;
  /** ISO 8601. */
  readonly expiresAt: string;
  readonly expiresIn: number;
  readonly refreshToken?: string;
  readonly scope?: string;
}

/** Largest cookie name + value we set, leaving room for the attributes within 4096 bytes. */
const MAX_COOKIE_BYTES = 3900;

/** A cookie to set, as a complete `Set-Cookie` value. */
export type SetCookie = string;

/** PKCE verifier alphabet and length (RFC 7636 §4.1; Qlik: 43–128 characters). */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

/**
 * The exact-match allowlist check for redirect targets. Exact string equality, no normalisation: a
 * value with CRLF, a `//host` form, another port, a longer host (`allowed.example.evil`), a path suffix
 * or a query is simply not on the list, so neither an open redirect nor header injection can pass.
 */
export function allowedTarget(value: string | undefined, allowlist: readonly string[]): string | undefined {
  if (value === undefined) return allowlist[0];
  return allowlist.find((allowed) => allowed === value);
}

/** Constant-time equality of two strings of any length (hashing first makes the lengths equal). */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = createHash('sha256').update(a).digest();
  const right = createHash('sha256').update(b).digest();
  return timingSafeEqual(left, right) && a.length === b.length;
}

function cookie(name: string, value: string, maxAgeSeconds: number, sameSite: 'Lax' | 'Strict'): SetCookie {
  // `__Host-` names require Secure, Path=/ and no Domain (RFC 6265bis §4.1.3.2); we always send those.
  return `${name}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; Secure; SameSite=${sameSite}`;
}

/** A `Set-Cookie` that deletes `name`. */
export function clearCookie(name: string, sameSite: 'Lax' | 'Strict' = 'Lax'): SetCookie {
  return cookie(name, '', 0, sameSite);
}

function tokenResponse(tokens: TokenSet, nowMs: number, includeRefresh: boolean, deps: OAuthCoreDeps): TokenResponse {
  // Multi-tenant JSON mode: the refresh token goes out bound to the tenant (sealed), so that a refresh can only
  // ever be sent to the tenant that issued it, whatever the request says (docs/multi-tenant.md).
  const refreshToken =
    tokens.refreshToken === undefined || deps.tenantId === undefined
      ? tokens.refreshToken
      : sealBound('oauth-refresh-token', { r: tokens.refreshToken }, deps);
  return {
    accessToken: tokens.accessToken,
    tokenType: tokens.tokenType,
    expiresAt: new Date(tokens.expiresAtMs).toISOString(),
    expiresIn: Math.max(0, Math.floor((tokens.expiresAtMs - nowMs) / 1000)),
    ...(includeRefresh && refreshToken !== undefined ? { refreshToken } : {}),
    ...(tokens.scope !== undefined ? { scope: tokens.scope } : {}),
  };
}

/** What the sealed state cookie holds. */
const sealedStateSchema = z.strictObject({
  s: z.string(),
  v: z.string().check(z.regex(VERIFIER)),
  r: z.optional(z.string()),
  u: z.string(),
  e: z.number(),
});

/** What the sealed session cookie holds (cookie mode). */
const sealedSessionSchema = z.strictObject({
  a: z.string(),
  e: z.number(),
  r: z.optional(z.string()),
});
type SealedSession = z.infer<typeof sealedSessionSchema>;

/** Query of `GET /oauth/login`. */
export const loginQuerySchema = z.strictObject({
  returnTo: z.optional(z.string().check(z.maxLength(2048))),
  prompt: z.optional(z.enum(['none', 'login', 'consent'])),
});

/**
 * `GET /oauth/login`: a redirect to Qlik's `/oauth/authorize` with `state` and PKCE S256, and the sealed
 * state cookie. `returnTo` must be on `appReturnUrls` exactly (default: the first of them).
 */
export function startLogin(
  query: z.infer<typeof loginQuerySchema>,
  deps: OAuthCoreDeps,
): { location: string; cookies: SetCookie[] } {
  const { oauth } = deps;
  const returnTo = allowedTarget(query.returnTo, oauth.appReturnUrls);
  if (oauth.mode === 'cookie' && returnTo === undefined)
    throw new RedirectNotAllowedError('returnTo is not one of the allowed app URLs.');
  if (query.returnTo !== undefined && returnTo === undefined)
    throw new RedirectNotAllowedError('returnTo is not one of the allowed app URLs.');
  const redirectUri = oauth.redirectUris[0]!;
  const state = randomBytes(32).toString('base64url');
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const sealed = sealBound(
    'oauth-state',
    {
      s: state,
      v: verifier,
      ...(returnTo !== undefined ? { r: returnTo } : {}),
      u: redirectUri,
      e: deps.clock.nowMs() + oauth.stateTtlSeconds * 1000,
    },
    deps,
  );
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: oauth.clientId,
    redirect_uri: redirectUri,
    scope: oauth.scopes.join(' '),
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...(query.prompt !== undefined ? { prompt: query.prompt } : {}),
  });
  return {
    location: `${deps.tenantUrl}/oauth/authorize?${params.toString()}`,
    // Lax, not Strict: the callback arrives as a top-level navigation from the tenant (another site).
    cookies: [cookie(oauth.cookie.stateName, sealed, oauth.stateTtlSeconds, 'Lax')],
  };
}

/** Query of `GET /oauth/callback` (Qlik may add `iss`, RFC 9207). */
export const callbackQuerySchema = z.looseObject({
  code: z.optional(z.string().check(z.minLength(1), z.maxLength(4096))),
  state: z.optional(z.string().check(z.maxLength(512))),
  error: z.optional(z.string().check(z.maxLength(256))),
});

/** What the callback answers with. */
export type CallbackResult =
  | { readonly kind: 'json'; readonly body: TokenResponse; readonly cookies: SetCookie[] }
  | { readonly kind: 'redirect'; readonly location: string; readonly cookies: SetCookie[] };

/** Error codes Qlik may put on the callback (RFC 6749 §4.1.2.1) that we pass on; others become `access_denied`. */
const CALLBACK_ERRORS = new Set([
  'access_denied',
  'invalid_request',
  'unauthorized_client',
  'invalid_scope',
  'server_error',
  'temporarily_unavailable',
  'login_required',
  'consent_required',
  'interaction_required',
]);

/**
 * `GET /oauth/callback`: checks the state against the sealed cookie (constant time), redeems the code
 * with the sealed verifier and redirect URI, and answers per `mode`. The state cookie is always cleared.
 */
export async function completeLogin(
  query: z.infer<typeof callbackQuerySchema>,
  stateCookie: string | undefined,
  deps: OAuthCoreDeps,
): Promise<CallbackResult> {
  const { oauth } = deps;
  const clearState = clearCookie(oauth.cookie.stateName);
  const opened = sealedStateSchema.safeParse(openBound('oauth-state', stateCookie, deps));
  if (!opened.success)
    throw new OAuthStateError(
      'The login state is missing or invalid (cookie absent, tampered, or from another browser); start again at /oauth/login.',
    );
  const sealed = opened.data;
  if (deps.clock.nowMs() > sealed.e) throw new OAuthStateError('The login took too long; start again at /oauth/login.');
  if (query.state === undefined || !constantTimeEqual(query.state, sealed.s))
    throw new OAuthStateError('The state parameter does not match this browser’s login; start again at /oauth/login.');
  if (query.error !== undefined) {
    const code = CALLBACK_ERRORS.has(query.error) ? query.error : 'access_denied';
    throw new OAuthProtocolError(
      code,
      code === 'server_error' || code === 'temporarily_unavailable' ? 502 : 403,
      'Qlik did not authorize the login.',
      {
        ...(code === 'server_error' || code === 'temporarily_unavailable' ? { code: 'UPSTREAM_ERROR' as const } : {}),
      },
    );
  }
  if (query.code === undefined) throw new InvalidRequestError('The callback carries no code.');
  const tokens = await deps.client.exchangeCode({ code: query.code, redirectUri: sealed.u, codeVerifier: sealed.v });
  const nowMs = deps.clock.nowMs();
  if (oauth.mode === 'json')
    return { kind: 'json', body: tokenResponse(tokens, nowMs, true, deps), cookies: [clearState] };
  // Re-check: the sealed return URL was allowed at login; the allowlist may have shrunk since.
  const location = allowedTarget(sealed.r, oauth.appReturnUrls);
  if (location === undefined || sealed.r === undefined)
    throw new RedirectNotAllowedError('The return URL of this login is no longer allowed.');
  return { kind: 'redirect', location, cookies: [clearState, sessionCookie(tokens, undefined, deps)] };
}

function sessionCookie(tokens: TokenSet, previous: SealedSession | undefined, deps: OAuthCoreDeps): SetCookie {
  // Qlik rotates refresh tokens; when an answer carries none, the previous one stays valid and is kept.
  const refreshToken = tokens.refreshToken ?? previous?.r;
  const sealed = sealBound(
    'oauth-session',
    { a: tokens.accessToken, e: tokens.expiresAtMs, ...(refreshToken !== undefined ? { r: refreshToken } : {}) },
    deps,
  );
  // Browsers silently drop cookies over ~4096 bytes (RFC 6265 §6.1 minimum); fail loudly instead.
  if (sealed.length + deps.oauth.cookie.sessionName.length > MAX_COOKIE_BYTES)
    throw new TokenVendingError(
      'INTERNAL',
      500,
      'The tokens Qlik issued do not fit in a session cookie; use oauth.mode "json" for this tenant.',
    );
  // Strict: only the app's own (same-site) requests carry the session; nothing cross-site can.
  return cookie(deps.oauth.cookie.sessionName, sealed, deps.oauth.cookie.sessionMaxAgeSeconds, 'Strict');
}

/** Body of `POST /oauth/code-exchange` (OAuth parameter names, as SPA OAuth libraries send them). */
export const codeExchangeSchema = z.strictObject({
  code: z.string('code is required').check(z.minLength(1), z.maxLength(4096)),
  redirect_uri: z.string('redirect_uri is required').check(z.maxLength(2048)),
  code_verifier: z
    .string('code_verifier is required')
    .check(z.regex(VERIFIER, 'code_verifier must be 43–128 characters of [A-Za-z0-9-._~] (RFC 7636)')),
});

/** What the code exchange, refresh and revoke routes answer with. */
export interface TokenRouteResult {
  readonly body: TokenResponse | undefined;
  readonly cookies: SetCookie[];
}

/**
 * `POST /oauth/code-exchange`: an SPA that ran PKCE itself sends code, redirect_uri (exact allowlist) and
 * code_verifier; the proxy adds the client credentials. In cookie mode the refresh token goes into the
 * sealed session cookie and the body carries the access token only.
 */
export async function exchangeCode(
  input: z.infer<typeof codeExchangeSchema>,
  deps: OAuthCoreDeps,
): Promise<TokenRouteResult> {
  if (allowedTarget(input.redirect_uri, deps.oauth.redirectUris) === undefined)
    throw new RedirectNotAllowedError('redirect_uri is not one of the registered redirect URIs.');
  const tokens = await deps.client.exchangeCode({
    code: input.code,
    redirectUri: input.redirect_uri,
    codeVerifier: input.code_verifier,
  });
  const cookieMode = deps.oauth.mode === 'cookie';
  return {
    body: tokenResponse(tokens, deps.clock.nowMs(), !cookieMode, deps),
    cookies: cookieMode ? [sessionCookie(tokens, undefined, deps)] : [],
  };
}

/** The Qlik refresh token inside a tenant-bound one, or undefined when it is not this tenant's. */
function openRefreshToken(value: string, deps: OAuthCoreDeps): string | undefined {
  const opened = openBound('oauth-refresh-token', value, deps) as { r?: unknown } | undefined;
  return typeof opened?.r === 'string' ? opened.r : undefined;
}

/** JSON mode: the refresh token to send to Qlik (multi-tenant: unwrapped, and only if bound to this tenant). */
function unbindRefreshToken(value: string, deps: OAuthCoreDeps): string {
  if (deps.tenantId === undefined) return value;
  const refreshToken = openRefreshToken(value, deps);
  if (refreshToken === undefined)
    throw new OAuthSessionMissingError(
      'The refresh token was not issued by this proxy for this tenant; sign in again at /oauth/login.',
    );
  return refreshToken;
}

/** Body of `POST /oauth/refresh` in JSON mode. */
export const refreshSchema = z.strictObject({
  refresh_token: z.optional(z.string().check(z.minLength(1), z.maxLength(8192))),
});

function openSession(sessionCookieValue: string | undefined, deps: OAuthCoreDeps): SealedSession {
  const opened = sealedSessionSchema.safeParse(openBound('oauth-session', sessionCookieValue, deps));
  if (!opened.success) throw new OAuthSessionMissingError();
  return opened.data;
}

/**
 * `POST /oauth/refresh`. JSON mode: `{refresh_token}` in, tokens out. Cookie mode: the refresh token
 * comes from the sealed session cookie, a resealed cookie goes back, and the body holds the new access
 * token only. A refused refresh token (expired, revoked) clears the session cookie.
 */
export async function refreshTokens(
  input: z.infer<typeof refreshSchema>,
  sessionCookieValue: string | undefined,
  deps: OAuthCoreDeps,
): Promise<TokenRouteResult> {
  if (deps.oauth.mode === 'json') {
    if (input.refresh_token === undefined) throw new InvalidRequestError('refresh_token is required.');
    const tokens = await deps.client.refresh(unbindRefreshToken(input.refresh_token, deps));
    return { body: tokenResponse(tokens, deps.clock.nowMs(), true, deps), cookies: [] };
  }
  if (input.refresh_token !== undefined)
    throw new InvalidRequestError('In cookie mode the refresh token stays in the session cookie; send no body.');
  const session = openSession(sessionCookieValue, deps);
  const refreshToken = session.r;
  if (refreshToken === undefined)
    throw new OAuthSessionMissingError('The session holds no refresh token; sign in again.');
  const tokens = await sharedRefresh(refreshToken, deps);
  return {
    body: tokenResponse(tokens, deps.clock.nowMs(), false, deps),
    cookies: [sessionCookie(tokens, session, deps)],
  };
}

/** One upstream refresh; Qlik's refusal of the refresh token (a dead grant) becomes a dead session. */
async function refreshOnce(refreshToken: string, deps: OAuthCoreDeps): Promise<TokenSet> {
  try {
    return await deps.client.refresh(refreshToken);
  } catch (error) {
    if (error instanceof OAuthProtocolError && error.oauthError === 'invalid_grant')
      throw new OAuthSessionExpiredError();
    throw error;
  }
}

/** The tokens a claimed refresh shares with the requests that wait for it (sealed in the store). */
const sealedGraceSchema = z.strictObject({
  a: z.string(),
  t: z.string(),
  e: z.number(),
  r: z.optional(z.string()),
  s: z.optional(z.string()),
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Refreshes through the grace window (./refresh-grace.ts): the request that claims the refresh token calls
 * Qlik and shares the result; the others wait for it and answer with the same tokens, so a refresh token
 * reaches Qlik once however many requests carry it. A store fault falls back to a direct refresh: no worse
 * than having no store, and the user is not locked out by the store.
 */
async function sharedRefresh(refreshToken: string, deps: OAuthCoreDeps): Promise<TokenSet> {
  const grace = deps.grace;
  if (grace === undefined) return refreshOnce(refreshToken, deps);
  const { store, settings } = grace;
  const key = graceKey(refreshToken, deps.tenantId);
  const windowMs = settings.windowSeconds * 1000;
  // Waiting is measured in real elapsed time (a test's fixed clock must not make it endless).
  const waitUntil = performance.now() + settings.waitMs;
  for (;;) {
    const nowMs = deps.clock.nowMs();
    let claimed: boolean;
    try {
      claimed = await store.claim(key, nowMs, nowMs + settings.leaseMs, nowMs + Math.max(settings.leaseMs, windowMs));
    } catch (error) {
      deps.logger?.warn('refresh grace store unavailable; refreshing without it', {
        store: store.description,
        errorName: (error as Error).name,
      });
      return refreshOnce(refreshToken, deps);
    }
    if (claimed) return claimedRefresh(refreshToken, key, deps, grace);
    const record = await store.read(key, deps.clock.nowMs());
    if (record?.state === 'done') {
      const opened = sealedGraceSchema.safeParse(deps.sealer.open('oauth-refresh-grace', record.sealed));
      if (opened.success) {
        // A logout since (revokeTokens marks the refresh token it revoked as dead): never hand out its tokens.
        if (opened.data.r !== undefined && opened.data.r !== refreshToken) {
          const successor = await store.read(graceKey(opened.data.r, deps.tenantId), deps.clock.nowMs());
          if (successor?.state === 'dead') throw new OAuthSessionExpiredError();
        }
        return {
          accessToken: opened.data.a,
          tokenType: opened.data.t,
          expiresAtMs: opened.data.e,
          ...(opened.data.r !== undefined ? { refreshToken: opened.data.r } : {}),
          ...(opened.data.s !== undefined ? { scope: opened.data.s } : {}),
        };
      }
    }
    if (record?.state === 'dead') throw new OAuthSessionExpiredError();
    if (performance.now() >= waitUntil)
      throw new TokenVendingError(
        'UPSTREAM_TIMEOUT',
        504,
        'Another refresh of this session is still running at Qlik; retry in a moment.',
        { retryAfterSeconds: 1 },
      );
    // Pending (another request is at Qlik), or released after an upstream fault: look again shortly.
    await sleep(settings.pollMs ?? 50);
  }
}

/** The request that won the claim: refresh at Qlik, then share the outcome for the grace window. */
async function claimedRefresh(
  refreshToken: string,
  key: string,
  deps: OAuthCoreDeps,
  grace: RefreshGrace,
): Promise<TokenSet> {
  const { store, settings } = grace;
  let tokens: TokenSet;
  try {
    tokens = await refreshOnce(refreshToken, deps);
  } catch (error) {
    // A dead grant stays dead for everyone; an upstream fault frees the claim so a retry can try again.
    const settle =
      error instanceof OAuthSessionExpiredError
        ? store.settle(key, { state: 'dead' }, deps.clock.nowMs() + settings.windowSeconds * 1000)
        : store.release(key);
    await settle.catch((storeError: unknown) =>
      deps.logger?.warn('refresh grace store could not record a failed refresh', {
        store: store.description,
        errorName: (storeError as Error).name,
      }),
    );
    throw error;
  }
  const sealed = deps.sealer.seal('oauth-refresh-grace', {
    a: tokens.accessToken,
    t: tokens.tokenType,
    e: tokens.expiresAtMs,
    ...(tokens.refreshToken !== undefined ? { r: tokens.refreshToken } : {}),
    ...(tokens.scope !== undefined ? { s: tokens.scope } : {}),
  });
  try {
    await store.settle(key, { state: 'done', sealed }, deps.clock.nowMs() + settings.windowSeconds * 1000);
  } catch (error) {
    // This request still gets its tokens; waiters take over after the lease (and may meet reuse detection).
    deps.logger?.warn('refresh grace store could not share a refresh', {
      store: store.description,
      errorName: (error as Error).name,
    });
  }
  return tokens;
}

/** Cookie mode: Qlik refused the session's refresh token (expired or revoked) (401; the cookie is cleared). */
export class OAuthSessionExpiredError extends OAuthProtocolError {
  constructor() {
    super('invalid_grant', 401, 'The session has expired or was revoked; sign in again at /oauth/login.', {
      code: 'OAUTH_SESSION_MISSING',
    });
  }
}

/** Body of `POST /oauth/revoke` in JSON mode (RFC 7009 parameter names). */
export const revokeSchema = z.strictObject({
  token: z.optional(z.string().check(z.minLength(1), z.maxLength(8192))),
  token_type_hint: z.optional(z.enum(['access_token', 'refresh_token'])),
});

/**
 * `POST /oauth/revoke`. JSON mode: revokes the given token. Cookie mode: revokes the session's refresh
 * and access tokens and clears the cookie (a missing or unreadable cookie just clears it: logout is idempotent).
 */
export async function revokeTokens(
  input: z.infer<typeof revokeSchema>,
  sessionCookieValue: string | undefined,
  deps: OAuthCoreDeps,
): Promise<TokenRouteResult> {
  if (deps.oauth.mode === 'json') {
    if (input.token === undefined) throw new InvalidRequestError('token is required.');
    // Multi-tenant: a refresh token this proxy bound to the tenant is unwrapped; an access token is Qlik's own
    // (revoking it at another tenant's Qlik does nothing: that tenant does not know it, RFC 7009 §2.2).
    const refresh = deps.tenantId === undefined ? undefined : openRefreshToken(input.token, deps);
    if (refresh !== undefined) await deps.client.revoke(refresh, 'refresh_token');
    else await deps.client.revoke(input.token, input.token_type_hint);
    return { body: undefined, cookies: [] };
  }
  if (input.token !== undefined)
    throw new InvalidRequestError('In cookie mode the tokens stay in the session cookie; send no body.');
  const clear = clearCookie(deps.oauth.cookie.sessionName, 'Strict');
  let session: SealedSession;
  try {
    session = openSession(sessionCookieValue, deps);
  } catch {
    return { body: undefined, cookies: [clear] };
  }
  if (session.r !== undefined) await deps.client.revoke(session.r, 'refresh_token');
  await deps.client.revoke(session.a, 'access_token');
  if (session.r !== undefined) await markLoggedOut(session.r, deps);
  return { body: undefined, cookies: [clear] };
}

/**
 * Records a revoked refresh token as dead in the grace store, for the grace window: an older cookie whose
 * refresh was shared within the window would otherwise still be answered with the (now revoked) tokens, and a
 * parallel refresh of this cookie gets 401 at once. A store fault does not fail the logout.
 */
async function markLoggedOut(refreshToken: string, deps: OAuthCoreDeps): Promise<void> {
  const grace = deps.grace;
  if (grace === undefined) return;
  const expiresAtMs = deps.clock.nowMs() + Math.max(grace.settings.windowSeconds * 1000, grace.settings.leaseMs);
  await grace.store
    .settle(graceKey(refreshToken, deps.tenantId), { state: 'dead' }, expiresAtMs)
    .catch((error: unknown) =>
      deps.logger?.warn('refresh grace store could not record a logout', {
        store: grace.store.description,
        errorName: (error as Error).name,
      }),
    );
}
