/**
 * Vends a Qlik access token for the verified caller by impersonation (qlik-auth.md, "Impersonation":
 * what Qlik recommends for qlik-embed instead of JWT + third-party cookies): the proxy's OAuth client
 * posts `grant_type=urn:qlik:oauth:user-impersonation` with `user_lookup {field: "subject", value}` and
 * scope `user_default`. The subject is the caller's mapped Qlik identity, exactly as `/qlik/jwt` maps it.
 *
 * Tokens are cached per mapped subject (LRU, bounded) until shortly before they expire; concurrent
 * requests for one user share one upstream call. The cache key is the subject alone, so one user's
 * token can never be served to another.
 *
 * Qlik refuses to impersonate a user that does not exist ("Users must exist in the tenant prior to
 * requesting an impersonation token", https://qlik.dev/changelog/84-oauth-m2m-impersonation), but does not
 * document the error it answers with (qlik-auth.md, "Documented vs. guessed"). So the decision never reads
 * the error's shape: when the grant fails with any 4xx that is not an explicit client-authentication refusal,
 * and an admin client is configured, the proxy looks the user up with Qlik's documented users filter
 * (`subject eq "…"`, https://qlik.dev/apis/rest/users). Missing: created (with `provisionUsers`) and the grant
 * tried once more, or refused as not mappable. Present: the original error stands. Looking up first on every
 * request would cost an admin call per token.
 *
 * `Cache-Control: no-cache` on the request (what the frontend snippet sends when `getAccessToken` is called
 * again while its last token should still be alive: qlik-embed and @qlik/api do that after a 401) skips the
 * cache and replaces its entry, so a revoked token is never served on that retry.
 */

import { IdentityNotMappableError, OAuthProtocolError } from '../errors.js';
import { type CallerClaims, mapCallerIdentity, type ResolvedIdentityMapping } from '../identity/mapping.js';
import type { QlikIdentity } from '../qlik/claims.js';
import { isExplicitClientRefusal, type UpstreamLogger } from '../qlik/oauth-client.js';
import type { Clock } from '../runtime/clock.js';
import type { CachedAccessToken, OAuthRuntime } from '../runtime/oauth-wiring.js';

/** The response body of `POST /qlik/access-token`. */
export interface AccessTokenResult {
  readonly accessToken: string;
  /** ISO 8601. */
  readonly expiresAt: string;
  readonly expiresIn: number;
}

/** Ports for {@link vendAccessToken}. */
export interface AccessTokenDeps {
  readonly oauth: OAuthRuntime;
  readonly identity: ResolvedIdentityMapping;
  readonly clock: Clock;
  readonly logger: UpstreamLogger;
  readonly warn?: (message: string) => void;
}

/** Renew the admin token this long before it expires. */
const ADMIN_TOKEN_MARGIN_MS = 60_000;

async function adminToken(deps: AccessTokenDeps): Promise<string> {
  const { oauth, clock } = deps;
  const cached = oauth.adminToken;
  if (cached !== undefined && clock.nowMs() < cached.expiresAtMs - ADMIN_TOKEN_MARGIN_MS) return cached.accessToken;
  const tokens = await oauth.adminClient!.clientCredentials(oauth.config.impersonation.adminScope);
  oauth.adminToken = tokens;
  return tokens.accessToken;
}

/**
 * True when a refused impersonation may mean "no such user": any 4xx from Qlik, unless the body said RFC 6749
 * `invalid_client` outright. Qlik's documented 401 covers bad client credentials and an invalid login alike.
 */
function mayBeUnknownUser(error: unknown): error is OAuthProtocolError {
  if (!(error instanceof OAuthProtocolError) || isExplicitClientRefusal(error)) return false;
  const status = error.upstreamStatus;
  return status !== undefined && status >= 400 && status < 500;
}

const NOT_MAPPABLE =
  'Qlik has no user with your mapped subject, so it cannot be impersonated; an administrator must create the user (or enable oauth.impersonation.provisionUsers).';

async function impersonate(identity: QlikIdentity, deps: AccessTokenDeps): Promise<CachedAccessToken> {
  const { impersonationClient: client, adminClient, config } = deps.oauth;
  const scope = config.impersonation.scope;
  const once = async () => {
    const tokens = await client.impersonate(identity.sub, scope);
    return { accessToken: tokens.accessToken, expiresAtMs: tokens.expiresAtMs };
  };
  try {
    return await once();
  } catch (error) {
    if (!mayBeUnknownUser(error)) throw error;
    if (adminClient === undefined) {
      // No way to look the user up: only an RFC `invalid_grant` (a non-Qlik server) names the user.
      if (error.oauthError === 'invalid_grant') throw new IdentityNotMappableError(NOT_MAPPABLE);
      throw error;
    }
    const token = await adminToken(deps);
    const existing = await adminClient.findUserBySubject(token, identity.sub);
    // The user exists: the refusal was about something else (client, scope, a disabled user); keep it.
    if (existing !== undefined) throw error;
    if (!config.impersonation.provisionUsers) throw new IdentityNotMappableError(NOT_MAPPABLE);
    const outcome = await adminClient.createUser(token, {
      subject: identity.sub,
      name: identity.name,
      email: identity.email,
    });
    deps.logger.info('qlik user provisioned', { outcome, refusedWith: error.upstreamStatus });
    return once();
  }
}

/** Options of one {@link vendAccessToken} call. */
export interface VendOptions {
  /**
   * The caller sent `Cache-Control: no-cache`: never answer from the cache, and replace its entry. Such a call
   * does not join a request already in flight either (that one may have started before the caller saw a 401).
   */
  readonly noCache?: boolean;
}

/**
 * Returns a Qlik access token for the caller's mapped identity, from the cache while it has more than
 * `renewBeforeExpirySeconds` left.
 * @throws IdentityNotMappableError, OAuthProtocolError, Upstream*Error
 */
export async function vendAccessToken(
  caller: CallerClaims,
  deps: AccessTokenDeps,
  options: VendOptions = {},
): Promise<AccessTokenResult> {
  const identity = mapCallerIdentity(caller, deps.identity, deps.warn);
  const { oauth, clock } = deps;
  const marginMs = oauth.config.impersonation.renewBeforeExpirySeconds * 1000;
  const key = identity.sub;
  let token = options.noCache ? undefined : oauth.accessTokens.get(key);
  if (token === undefined || clock.nowMs() >= token.expiresAtMs - marginMs) {
    let pending = options.noCache ? undefined : oauth.inFlight.get(key);
    if (pending === undefined) {
      const started: Promise<CachedAccessToken> = impersonate(identity, deps).finally(() => {
        if (oauth.inFlight.get(key) === started) oauth.inFlight.delete(key);
      });
      pending = started;
      oauth.inFlight.set(key, started);
    }
    token = await pending;
    // A token that would already be due for renewal is served once but not cached.
    if (clock.nowMs() < token.expiresAtMs - marginMs) oauth.accessTokens.set(key, token);
    else oauth.accessTokens.delete(key);
  }
  const nowMs = clock.nowMs();
  return {
    accessToken: token.accessToken,
    expiresAt: new Date(token.expiresAtMs).toISOString(),
    expiresIn: Math.max(0, Math.floor((token.expiresAtMs - nowMs) / 1000)),
  };
}
