/**
 * Hostile inputs shared by the property tests: claim values in every shape an identity provider or
 * API Gateway might hand over, request bodies that try to smuggle identity, and a fixed corpus of
 * known-bad payloads. Run counts are kept small so the whole set stays within seconds.
 */
import fc from 'fast-check';

/** Property-test run counts: bounded so a loaded 2-core CI box finishes them in seconds. */
export const RUNS = { cheap: 300, signing: 150, http: 60 } as const;

/** Names that live on Object.prototype: a plain-object lookup with one of them finds a function. */
export const PROTOTYPE_NAMES = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  '__defineGetter__',
] as const;

/** Field names a caller might try to set to choose its own identity. */
export const IDENTITY_KEYS = [
  'sub',
  'subType',
  'name',
  'email',
  'email_verified',
  'groups',
  'iss',
  'aud',
  'kid',
  'jti',
  'identity',
  'claims',
] as const;

const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(...PROTOTYPE_NAMES),
  fc.constantFrom('', ' ', '  \t\n', 'null', 'undefined', 'true', 'false', '[]', '{}', '[ ]', ','),
);

/** API Gateway HTTP API flattens arrays to "[a b]" strings; a JSON array in a string also happens. */
const listString = fc.oneof(
  fc.array(text, { maxLength: 6 }).map((values) => `[${values.join(' ')}]`),
  fc.array(text, { maxLength: 6 }).map((values) => JSON.stringify(values)),
  fc.array(text, { maxLength: 6 }).map((values) => values.join(',')),
);

/** One claim value of any shape. */
export const claimValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: text },
  { weight: 3, arbitrary: listString },
  { weight: 2, arbitrary: fc.array(fc.oneof(text, fc.integer(), fc.constant(null)), { maxLength: 6 }) },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null)) },
  { weight: 1, arbitrary: fc.dictionary(text, text, { maxKeys: 3 }) },
);

const emailLike = fc.oneof(
  { weight: 4, arbitrary: fc.emailAddress() },
  { weight: 1, arbitrary: fc.emailAddress().map((e) => ` ${e}\t`) },
  { weight: 2, arbitrary: claimValue },
);

/** Caller claims as an identity provider may send them (any subset, any shape). */
export const callerClaims: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    sub: fc.oneof({ weight: 4, arbitrary: text }, { weight: 1, arbitrary: claimValue }),
    oid: text,
    name: claimValue,
    preferred_username: claimValue,
    upn: emailLike,
    email: emailLike,
    email_verified: fc.oneof(fc.constant(true), fc.constant('true'), fc.constant(' TRUE '), claimValue),
    groups: claimValue,
    'cognito:groups': claimValue,
  },
  { requiredKeys: [] },
);

/** Caller claims that a typical provider would send, so that most runs do get a token. */
export const plausibleCallerClaims: fc.Arbitrary<Record<string, unknown>> = fc.record({
  sub: fc.oneof(fc.uuid(), fc.string({ minLength: 1, maxLength: 30 }), fc.constantFrom(...PROTOTYPE_NAMES)),
  name: fc.oneof(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }), fc.constantFrom(...PROTOTYPE_NAMES)),
  email: fc.emailAddress(),
  email_verified: fc.constantFrom(true, 'true'),
  groups: fc.oneof(
    fc.array(fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.constantFrom(...PROTOTYPE_NAMES)), {
      maxLength: 8,
    }),
    listString,
  ),
});

/** JSON text of an object tree whose keys include identity fields and prototype names at any depth. */
export const smugglingBodyText: fc.Arbitrary<string> = fc.letrec<{ value: string; object: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.jsonValue({ maxDepth: 1 }).map((v) => JSON.stringify(v) ?? 'null'),
    tie('object'),
    fc.array(tie('value'), { maxLength: 3 }).map((items) => `[${items.join(',')}]`),
  ),
  object: fc
    .array(
      fc.tuple(
        fc.oneof(fc.constantFrom(...IDENTITY_KEYS), fc.constantFrom(...PROTOTYPE_NAMES), fc.string({ maxLength: 8 })),
        tie('value'),
      ),
      { minLength: 1, maxLength: 4 },
    )
    // Written by hand so "__proto__" stays an own key in the text, as an attacker would send it.
    .map((pairs) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`),
})).object;

/** A request body: text, bytes (sent base64-encoded), with a content type. */
export interface HostileBody {
  readonly body: string | Uint8Array;
  readonly contentType: string | undefined;
}

const contentTypes = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'text/plain',
  'application/x-www-form-urlencoded',
  'application/jsonx',
  'multipart/form-data; boundary=x',
  undefined,
);

/** Any body an attacker might send. */
export const hostileBody: fc.Arbitrary<HostileBody> = fc.record({
  body: fc.oneof(
    { weight: 4, arbitrary: smugglingBodyText },
    { weight: 2, arbitrary: fc.json({ maxDepth: 3 }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: -5, max: 4000 }), smugglingBodyText)
        .map(([ttl, rest]) => `{"ttlSeconds":${ttl},${rest.slice(1)}`),
    },
    { weight: 2, arbitrary: fc.integer({ min: -5, max: 4000 }).map((ttl) => `{"ttlSeconds":${ttl}}`) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 200 }) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 600 }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.json({ maxDepth: 1 }), fc.constantFrom([0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf8, 0x88]))
        .map(([json, bad]) => new Uint8Array([...Buffer.from(json.slice(0, -1)), ...bad, ...Buffer.from('"}')])),
    },
    { weight: 1, arbitrary: fc.integer({ min: 8 * 1024 - 10, max: 20_000 }).map((n) => `{"x":"${'a'.repeat(n)}"}`) },
  ),
  contentType: fc.oneof(
    { weight: 4, arbitrary: fc.constant('application/json') },
    { weight: 1, arbitrary: contentTypes },
  ),
});

/** Fixed corpus of bodies that try to choose an identity or pollute prototypes. */
export const SMUGGLING_CORPUS: readonly string[] = [
  '{"sub":"admin"}',
  '{"ttlSeconds":60,"sub":"admin"}',
  '{"groups":["Admins"]}',
  '{"email":"ceo@example.com","email_verified":true}',
  '{"name":"Root"}',
  '{"__proto__":{"sub":"admin","groups":["Admins"]}}',
  '{"constructor":{"prototype":{"sub":"admin"}}}',
  '{"ttlSeconds":60,"__proto__":{"isAdmin":true}}',
  '{"ttlSeconds":{"__proto__":{"sub":"admin"}}}',
  '{"identity":{"sub":"admin"}}',
  '{"claims":{"groups":["Admins"]}}',
  '[{"sub":"admin"}]',
  '"sub=admin"',
  'sub=admin&groups=Admins',
  '{"ttlSeconds":60,"ttlSeconds":60,"sub":"admin"}',
  '{"ttlSeconds":"60"}',
  '{"ttlSeconds":1e400}',
  '{"ttlSeconds":-1}',
  '{"ttlSeconds":60.5}',
  'null',
  '[]',
  '0',
  '\u0000',
  '{"a":"\ud800"}',
];

/** Throws if some earlier input managed to add properties to Object.prototype. */
export function assertPrototypeClean(): void {
  const probe = {} as Record<string, unknown>;
  for (const key of [...IDENTITY_KEYS, 'isAdmin', 'x'])
    if (probe[key] !== undefined) throw new Error(`Object.prototype was polluted with ${key}`);
}
