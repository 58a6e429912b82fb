/**
 * identityRuleBroken answers printable-ASCII values without its Unicode regexes (a per-token fast path).
 * These tests pin that the answer is the regexes' answer for every value: the fast path may only be faster.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { identityRuleBroken } from '../../../functions/identity/rules.js';

/** The rules as docs/identity-mapping.md states them, as the two regexes alone. */
function reference(value: string) {
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u.test(value)) return 'control-or-format-character';
  if (/^[\s\p{Zs}]|[\s\p{Zs}]$/u.test(value)) return 'edge-whitespace';
  return undefined;
}

const SAMPLES = [0x00, 0x09, 0x0a, 0x1f, 0x20, 0x21, 0x41, 0x7e, 0x7f, 0x85, 0xa0, 0xad, 0x2028, 0xfeff, 0xd800];

describe('Identity rules: the ASCII fast path', () => {
  it('gives the same verdict as the regexes for every one- and two-unit value over the boundary characters', () => {
    // Prepare
    const units = [...Array.from({ length: 0x80 }, (_, i) => i), ...SAMPLES];
    const values = [''];
    for (const a of units) {
      values.push(String.fromCharCode(a));
      for (const b of SAMPLES) values.push(String.fromCharCode(a, b), String.fromCharCode(b, a));
    }

    // Act
    const differing = values.filter((v) => identityRuleBroken(v) !== reference(v));

    // Assess
    expect(values.length).toBeGreaterThan(4000);
    expect(differing.map((v) => [...v].map((c) => c.codePointAt(0)))).toEqual([]);
  });

  it('gives the same verdict as the regexes for 20,000 generated values (ASCII, Unicode and lone surrogates)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'grapheme-ascii', maxLength: 40 }),
          fc.string({ unit: 'binary', maxLength: 40 }),
          fc.string({
            unit: fc.constantFrom(' ', 'a', '\t', '\u00a0', '\u200b', '\u007f', '~', '\ud800'),
            maxLength: 8,
          }),
        ),
        (value) => {
          expect(identityRuleBroken(value)).toBe(reference(value));
        },
      ),
      { numRuns: 20_000 },
    );
  });
});
