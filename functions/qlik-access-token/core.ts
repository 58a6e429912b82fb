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
 * Qlik refuses to impersonate a user that does not exist. With `provisionUsers`, a refused grant
 * (`invalid_grant`) makes the proxy look the user up with its admin client and create it, then try once
 * more; looking up first on every request would cost an admin call per token.
 */

import { IdentityNotMappableError, OAuthProtocolError } from '../errors.js';
import { type CallerClaims, mapCallerIdentity, type ResolvedIdentityMapping } from '../identity/mapping.js';
import type { QlikIdentity } from '../qlik/claims.js';
import type { UpstreamLogger } from '../qlik/oauth-client.js';
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

/** Creates the Qlik user for `identity` unless it exists (Qlik's reference backend does the same). */
async function provisionUser(identity: QlikIdentity, deps: AccessTokenDeps): Promise<void> {
  const admin = deps.oauth.adminClient!;
  const token = await adminToken(deps);
  const existing = await admin.findUserBySubject(token, identity.sub);
  if (existing !== undefined) return;
  const outcome = await admin.createUser(token, { subject: identity.sub, name: identity.name, email: identity.email });
  deps.logger.info('qlik user provisioned', { outcome });
}

async function impersonate(identity: QlikIdentity, deps: AccessTokenDeps): Promise<CachedAccessToken> {
  const { impersonationClient: client, config } = deps.oauth;
  const scope = config.impersonation.scope;
  try {
    const tokens = await client.impersonate(identity.sub, scope);
    return { accessToken: tokens.accessToken, expiresAtMs: tokens.expiresAtMs };
  } catch (error) {
    if (!(error instanceof OAuthProtocolError) || error.oauthError !== 'invalid_grant') throw error;
    if (!config.impersonation.provisionUsers)
      throw new IdentityNotMappableError(
        'Qlik has no user with your mapped subject, so it cannot be impersonated; an administrator must create the user (or enable oauth.impersonation.provisionUsers).',
      );
    await provisionUser(identity, deps);
    const tokens = await client.impersonate(identity.sub, scope);
    return { accessToken: tokens.accessToken, expiresAtMs: tokens.expiresAtMs };
  }
}

/**
 * Returns a Qlik access token for the caller's mapped identity, from the cache while it has more than
 * `renewBeforeExpirySeconds` left.
 * @throws IdentityNotMappableError, OAuthProtocolError, Upstream*Error
 */
export async function vendAccessToken(caller: CallerClaims, deps: AccessTokenDeps): Promise<AccessTokenResult> {
  const identity = mapCallerIdentity(caller, deps.identity, deps.warn);
  const { oauth, clock } = deps;
  const marginMs = oauth.config.impersonation.renewBeforeExpirySeconds * 1000;
  const key = identity.sub;
  let token = oauth.accessTokens.get(key);
  if (token === undefined || clock.nowMs() >= token.expiresAtMs - marginMs) {
    let pending = oauth.inFlight.get(key);
    if (pending === undefined) {
      pending = impersonate(identity, deps).finally(() => oauth.inFlight.delete(key));
      oauth.inFlight.set(key, pending);
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
