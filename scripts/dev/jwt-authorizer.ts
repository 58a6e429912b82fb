/**
 * The dev server's stand-in for API Gateway's HTTP API JWT authorizer. Each rule follows AWS's
 * documentation, cited beside it; where AWS is silent the rule says "guessed" and is switchable, so the
 * functions can be tested against every plausible answer (docs/security.md, "The local JWT authorizer").
 *
 * Primary source, unless a rule names another:
 * AWS-JWT = https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html,
 * section "Authorizing API requests with a JWT authorizer" (steps 1-4).
 * AWS-TROUBLESHOOT = https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-jwt.html
 */
import { importJWK, type JWK, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';

/** How strictly the `Bearer` prefix is read. */
export type BearerPrefixMode =
  /** Exactly `Bearer` and one space before the token, or the bare token (AWS-JWT step 1 read literally). */
  | 'strict'
  /** Any case of `bearer`, one or more spaces or tabs (RFC 9110 §11.1: schemes are case-insensitive). */
  | 'lenient';

/** What the local JWT authorizer accepts (the HTTP API authorizer's `issuer` and `audience`). */
export interface LocalAuthorizer {
  readonly issuer: string;
  readonly audience: readonly string[];
  /** The issuer's signing keys: {@link discoveredKeySet} in the dev server; a local set in tests. */
  readonly keys: JWTVerifyGetKey;
  /**
   * Guessed: AWS-JWT says the identity source "can include only the token, or the token prefixed with
   * Bearer" and says nothing about case or repeated spaces. The functions read every form
   * (functions/identity/caller.ts); tests run the stand-in both ways.
   * @default 'lenient'
   */
  readonly bearerPrefix?: BearerPrefixMode;
  /**
   * AWS-JWT step 3: "Currently, only RSA-based algorithms are supported." RS256/RS384/RS512 are RSA-based;
   * whether RSA-PSS (PS256/384/512) counts is not documented (guessed): pass them here to allow them.
   * @default ['RS256', 'RS384', 'RS512']
   */
  readonly algorithms?: readonly string[];
  /** Current time in ms (tests freeze it). @default Date.now */
  readonly nowMs?: () => number;
}

/** A refused caller token; `description` goes into `www-authenticate` as AWS-TROUBLESHOOT shows. */
export class AuthorizerRejection extends Error {
  constructor(readonly description: string) {
    super(description);
    this.name = 'AuthorizerRejection';
  }
}

const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512'] as const;
const COMPACT_JWS = '[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*';
const STRICT_SOURCE = new RegExp(`^(?:Bearer )?(${COMPACT_JWS})$`);
const LENIENT_SOURCE = new RegExp(`^(?:bearer[ \\t]+)?(${COMPACT_JWS})$`, 'i');

/**
 * Verifies the identity source the way API Gateway documents it and returns the token's claims.
 * @throws AuthorizerRejection with a reason (never the token) when any rule fails.
 */
export async function authorizeCaller(
  authorizer: LocalAuthorizer,
  authorization: string | undefined,
): Promise<JWTPayload> {
  // AWS-JWT step 1: "Check the identitySource for a token. The identitySource can include only the token,
  // or the token prefixed with Bearer." Node has already removed the header's surrounding whitespace.
  if (authorization === undefined) throw new AuthorizerRejection('the identity source holds no token');
  const source = (authorizer.bearerPrefix ?? 'lenient') === 'strict' ? STRICT_SOURCE : LENIENT_SOURCE;
  const token = source.exec(authorization)?.[1];
  if (token === undefined) throw new AuthorizerRejection('the identity source is not a token or "Bearer <token>"');
  const nowSeconds = Math.floor((authorizer.nowMs ?? Date.now)() / 1000);
  let payload: JWTPayload;
  try {
    // AWS-JWT step 2 "Decode the token" and step 3 "Check the token's algorithm and signature by using the
    // public key that is fetched from the issuer's jwks_uri. Currently, only RSA-based algorithms are supported."
    ({ payload } = await jwtVerify(token, requireKid(authorizer.keys), {
      algorithms: [...(authorizer.algorithms ?? RSA_ALGORITHMS)],
      // AWS-JWT step 4 "iss – Must match the issuer that is configured for the authorizer."
      issuer: authorizer.issuer,
      // AWS-JWT step 4: exp "after", nbf "before" the current time; no clock skew allowance is documented.
      currentDate: new Date(nowSeconds * 1000),
      clockTolerance: 0,
      // Guessed: AWS-JWT does not say whether a token without exp passes; the stand-in refuses it.
      requiredClaims: ['exp'],
    }));
  } catch (error) {
    throw new AuthorizerRejection(reasonOf(error));
  }
  // AWS-JWT step 4 "iat – Must be before the current time in UTC." jose checks only its type.
  if (typeof payload.iat === 'number' && payload.iat > nowSeconds)
    throw new AuthorizerRejection('the token was issued in the future (iat)');
  // AWS-JWT step 4 "aud or client_id – Must match one of the audience entries that's configured for the
  // authorizer. API Gateway validates client_id only if aud is not present. When both aud and client_id are
  // present, API Gateway evaluates aud." (AWS-TROUBLESHOOT repeats it.) An aud array matches when one of its
  // entries does (RFC 7519 §4.1.3; guessed for API Gateway).
  const audiences =
    payload.aud !== undefined
      ? Array.isArray(payload.aud)
        ? payload.aud
        : [payload.aud]
      : typeof payload.client_id === 'string'
        ? [payload.client_id]
        : [];
  if (!audiences.some((aud) => authorizer.audience.includes(aud)))
    throw new AuthorizerRejection('the token does not have a valid audience');
  return payload;
}

/**
 * AWS-JWT step 4 "kid – The token must have a header claim that matches the key in the jwks_uri that signed
 * the token." jose would otherwise pick the only key of a one-key set for a token without `kid`.
 */
function requireKid(keys: JWTVerifyGetKey): JWTVerifyGetKey {
  return (header, token) => {
    if (typeof header.kid !== 'string' || header.kid === '') throw new AuthorizerRejection('the token has no kid');
    return keys(header, token);
  };
}

function reasonOf(error: unknown): string {
  if (error instanceof AuthorizerRejection) return error.description;
  const code = (error as { code?: unknown }).code;
  const claim = (error as { claim?: unknown }).claim;
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'the token has expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return `the token has an invalid ${typeof claim === 'string' ? claim : 'claim'}`;
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'the token is not signed with an RSA algorithm';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'the token kid matches no key of the issuer';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'the token signature is invalid';
    default:
      return 'the token is invalid';
  }
}

/** Options of {@link discoveredKeySet}. */
export interface DiscoveredKeySetOptions {
  /** @default globalThis.fetch */
  readonly fetch?: typeof fetch;
  /** @default Date.now */
  readonly nowMs?: () => number;
  /**
   * How long fetched keys are used. AWS-JWT step 3: "API Gateway can cache the public key for two hours."
   * @default 7_200_000
   */
  readonly cacheMs?: number;
  /**
   * Guessed (AWS does not document it): a token whose kid is unknown makes the set re-read the JWKS, at most
   * once per this interval, so a key the issuer just added works without waiting two hours.
   * @default 60_000
   */
  readonly refetchUnknownKidAfterMs?: number;
}

interface Jwks {
  readonly keys: readonly JWK[];
  readonly fetchedAtMs: number;
}

/**
 * The issuer's keys, found the way API Gateway finds them: the OIDC discovery document at
 * `<issuer>/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4; the REST API page says the
 * same of API Gateway: https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-jwt-authorizer.html)
 * names `jwks_uri` (AWS-JWT step 3). Works for Cognito, Okta, Entra ID, Keycloak and the dev identity provider.
 */
export function discoveredKeySet(issuer: string, options: DiscoveredKeySetOptions = {}): JWTVerifyGetKey {
  const fetchFn = options.fetch ?? globalThis.fetch;
  const now = options.nowMs ?? Date.now;
  const cacheMs = options.cacheMs ?? 7_200_000;
  const refetchAfterMs = options.refetchUnknownKidAfterMs ?? 60_000;
  let current: Promise<Jwks> | undefined;

  async function getJson(url: string): Promise<Record<string, unknown>> {
    const response = await fetchFn(url, { headers: { accept: 'application/json' }, redirect: 'error' });
    if (!response.ok) throw new AuthorizerRejection(`the issuer's ${url} answered ${response.status}`);
    const body: unknown = await response.json();
    if (typeof body !== 'object' || body === null) throw new AuthorizerRejection(`${url} is not a JSON object`);
    return body as Record<string, unknown>;
  }

  async function load(): Promise<Jwks> {
    const discovery = await getJson(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
    // OIDC Discovery §4.3: the document's issuer must be identical to the issuer it was fetched for.
    if (discovery.issuer !== issuer) throw new AuthorizerRejection('the discovery document names another issuer');
    if (typeof discovery.jwks_uri !== 'string') throw new AuthorizerRejection('the discovery document has no jwks_uri');
    const jwks = await getJson(discovery.jwks_uri);
    if (!Array.isArray(jwks.keys)) throw new AuthorizerRejection('the JWKS has no keys');
    return { keys: jwks.keys as JWK[], fetchedAtMs: now() };
  }

  function refresh(): Promise<Jwks> {
    const pending = load();
    current = pending;
    // A failed fetch is not cached: the next request tries again.
    pending.catch(() => {
      if (current === pending) current = undefined;
    });
    return pending;
  }

  return async (header) => {
    let jwks = await (current ?? refresh());
    if (now() - jwks.fetchedAtMs >= cacheMs) jwks = await refresh();
    let jwk = jwks.keys.find((k) => k.kid === header.kid);
    if (jwk === undefined && now() - jwks.fetchedAtMs >= refetchAfterMs) {
      jwks = await refresh();
      jwk = jwks.keys.find((k) => k.kid === header.kid);
    }
    if (jwk === undefined) throw new AuthorizerRejection('the token kid matches no key of the issuer');
    if (jwk.kty !== 'RSA') throw new AuthorizerRejection('the token kid names a key that is not RSA');
    return importJWK({ ...jwk, alg: header.alg }, header.alg);
  };
}
