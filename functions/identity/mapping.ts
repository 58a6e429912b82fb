/**
 * Maps a verified caller's claims to the Qlik identity a token will assert. The caller's
 * request body never reaches this module: only claims an identity provider signed.
 */

import { IdentityNotMappableError } from '../errors.js';
import { isEmailShaped, type QlikIdentity } from '../qlik/claims.js';
import type { IdentityMappingConfig } from '../runtime/config.js';
import { identityPresets } from './presets.js';
import { exactIdentityValue, IdentityRuleError, identityRuleBroken } from './rules.js';

/**
 * Claims of the verified caller token with their JSON types (functions/identity/caller.ts reads them from
 * the token API Gateway verified, not from API Gateway's flattened strings).
 */
export type CallerClaims = Readonly<Record<string, unknown>>;

/** The mapping with the preset's defaults filled in. */
export interface ResolvedIdentityMapping {
  readonly subClaims: readonly string[];
  readonly nameClaims: readonly string[];
  readonly emailClaims: readonly string[];
  readonly emailVerified: 'from-claim' | 'always-true';
  readonly emailVerifiedClaim: string | undefined;
  readonly groups: Omit<IdentityMappingConfig['groups'], 'claims'> & { readonly claims: readonly string[] };
  readonly overrides: IdentityMappingConfig['overrides'];
}

/** Fills a mapping's unset fields from its preset. Do it once, at cold start. */
export function resolveIdentityMapping(mapping: IdentityMappingConfig): ResolvedIdentityMapping {
  const preset = identityPresets[mapping.preset];
  return {
    subClaims: mapping.subClaims ?? preset.subClaims,
    nameClaims: mapping.nameClaims ?? preset.nameClaims,
    emailClaims: mapping.emailClaims ?? preset.emailClaims,
    emailVerified: mapping.emailVerified ?? 'from-claim',
    emailVerifiedClaim: mapping.emailVerifiedClaim ?? preset.emailVerifiedClaim,
    groups: { ...mapping.groups, claims: mapping.groups.claims ?? preset.groupClaims },
    overrides: mapping.overrides,
  };
}

/** The default `warn`: made once, not per token (docs/performance.md: the per-token path allocates as little as it can). */
const ignoreWarning = (_message: string) => {};

/**
 * Reads `record[key]` only when it is the record's own entry. Config records are plain objects, so a
 * plain lookup with a caller-chosen key such as "constructor" or "toString" would return what
 * Object.prototype holds (a function) instead of "not configured".
 */
function ownEntry<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/**
 * The first of `names` that holds a value, checked against the identity rules. Absent, `null` and `""`
 * mean "no value here, try the next claim"; any other value is used exactly or refused (a claim that
 * holds a bad value never silently falls through to the next one). `accept` may skip a valid string
 * that is not usable for this field (an Entra ID `upn` that is not an address).
 */
function firstClaim(claims: CallerClaims, names: readonly string[], accept?: (v: string) => boolean) {
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const raw = Object.hasOwn(claims, name) ? claims[name] : undefined;
    if (raw === undefined || raw === null || raw === '') continue;
    const value = exactIdentityValue(name, raw);
    if (accept === undefined || accept(value)) return value;
  }
  return undefined;
}

/**
 * Reads the group claim with its JSON type: an array of strings (each one a group, exactly), or one
 * string (one group, exactly: never split on spaces or commas, since group names may hold both).
 * Absent or `null` means no groups; any other type is refused.
 */
function groupClaimValues(claim: string, value: unknown): readonly string[] {
  if (value === undefined || value === null || value === '') return [];
  if (typeof value === 'string') return [value];
  if (!Array.isArray(value)) throw new IdentityRuleError(claim, 'json-string');
  for (let index = 0; index < value.length; index++)
    if (typeof value[index] !== 'string') throw new IdentityRuleError(`${claim}[${index}]`, 'json-string');
  return value as string[];
}

function parseBooleanClaim(value: unknown): boolean {
  // `true` and "true" first: no string copies for the values identity providers send.
  return value === true || value === 'true' || (typeof value === 'string' && value.trim().toLowerCase() === 'true');
}

/** Each configured allowlist as a Set, made on first use rather than per token. */
const allowSets = new WeakMap<readonly string[], ReadonlySet<string>>();

function allowSetOf(allow: readonly string[]): ReadonlySet<string> {
  let set = allowSets.get(allow);
  if (set === undefined) {
    set = new Set(allow);
    allowSets.set(allow, set);
  }
  return set;
}

/** Up to this many groups, duplicates are found by scanning the output; past it, by a Set. */
const SCAN_LIMIT = 16;

/** Applies the mapping table, prefix filter, allowlist, de-duplication and cap, in that order. */
function mapGroups(
  claim: string,
  raw: readonly string[],
  rules: ResolvedIdentityMapping['groups'],
  warn: (message: string) => void,
) {
  const allow = rules.allow ? allowSetOf(rules.allow) : undefined;
  const out: string[] = [];
  // Most callers have a few groups: a scan of those costs less than a Set per token.
  let seen: Set<string> | undefined;
  for (let index = 0; index < raw.length; index++) {
    const source = raw[index]!;
    let name: string | undefined = ownEntry(rules.map, source) ?? (rules.onlyMapped ? undefined : source);
    if (name === undefined) continue;
    if (rules.requirePrefix !== undefined) {
      if (!name.startsWith(rules.requirePrefix)) continue;
      if (rules.stripPrefix) name = name.slice(rules.requirePrefix.length);
    }
    if (name === '' || (allow && !allow.has(name))) continue;
    if (seen !== undefined ? seen.has(name) : out.includes(name)) continue;
    // Only names that go into the token are checked: a group the filters drop cannot change anyone. The
    // claim's name with the index is only put together for the error.
    const broken = identityRuleBroken(name);
    if (broken !== undefined) throw new IdentityRuleError(`${claim}[${index}]`, broken);
    out.push(name);
    if (seen !== undefined) seen.add(name);
    else if (out.length === SCAN_LIMIT) seen = new Set(out);
  }
  if (out.length > rules.max) {
    warn(`caller has ${out.length} groups; only the first ${rules.max} (identity.groups.max) go into the token`);
    return out.slice(0, rules.max);
  }
  return out;
}

/**
 * Builds the Qlik identity for a verified caller.
 * Every value is copied exactly (functions/identity/rules.ts): nothing is trimmed, split or normalised.
 * @throws IdentityNotMappableError (403) when no usable sub or email can be found, or the email is unverified;
 *   IdentityRuleError (403, a subclass naming the claim and the rule) when a value breaks an identity rule.
 */
export function mapCallerIdentity(
  claims: CallerClaims,
  mapping: ResolvedIdentityMapping,
  warn: (message: string) => void = ignoreWarning,
): QlikIdentity {
  const callerSub = firstClaim(claims, mapping.subClaims);
  if (callerSub === undefined) {
    throw new IdentityNotMappableError(
      `The caller token has no usable subject: none of the claims ${mapping.subClaims.join(', ')} holds a value.`,
    );
  }
  const override = ownEntry(mapping.overrides, callerSub);
  const email =
    override?.email !== undefined
      ? exactIdentityValue('identity.overrides.email', override.email)
      : firstClaim(claims, mapping.emailClaims, isEmailShaped);
  if (email === undefined) {
    throw new IdentityNotMappableError(
      `The caller token has no usable email address: none of the claims ${mapping.emailClaims.join(', ')} holds one.`,
    );
  }
  const emailVerified =
    mapping.emailVerified === 'always-true' ||
    override?.email !== undefined ||
    (mapping.emailVerifiedClaim !== undefined && parseBooleanClaim(claims[mapping.emailVerifiedClaim]));
  if (!emailVerified) {
    // Qlik may match an existing user by email; asserting an unverified address could hand that user over.
    throw new IdentityNotMappableError(
      `The caller's email address is not verified (claim ${mapping.emailVerifiedClaim ?? '(none)'} is not true).`,
    );
  }
  const name = override?.name ?? firstClaim(claims, mapping.nameClaims) ?? email;
  let groups: string[];
  if (override?.groups !== undefined) {
    groups = [...override.groups];
  } else {
    let claimName: string | undefined;
    for (const c of mapping.groups.claims)
      if (Object.hasOwn(claims, c) && claims[c] !== undefined) {
        claimName = c;
        break;
      }
    groups =
      claimName === undefined
        ? []
        : mapGroups(claimName, groupClaimValues(claimName, claims[claimName]), mapping.groups, warn);
  }
  // Configured overrides obey the same rules as claims (the config loader trims them; a value made of
  // invisible characters is still refused here).
  return {
    sub: override?.sub !== undefined ? exactIdentityValue('identity.overrides.sub', override.sub) : callerSub,
    name: override?.name !== undefined ? exactIdentityValue('identity.overrides.name', override.name) : name,
    email,
    emailVerified: true,
    groups:
      override?.groups !== undefined
        ? groups.map((g, i) => exactIdentityValue(`identity.overrides.groups[${i}]`, g))
        : groups,
  };
}
