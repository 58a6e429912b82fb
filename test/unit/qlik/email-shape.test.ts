/**
 * isEmailShaped answers visible-ASCII values with a loop instead of its regex (a per-token fast path: the
 * identity mapping calls it for every token). These tests pin that its answer is the regex's answer for
 * every value: the fast path may only be faster.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isEmailShaped } from '../../../functions/qlik/claims.js';

/** Qlik's email claim rule as the checker has always stated it: the regex alone. */
const reference = (value: string) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value);

describe('Qlik claim rules: the email shape', () => {
  it('gives the regex verdict for every value of up to five units over @, dot, letters and whitespace', () => {
    // Prepare: every string of length 0 to 5 over these units (9,331 values;
    // 5 covers "a@b.c", every misplaced dot or @, and whitespace or non-ASCII in each position).
    const units = ['a', '@', '.', ' ', '\u00a0', 'é'];
    const values = [''];
    let previous = [''];
    for (let length = 1; length <= 5; length++) {
      const next: string[] = [];
      for (const prefix of previous) for (const unit of units) next.push(prefix + unit);
      values.push(...next);
      previous = next;
    }

    // Act
    const differing = values.filter((v) => isEmailShaped(v) !== reference(v));

    // Assess
    expect(values.filter(reference).length).toBeGreaterThan(20);
    expect(differing).toEqual([]);
  });

  it('gives the regex verdict for the edges of visible ASCII and for plain addresses', () => {
    const values = [
      'ada@example.com',
      'ada@example.',
      'ada@.com',
      '@example.com',
      'ada@example..com',
      'a.b@c',
      'a.b@c.d',
      'ada@@example.com',
      'ada@example.com\u007f',
      'ada@example.com\u001f',
      'ada@exa\tmple.com',
      'ada@exa~mple.c!m',
      '!@!.!',
    ];
    expect(values.map(isEmailShaped)).toEqual(values.map(reference));
  });

  it('gives the regex verdict for 20,000 generated values', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'grapheme-ascii', maxLength: 30 }),
          fc.string({ unit: 'binary', maxLength: 30 }),
          fc.string({
            unit: fc.constantFrom('a', '@', '.', ' ', '\t', '\u2028', '\u007f', '~', '\ud800'),
            maxLength: 10,
          }),
          fc
            .tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }))
            .map(([local, host, tld]) => `${local}@${host}.${tld}`),
        ),
        (value) => {
          expect(isEmailShaped(value)).toBe(reference(value));
        },
      ),
      { numRuns: 20_000 },
    );
  });
});
