/**
 * The identity rules: a value that becomes a Qlik `sub`, `name`, `email` or group name is copied byte
 * for byte, or refused. Nothing here trims, case-folds or Unicode-normalises, because any such step can
 * turn two different callers (`"demo-user"` and `"demo-user\u00a0"`) into one Qlik user.
 * docs/identity-mapping.md ("Exact or refused") lists the rules; docs/security.md says why.
 */
import { IdentityNotMappableError } from '../errors.js';

/** Stable names of the identity rules; they appear in 403 `IDENTITY_NOT_MAPPABLE` problems as `rule`. */
export type IdentityRule =
  /** The claim is not a JSON string (RFC 7519 §4.1.2: `sub` is a StringOrURI; OIDC Core §5.1: name, email are strings). */
  | 'json-string'
  /** Leading or trailing whitespace (any Unicode White_Space, NBSP and BOM included). */
  | 'edge-whitespace'
  /** A character of Unicode category Cc, Cf, Zl, Zp or an unpaired surrogate (Cs), anywhere in the value. */
  | 'control-or-format-character'
  /** An empty string where a value must be (a group name, a configured override). */
  | 'empty-value';

/**
 * Leading or trailing whitespace. `\s` in a `u` regex is Unicode White_Space plus U+FEFF (BOM), so it
 * covers TAB, NBSP, U+2000-U+200A, U+3000 and the BOM; `\p{Zs}` is listed for clarity.
 */
const EDGE_WHITESPACE = /^[\s\p{Zs}]|[\s\p{Zs}]$/u;
/**
 * Cc (C0/C1 controls, TAB, LF), Cf (format: BOM, zero-width space and joiners, bidi controls), Zl, Zp
 * (line and paragraph separators), and Cs, which in a `u` regex matches only an unpaired surrogate: a
 * string that cannot be encoded as UTF-8 without replacing it, i.e. without changing it.
 */
const CONTROL_OR_FORMAT = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

const RULE_TEXT: Record<IdentityRule, string> = {
  'json-string': 'the value must be a JSON string',
  'edge-whitespace': 'the value must not start or end with whitespace (it is never trimmed)',
  'control-or-format-character':
    'the value must not contain control, format or separator characters (Unicode Cc, Cf, Zl, Zp) or unpaired surrogates',
  'empty-value': 'the value must not be empty',
};

/** A caller whose identity value breaks an identity rule (403 `IDENTITY_NOT_MAPPABLE`, with `claim` and `rule`). */
export class IdentityRuleError extends IdentityNotMappableError {
  constructor(
    /** Where the value came from: a claim name (`email`, `groups[3]`) or a configuration path. */
    readonly claim: string,
    readonly rule: IdentityRule,
  ) {
    // The value itself is never echoed: it is personal data and may carry terminal or log control characters.
    super(`The caller's ${describeClaim(claim)} breaks identity rule "${rule}": ${RULE_TEXT[rule]}.`);
  }
}

/** Claim names come from configuration, but bound and escape them anyway: they end up in logs. */
function describeClaim(claim: string): string {
  return `claim ${JSON.stringify(claim.length > 120 ? `${claim.slice(0, 120)}…` : claim)}`;
}

/**
 * Printable ASCII (U+0020 to U+007E), not empty, no space at either end. Such a value breaks no rule:
 * printable ASCII holds no Cc, Cf, Zl, Zp or surrogate, and its only White_Space (and only Zs) character is
 * U+0020. Per token this one small loop replaces the two Unicode-property regexes for the common case (they
 * still decide every other value), because those cost several microseconds per claim when the CPU caches
 * are cold after an RSA signature (docs/performance.md).
 */
function isPlainAscii(value: string): boolean {
  // A loop rather than /^[!-~](?:[ -~]*[!-~])?$/: after an RSA signature the regex engine's code is out of
  // the CPU caches, and a loop inlined into the caller costs less than a call into it (docs/performance.md).
  const last = value.length - 1;
  if (last < 0 || value.charCodeAt(0) === 0x20 || value.charCodeAt(last) === 0x20) return false;
  for (let i = 0; i <= last; i++) {
    const unit = value.charCodeAt(i);
    if (unit < 0x20 || unit > 0x7e) return false;
  }
  return true;
}

/** The rule `value` breaks, or undefined when it may go into a Qlik identity unchanged. */
export function identityRuleBroken(value: string): IdentityRule | undefined {
  if (isPlainAscii(value)) return undefined;
  if (CONTROL_OR_FORMAT.test(value)) return 'control-or-format-character';
  if (EDGE_WHITESPACE.test(value)) return 'edge-whitespace';
  return undefined;
}

/**
 * Returns `value` unchanged when it may become part of a Qlik identity.
 * @throws IdentityRuleError naming `claim` and the rule otherwise.
 */
export function exactIdentityValue(claim: string, value: unknown): string {
  if (typeof value !== 'string') throw new IdentityRuleError(claim, 'json-string');
  if (value === '') throw new IdentityRuleError(claim, 'empty-value');
  const broken = identityRuleBroken(value);
  if (broken !== undefined) throw new IdentityRuleError(claim, broken);
  return value;
}
