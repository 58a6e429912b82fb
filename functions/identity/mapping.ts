/**
 * Maps a verified caller's claims to the Qlik identity a token will assert. The caller's
 * request body never reaches this module: only claims an identity provider signed.
 */

import { IdentityNotMappableError } from '../errors.js';
import type { QlikIdentity } from '../qlik/claims.js';
import type { IdentityMappingConfig } from '../runtime/config.js';
import { identityPresets } from './presets.js';

/** Claims of a verified caller token. API Gateway passes them all as strings; local tools may not. */
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

const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** A JSON array of strings or numbers starts like this; API Gateway's flattened `[a b c]` does not. */
const JSON_ARRAY_START = /^\[\s*(?:"|-?\d|\])/;

/**
 * Reads `record[key]` only when it is the record's own entry. Config records are plain objects, so a
 * plain lookup with a caller-chosen key such as "constructor" or "toString" would return what
 * Object.prototype holds (a function) instead of "not configured".
 */
function ownEntry<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function claimString(value: unknown): string | undefined {
  if (typeof value === 'string') {
    const trimmed = value.trim();
    return trimmed === '' ? undefined : trimmed;
  }
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function firstClaim(claims: CallerClaims, names: readonly string[], accept: (v: string) => boolean = () => true) {
  for (const name of names) {
    const value = claimString(claims[name]);
    if (value !== undefined && accept(value)) return value;
  }
  return undefined;
}

/**
 * Reads a list-valued claim in any shape it arrives in: a JSON array; a JSON array in a string;
 * API Gateway HTTP API's flattening of arrays, `"[a b c]"` (space-separated, so names containing
 * spaces cannot survive it: see docs/identity-mapping.md); a comma-separated string; one value.
 */
export function parseListClaim(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(claimString).filter((v): v is string => v !== undefined);
  const text = claimString(value);
  if (text === undefined) return [];
  if (text.startsWith('[') && text.endsWith(']')) {
    // API Gateway's "[a b c]" is the form every request behind an HTTP API brings, so it must not go
    // through JSON.parse: a thrown SyntaxError per request cost more than the rest of the mapping.
    if (JSON_ARRAY_START.test(text)) {
      try {
        const parsed: unknown = JSON.parse(text);
        if (Array.isArray(parsed)) return parseListClaim(parsed);
      } catch {
        // Looked like JSON but is not: read it as the flattened form below.
      }
    }
    return text.slice(1, -1).split(/\s+/).filter(Boolean);
  }
  if (text.includes(','))
    return text
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
  return [text];
}

function parseBooleanClaim(value: unknown): boolean {
  return value === true || (typeof value === 'string' && value.trim().toLowerCase() === 'true');
}

/** Applies the mapping table, prefix filter, allowlist, de-duplication and cap, in that order. */
function mapGroups(raw: readonly string[], rules: ResolvedIdentityMapping['groups'], warn: (message: string) => void) {
  const allow = rules.allow ? new Set(rules.allow) : undefined;
  const out: string[] = [];
  const seen = new Set<string>();
  for (const source of raw) {
    let name: string | undefined = ownEntry(rules.map, source) ?? (rules.onlyMapped ? undefined : source);
    if (name === undefined) continue;
    if (rules.requirePrefix !== undefined) {
      if (!name.startsWith(rules.requirePrefix)) continue;
      if (rules.stripPrefix) name = name.slice(rules.requirePrefix.length);
    }
    if (name === '' || (allow && !allow.has(name)) || seen.has(name)) continue;
    seen.add(name);
    out.push(name);
  }
  if (out.length > rules.max) {
    warn(`caller has ${out.length} groups; only the first ${rules.max} (identity.groups.max) go into the token`);
    return out.slice(0, rules.max);
  }
  return out;
}

/**
 * Builds the Qlik identity for a verified caller.
 * @throws IdentityNotMappableError (403) when no usable sub or email can be found, or the email is unverified.
 */
export function mapCallerIdentity(
  claims: CallerClaims,
  mapping: ResolvedIdentityMapping,
  warn: (message: string) => void = () => {},
): QlikIdentity {
  const callerSub = firstClaim(claims, mapping.subClaims);
  if (callerSub === undefined) {
    throw new IdentityNotMappableError(
      `The caller token has no usable subject: none of the claims ${mapping.subClaims.join(', ')} holds a value.`,
    );
  }
  const override = ownEntry(mapping.overrides, callerSub);
  const email = override?.email ?? firstClaim(claims, mapping.emailClaims, (v) => EMAIL_SHAPE.test(v));
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
    const claimName = mapping.groups.claims.find((c) => claims[c] !== undefined);
    groups = mapGroups(claimName === undefined ? [] : parseListClaim(claims[claimName]), mapping.groups, warn);
  }
  return { sub: override?.sub ?? callerSub, name, email, emailVerified: true, groups };
}
