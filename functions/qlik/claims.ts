/**
 * Qlik Cloud's rules for JWTs presented at `POST /login/jwt-session`, in one place.
 *
 * Used by the vending core (to build tokens), the CLI inspector (to explain a rejection)
 * and the tenant emulator (to reject what Qlik rejects). Sources:
 * - https://qlik.dev/authenticate/jwt/create-signed-tokens-for-jwt-authorization/ (claims, RS256, kid)
 * - https://qlik.dev/apis/rest/login/ (`/login/jwt-session`: "signed with an algorithm other than HS",
 *   required claims iss, aud = qlik.api/login/jwt-session, sub, subType, name, email, email_verified)
 * - https://qlik.dev/authenticate/jwt/implement-jwt-authorization/ (jti and nbf required since June 2022,
 *   exp - nbf at most 3600 seconds)
 */
import { randomId } from '../util/random-id.js';

/** The audience Qlik Cloud requires. */
export const QLIK_JWT_AUDIENCE = 'qlik.api/login/jwt-session';
/** Qlik refuses tokens whose `exp - nbf` exceeds one hour. */
export const QLIK_MAX_LIFETIME_SECONDS = 3600;
/** The only signing algorithm Qlik documents for the Cloud JWT identity provider. */
export const QLIK_JWT_ALGORITHM = 'RS256';

/** The identity a Qlik JWT asserts. */
export interface QlikIdentity {
  /** Stable, unique user ID in Qlik (becomes the Qlik subject). */
  readonly sub: string;
  /** Display name. */
  readonly name: string;
  readonly email: string;
  readonly emailVerified: boolean;
  /** Group names; empty means "send no groups claim". */
  readonly groups: readonly string[];
}

/** The JOSE header of a Qlik JWT. */
export interface QlikJwtHeader {
  readonly alg: typeof QLIK_JWT_ALGORITHM;
  readonly kid: string;
  readonly typ: 'JWT';
}

/** The claims of a Qlik JWT. */
export interface QlikJwtPayload {
  readonly iss: string;
  readonly aud: typeof QLIK_JWT_AUDIENCE;
  readonly sub: string;
  readonly subType: 'user';
  readonly name: string;
  readonly email: string;
  readonly email_verified: boolean;
  readonly groups?: readonly string[];
  readonly jti: string;
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
}

/** Timing and issuer choices for one token. */
export interface QlikTokenOptions {
  readonly issuer: string;
  /** Issue time in whole seconds since the epoch. */
  readonly issuedAtSeconds: number;
  /** Lifetime counted from `iat`. */
  readonly ttlSeconds: number;
  /**
   * How far `nbf` is back-dated from `iat`, to absorb clock skew between us and Qlik
   * (Qlik's own samples back-date by 30 s). Counts against the 3600 s `exp - nbf` limit.
   */
  readonly notBeforeSkewSeconds: number;
  /** Override for tests; by default 32 random bytes, base64url, as in Qlik's reference code. */
  readonly jti?: string;
}

/** Builds the JOSE header for a Qlik JWT signed with key `kid`. */
export function qlikJwtHeader(kid: string): QlikJwtHeader {
  return { alg: QLIK_JWT_ALGORITHM, kid, typ: 'JWT' };
}

/**
 * Builds the claims of a Qlik JWT for `identity`.
 * @throws TypeError when the timing would break Qlik's lifetime rule: a programming or config error.
 */
export function buildQlikClaims(identity: QlikIdentity, options: QlikTokenOptions): QlikJwtPayload {
  const { issuedAtSeconds: iat, ttlSeconds, notBeforeSkewSeconds } = options;
  if (ttlSeconds + notBeforeSkewSeconds > QLIK_MAX_LIFETIME_SECONDS) {
    throw new TypeError(
      `ttlSeconds (${ttlSeconds}) + notBeforeSkewSeconds (${notBeforeSkewSeconds}) exceeds Qlik's ${QLIK_MAX_LIFETIME_SECONDS} s limit`,
    );
  }
  const jti = options.jti ?? randomId(32);
  // Two literals rather than a conditional spread: one token, one object, no copy (the per-token path).
  // The member order is the same in both, and is the order of the token's JSON.
  return identity.groups.length > 0
    ? {
        iss: options.issuer,
        aud: QLIK_JWT_AUDIENCE,
        sub: identity.sub,
        subType: 'user',
        name: identity.name,
        email: identity.email,
        email_verified: identity.emailVerified,
        groups: identity.groups,
        jti,
        iat,
        nbf: iat - notBeforeSkewSeconds,
        exp: iat + ttlSeconds,
      }
    : {
        iss: options.issuer,
        aud: QLIK_JWT_AUDIENCE,
        sub: identity.sub,
        subType: 'user',
        name: identity.name,
        email: identity.email,
        email_verified: identity.emailVerified,
        jti,
        iat,
        nbf: iat - notBeforeSkewSeconds,
        exp: iat + ttlSeconds,
      };
}

/** One rule's verdict on one token. */
export interface QlikRuleResult {
  /** Stable rule identifier, e.g. `claim.nbf.present`. */
  readonly rule: string;
  readonly ok: boolean;
  /** `error`: Qlik rejects the token. `warning`: accepted, but probably not what you want. */
  readonly severity: 'error' | 'warning';
  /** What was checked, in plain words. */
  readonly message: string;
  /** What to change when the rule fails. */
  readonly fix?: string;
}

/** What the checker should compare the token against; each is optional. */
export interface QlikTokenExpectations {
  /** The issuer configured on the Qlik JWT identity provider. */
  readonly issuer?: string;
  /** The key ID configured on the Qlik JWT identity provider. */
  readonly keyId?: string;
  /** When set, `exp` and `nbf` are checked against this time (seconds since the epoch). */
  readonly nowSeconds?: number;
  /** Clock tolerance for the time checks (Qlik's IdP `clockToleranceSec`); default 0. */
  readonly clockToleranceSeconds?: number;
}

const isNonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.trim().length > 0;
const isNumericDate = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
// Deliberately loose: one @, something on each side, a dot in the domain. Qlik documents no stricter rule.
const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * True when `value` has the shape Qlik's `email` claim rule checks (`EMAIL_SHAPE`): one `@` with something
 * before it, and after it a dot with something on each side; no whitespace anywhere. The one implementation
 * of that rule, for the token checker and the identity mapping alike.
 */
export function isEmailShaped(value: string): boolean {
  // Visible ASCII (U+0021 to U+007E, the common case) is decided by this loop, which gives the regex's
  // answer: such a value holds no whitespace, so the regex only asks for one `@` past the start and a dot
  // inside the domain. Any other value goes to the regex. The loop is for the per-token path: after an
  // RSA signature the regex engine's code is out of the CPU caches (docs/performance.md).
  let at = -1;
  let domainDot = false;
  const last = value.length - 1;
  for (let i = 0; i <= last; i++) {
    const unit = value.charCodeAt(i);
    if (unit < 0x21 || unit > 0x7e) return EMAIL_SHAPE.test(value);
    if (unit === 0x40) {
      if (at !== -1) return false;
      at = i;
    } else if (unit === 0x2e && at !== -1 && i > at + 1 && i < last) domainDot = true;
  }
  return at > 0 && domainDot;
}

/**
 * Checks a decoded token against every Qlik rule and returns one verdict per rule,
 * passing or failing, so a tool can print the whole list.
 */
export function checkQlikToken(
  header: Readonly<Record<string, unknown>>,
  payload: Readonly<Record<string, unknown>>,
  expect: QlikTokenExpectations = {},
): QlikRuleResult[] {
  const results: QlikRuleResult[] = [];
  const rule = (id: string, ok: boolean, message: string, fix: string, severity: 'error' | 'warning' = 'error') =>
    results.push(ok ? { rule: id, ok, severity, message } : { rule: id, ok, severity, message, fix });

  // Header
  rule(
    'header.alg',
    header.alg === QLIK_JWT_ALGORITHM,
    `alg is ${QLIK_JWT_ALGORITHM} (found ${JSON.stringify(header.alg)})`,
    'Sign with an RSA key and RS256: Qlik documents RS256 only for its JWT identity provider, and never accepts HS*.',
  );
  rule(
    'header.kid.present',
    isNonEmptyString(header.kid),
    'kid is present in the header',
    "Set the header's kid to the key ID configured on the Qlik JWT identity provider.",
  );
  if (expect.keyId !== undefined && isNonEmptyString(header.kid)) {
    rule(
      'header.kid.matches',
      header.kid === expect.keyId,
      `kid matches the identity provider's key ID ${JSON.stringify(expect.keyId)}`,
      `Sign with kid ${JSON.stringify(expect.keyId)}, or register key ${JSON.stringify(header.kid)} on a Qlik JWT identity provider.`,
    );
  }
  rule(
    'header.typ',
    header.typ === undefined || header.typ === 'JWT',
    'typ is JWT (or absent)',
    'Set typ to "JWT".',
    'warning',
  );

  // Issuer and audience
  rule(
    'claim.iss.present',
    isNonEmptyString(payload.iss),
    'iss is present',
    'Set iss to the issuer configured on the Qlik JWT identity provider.',
  );
  if (expect.issuer !== undefined && isNonEmptyString(payload.iss)) {
    rule(
      'claim.iss.matches',
      payload.iss === expect.issuer,
      `iss matches the identity provider's issuer ${JSON.stringify(expect.issuer)}`,
      `Set iss to ${JSON.stringify(expect.issuer)} exactly (Qlik compares the whole string).`,
    );
  }
  const aud = payload.aud;
  rule(
    'claim.aud',
    aud === QLIK_JWT_AUDIENCE || (Array.isArray(aud) && aud.includes(QLIK_JWT_AUDIENCE)),
    `aud is "${QLIK_JWT_AUDIENCE}"`,
    `Set aud to "${QLIK_JWT_AUDIENCE}".`,
  );

  // Identity
  rule(
    'claim.sub',
    isNonEmptyString(payload.sub),
    'sub is a non-empty string',
    "Set sub to the user's stable, unique ID: it becomes the Qlik user's subject.",
  );
  rule('claim.subType', payload.subType === 'user', 'subType is "user"', 'Set subType to "user".');
  rule(
    'claim.name',
    isNonEmptyString(payload.name),
    'name is a non-empty string',
    "Set name to the user's display name.",
  );
  rule(
    'claim.email',
    typeof payload.email === 'string' && isEmailShaped(payload.email),
    'email is an email address',
    "Set email to the user's email address.",
  );
  rule(
    'claim.email_verified',
    payload.email_verified === true,
    `email_verified is the boolean true (found ${JSON.stringify(payload.email_verified)})`,
    typeof payload.email_verified === 'string'
      ? 'Send email_verified as the JSON boolean true, not the string "true" (qs-jwt sends a string).'
      : 'Send email_verified: true; Qlik needs it to map the user completely.',
  );
  const groups = payload.groups;
  rule(
    'claim.groups',
    groups === undefined || (Array.isArray(groups) && groups.every(isNonEmptyString)),
    'groups, when present, is an array of non-empty strings',
    'Send groups as a JSON array of group names, e.g. ["Sales", "Finance"].',
  );
  rule(
    'claim.group.misnamed',
    payload.group === undefined,
    'no "group" claim (Qlik reads "groups")',
    'Rename the "group" claim to "groups": Qlik ignores "group" (a qs-jwt habit).',
    'warning',
  );

  // Replay and time
  rule(
    'claim.jti',
    isNonEmptyString(payload.jti),
    'jti is present',
    'Add a unique jti (e.g. 32 random bytes, base64url): Qlik has required it since June 2022.',
  );
  rule(
    'claim.iat',
    isNumericDate(payload.iat),
    'iat is a number',
    'Add iat: the issue time in seconds since the epoch.',
  );
  rule(
    'claim.nbf.present',
    isNumericDate(payload.nbf),
    'nbf is present',
    'nbf is missing: Qlik has required it since June 2022. Set it to the issue time (or a few seconds before).',
  );
  rule(
    'claim.exp.present',
    isNumericDate(payload.exp),
    'exp is present',
    'Add exp: the expiry time in seconds since the epoch.',
  );
  // Lifetime counts from nbf; a token without nbf (already rejected above) is measured from iat, so
  // an old-style token like qs-jwt's "--expires 365d" is also told why its life is too long.
  const start = isNumericDate(payload.nbf) ? payload.nbf : isNumericDate(payload.iat) ? payload.iat : undefined;
  if (start !== undefined && isNumericDate(payload.exp)) {
    const from = isNumericDate(payload.nbf) ? 'nbf' : 'iat';
    const lifetime = payload.exp - start;
    rule('claim.exp.after_nbf', lifetime > 0, `exp is after ${from}`, `Set exp later than ${from}.`);
    rule(
      'claim.lifetime',
      lifetime <= QLIK_MAX_LIFETIME_SECONDS,
      `exp - ${from} is at most ${QLIK_MAX_LIFETIME_SECONDS} s (found ${lifetime} s)`,
      `Shorten the token's life: Qlik rejects tokens valid for more than 60 minutes (exp - nbf <= ${QLIK_MAX_LIFETIME_SECONDS}).`,
    );
  }
  if (expect.nowSeconds !== undefined) {
    const tolerance = expect.clockToleranceSeconds ?? 0;
    if (isNumericDate(payload.exp)) {
      rule(
        'time.not_expired',
        expect.nowSeconds < payload.exp + tolerance,
        'the token has not expired',
        'Mint a new token just before using it; tokens are short-lived on purpose.',
      );
    }
    if (isNumericDate(payload.nbf)) {
      rule(
        'time.not_before',
        payload.nbf <= expect.nowSeconds + tolerance,
        'nbf is not in the future',
        "Check the signer's clock, or back-date nbf by a few seconds to absorb clock skew.",
      );
    }
  }
  return results;
}

/** The failing `error`-severity rules of a check: what Qlik would reject the token for. */
export function qlikRejections(results: readonly QlikRuleResult[]): QlikRuleResult[] {
  return results.filter((r) => !r.ok && r.severity === 'error');
}
