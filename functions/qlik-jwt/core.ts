/**
 * Vends a Qlik JWT for a verified caller: claims -> Qlik identity -> Qlik claims -> signature.
 * Pure apart from its injected ports.
 */

import { type CallerClaims, mapCallerIdentity, type ResolvedIdentityMapping } from '../identity/mapping.js';
import { buildQlikClaims, QLIK_MAX_LIFETIME_SECONDS, type QlikJwtPayload } from '../qlik/claims.js';
import type { Clock } from '../runtime/clock.js';
import type { Config } from '../runtime/config.js';
import * as z from '../runtime/zod.js';
import { type SignerSource, signCompactJws, signCompactJwsNow } from '../signing/signer.js';

/**
 * The request body. The caller may only ask for a lifetime; identity fields are refused as
 * unknown fields, so a caller can never choose its own sub, name, email or groups.
 */
export const vendRequestSchema = z.strictObject({
  ttlSeconds: z.optional(
    z
      .number('ttlSeconds must be a number')
      .check(
        z.int('ttlSeconds must be a whole number of seconds'),
        z.minimum(1, 'ttlSeconds must be at least 1'),
        z.maximum(QLIK_MAX_LIFETIME_SECONDS, `ttlSeconds must be at most ${QLIK_MAX_LIFETIME_SECONDS} (Qlik's limit)`),
      ),
  ),
});
export type VendRequest = z.infer<typeof vendRequestSchema>;

/** The response body of `POST /qlik/jwt`. */
export interface VendResult {
  readonly token: string;
  /** ISO 8601 expiry. */
  readonly expiresAt: string;
  readonly expiresIn: number;
  readonly keyId: string;
}

/** Ports and policy for {@link vendQlikJwt}. */
export interface VendDependencies {
  readonly signers: SignerSource;
  readonly clock: Clock;
  readonly identity: ResolvedIdentityMapping;
  readonly qlik: Config['qlik'];
  readonly warn?: (message: string) => void;
  /** Told the claims of each signed token (for the audit line: sub, jti, exp); never the token. */
  readonly onIssued?: (claims: QlikJwtPayload) => void;
}

/**
 * Mints a Qlik JWT for the caller. The lifetime is the requested one clamped to policy
 * (`qlik.token.maxTtlSeconds`), or the policy default.
 * @throws IdentityNotMappableError, SigningKeyUnavailableError, SigningKeyInvalidError
 */
export async function vendQlikJwt(
  caller: CallerClaims,
  request: VendRequest,
  deps: VendDependencies,
): Promise<VendResult> {
  const identity = mapCallerIdentity(caller, deps.identity, deps.warn);
  const policy = deps.qlik.token;
  const ttlSeconds = Math.min(request.ttlSeconds ?? policy.defaultTtlSeconds, policy.maxTtlSeconds);
  // A key held fresh in memory and signed in this process: no await on the way (per-token cost, docs/performance.md).
  const key = deps.signers.ready?.() ?? (await deps.signers.current());
  const issuedAtSeconds = Math.floor(deps.clock.nowMs() / 1000);
  const claims = buildQlikClaims(identity, {
    issuer: key.issuer ?? deps.qlik.issuer,
    issuedAtSeconds,
    ttlSeconds,
    notBeforeSkewSeconds: policy.notBeforeSkewSeconds,
  });
  const token = signCompactJwsNow(claims, key) ?? (await signCompactJws(claims, key));
  deps.onIssued?.(claims);
  return {
    token,
    expiresAt: isoSeconds(claims.exp),
    expiresIn: claims.exp - issuedAtSeconds,
    keyId: key.kid,
  };
}

/** The last expiry formatted: tokens issued within the same second share it, so most tokens need no Date. */
let lastExp = -1;
let lastIso = '';

/** `seconds` since the epoch as ISO 8601 (`toISOString`), remembered for the next token of the same second. */
function isoSeconds(seconds: number): string {
  if (seconds !== lastExp) {
    lastIso = new Date(seconds * 1000).toISOString();
    lastExp = seconds;
  }
  return lastIso;
}
