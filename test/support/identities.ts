/**
 * Generated caller identities for the "exact or refused" property (issue 12): Unicode, spaces, brackets,
 * commas, quotes, invisible characters at the edges and inside, very long values, 0 to 500 groups; and an
 * independent model of the identity rules to judge each answer by (docs/identity-mapping.md).
 */
import fc from 'fast-check';

/** Characters that tempt a parser or a normaliser. */
const TRICKY = [' ', '  ', '[', ']', ',', '"', "'", '\\', '{', '}', ':', '@', '.', '|', '/', '\u00e9', '\u65e5', '😀'];
/** Characters the identity rules refuse at the edges or anywhere. */
const INVISIBLE = [
  '\t',
  '\n',
  '\u00a0',
  '\ufeff',
  '\u200b',
  '\u200d',
  '\u2028',
  '\u2029',
  '\u202e',
  '\u3000',
  '\u0000',
];

const piece = fc.oneof(
  { weight: 6, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }) },
  { weight: 3, arbitrary: fc.constantFrom(...TRICKY) },
  { weight: 1, arbitrary: fc.constantFrom(...INVISIBLE) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 4 }) },
);

/** A value: mostly plausible, sometimes hostile at an edge, sometimes very long. */
export const identityText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.array(piece, { minLength: 1, maxLength: 5 }).map((p) => p.join('')) },
  {
    // Inner trickiness between visible ends: these should mostly be issued, exactly.
    weight: 12,
    arbitrary: fc
      .tuple(
        fc.constantFrom('a', 'Z', '7', 'é', '日'),
        fc.array(piece, { maxLength: 4 }),
        fc.constantFrom('x', '9', ']'),
      )
      .map(([first, middle, last]) => first + middle.join('') + last),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...INVISIBLE, ' '), fc.string({ minLength: 1, maxLength: 10 }), fc.boolean())
      .map(([edge, core, before]) => (before ? edge + core : core + edge)),
  },
  { weight: 1, arbitrary: fc.string({ minLength: 500, maxLength: 2000 }) },
);

/** A caller's identity claims as its provider signs them. */
export interface GeneratedIdentity {
  readonly sub: string;
  readonly name: string;
  readonly email: string;
  readonly groups: readonly string[];
}

const groupName = fc.oneof(
  { weight: 3, arbitrary: fc.array(piece, { minLength: 1, maxLength: 3 }).map((p) => p.join('')) },
  {
    weight: 30,
    arbitrary: fc
      .tuple(
        fc.constantFrom('G', 'Finance', '[', 'q'),
        fc.array(piece, { maxLength: 2 }),
        fc.constantFrom('s', ']', '1'),
      )
      .map(([first, middle, last]) => first + middle.join('') + last),
  },
  { weight: 1, arbitrary: identityText },
);

/** 0 to 500 groups; large lists are rarer so 10,000 runs stay quick. */
export const generatedIdentity: fc.Arbitrary<GeneratedIdentity> = fc.record({
  sub: identityText,
  name: identityText,
  email: fc.tuple(identityText, fc.constantFrom('example.com', 'exämple.org', 'x.io')).map(([l, d]) => `${l}@${d}`),
  groups: fc.oneof(
    { weight: 8, arbitrary: fc.array(groupName, { maxLength: 8 }) },
    { weight: 1, arbitrary: fc.array(groupName, { minLength: 400, maxLength: 500 }) },
  ),
});

/** The independent model of the identity rules (functions/identity/rules.ts is the implementation). */
const BROKEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]|^\s|\s$/u;
const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/**
 * What the service must assert for `identity` under the generic preset, or undefined when it must refuse.
 * Groups: exact, first occurrence kept, empty names skipped, at most `maxGroups`.
 */
export function expectedIdentity(identity: GeneratedIdentity, maxGroups: number): GeneratedIdentity | undefined {
  const { sub, name, email } = identity;
  if ([sub, name, email].some((v) => v === '' || BROKEN.test(v)) || !EMAIL_SHAPE.test(email)) return undefined;
  const groups = [...new Set(identity.groups.filter((g) => g !== ''))];
  if (groups.some((g) => BROKEN.test(g))) return undefined;
  return { sub, name, email, groups: groups.slice(0, maxGroups) };
}
