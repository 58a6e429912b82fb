import { describe, expect, it, vi } from 'vitest';
import { IdentityNotMappableError } from '../../../functions/errors.js';
import { mapCallerIdentity, parseListClaim, resolveIdentityMapping } from '../../../functions/identity/mapping.js';
import { parseConfig } from '../../../functions/runtime/config.js';

function mappingFor(identity: Record<string, unknown>) {
  return resolveIdentityMapping(
    parseConfig({ qlik: { issuer: 'i' }, signing: { backend: 'file', privateKeyPath: 'k' }, identity }).identity,
  );
}

// Claims as API Gateway HTTP API hands them over: every value a string, arrays as "[a b]".
const presetCases: Array<
  [preset: string, extra: Record<string, unknown>, claims: Record<string, string>, expected: object]
> = [
  [
    'cognito',
    {},
    {
      sub: 'c0ffee-1',
      'cognito:username': 'ada',
      email: 'ada@example.com',
      email_verified: 'true',
      'cognito:groups': '[admins sales]',
    },
    { sub: 'c0ffee-1', name: 'ada', email: 'ada@example.com', groups: ['admins', 'sales'] },
  ],
  [
    'entra-id',
    { emailVerified: 'always-true' },
    { sub: 'pairwise-xyz', oid: '7d9c-oid', name: 'Ada L', upn: 'ada@contoso.com', groups: '[g-1 g-2]' },
    { sub: '7d9c-oid', name: 'Ada L', email: 'ada@contoso.com', groups: ['g-1', 'g-2'] },
  ],
  [
    'okta',
    {},
    { sub: '00u1', name: 'Ada', email: 'ada@example.com', email_verified: 'true', groups: '[Everyone Sales]' },
    { sub: '00u1', name: 'Ada', email: 'ada@example.com', groups: ['Everyone', 'Sales'] },
  ],
  [
    'auth0',
    { groups: { claims: ['https://example.com/groups'] } },
    {
      sub: 'auth0|1',
      nickname: 'ada',
      email: 'ada@example.com',
      email_verified: 'true',
      'https://example.com/groups': '[a]',
    },
    { sub: 'auth0|1', name: 'ada', email: 'ada@example.com', groups: ['a'] },
  ],
  [
    'keycloak',
    {},
    { sub: 'kc-1', preferred_username: 'ada', email: 'ada@example.com', email_verified: 'true', groups: '[/team]' },
    { sub: 'kc-1', name: 'ada', email: 'ada@example.com', groups: ['/team'] },
  ],
  [
    'onelogin',
    { emailVerifiedClaim: 'custom_email_verified' },
    { sub: '42', name: 'Ada', email: 'ada@example.com', custom_email_verified: 'true' },
    { sub: '42', name: 'Ada', email: 'ada@example.com', groups: [] },
  ],
];

describe('Function: mapCallerIdentity', () => {
  it.each(presetCases)('maps a %s caller with the preset’s claim names', (preset, extra, claims, expected) => {
    const identity = mapCallerIdentity(claims, mappingFor({ preset, ...extra }));
    expect(identity).toEqual({ ...expected, emailVerified: true });
  });

  it('falls back through the ordered email claims, skipping values that are not addresses', () => {
    const mapping = mappingFor({ preset: 'entra-id', emailVerified: 'always-true' });
    const identity = mapCallerIdentity(
      { oid: 'o', email: '', upn: 'not-an-address', preferred_username: 'ada@contoso.com' },
      mapping,
    );
    expect(identity.email).toBe('ada@contoso.com');
  });

  it.each([
    ['no subject claim', { email: 'a@example.com', email_verified: 'true' }, /no usable subject/],
    ['a blank subject', { sub: '  ', email: 'a@example.com', email_verified: 'true' }, /no usable subject/],
    ['no email', { sub: 's', email_verified: 'true' }, /no usable email/],
    ['an unverified email', { sub: 's', email: 'a@example.com', email_verified: 'false' }, /not verified/],
    ['no email_verified claim', { sub: 's', email: 'a@example.com' }, /not verified/],
  ])('refuses a caller with %s (403)', (_case, claims, message) => {
    const call = () => mapCallerIdentity(claims, mappingFor({}));
    expect(call).toThrow(IdentityNotMappableError);
    expect(call).toThrow(message);
  });

  it('applies the mapping table, prefix filter with stripping, allowlist and de-duplication in order', () => {
    const mapping = mappingFor({
      groups: {
        map: { 'guid-1': 'qlik-Sales', 'guid-2': 'qlik-Finance' },
        requirePrefix: 'qlik-',
        stripPrefix: true,
        allow: ['Sales', 'Finance', 'HR'],
      },
    });
    const identity = mapCallerIdentity(
      {
        sub: 's',
        email: 'a@example.com',
        email_verified: true,
        groups: ['guid-1', 'guid-2', 'other', 'qlik-HR', 'qlik-Ops', 'qlik-Sales'],
      },
      mapping,
    );
    expect(identity.groups).toEqual(['Sales', 'Finance', 'HR']);
  });

  it('drops unmapped groups when onlyMapped is set (Entra ID object IDs)', () => {
    const mapping = mappingFor({ groups: { map: { 'guid-1': 'Sales' }, onlyMapped: true } });
    expect(
      mapCallerIdentity(
        { sub: 's', email: 'a@example.com', email_verified: 'true', groups: '[guid-1 guid-9]' },
        mapping,
      ).groups,
    ).toEqual(['Sales']);
  });

  it('caps the number of groups and warns', () => {
    const warnings: string[] = [];
    const groups = Array.from({ length: 10 }, (_, i) => `g${i}`);
    const identity = mapCallerIdentity(
      { sub: 's', email: 'a@example.com', email_verified: 'true', groups },
      mappingFor({ groups: { max: 3 } }),
      (m) => warnings.push(m),
    );
    expect(identity.groups).toEqual(['g0', 'g1', 'g2']);
    expect(warnings[0]).toMatch(/10 groups; only the first 3/);
  });

  it('applies a per-user override keyed by the caller’s subject', () => {
    const mapping = mappingFor({
      overrides: { 'u-1': { sub: 'DOMAIN\\ada', name: 'Ada (Qlik)', groups: ['Admins'] } },
    });
    const identity = mapCallerIdentity(
      { sub: 'u-1', email: 'ada@example.com', email_verified: 'true', groups: '[x]' },
      mapping,
    );
    expect(identity).toEqual({
      sub: 'DOMAIN\\ada',
      name: 'Ada (Qlik)',
      email: 'ada@example.com',
      emailVerified: true,
      groups: ['Admins'],
    });
  });

  it('uses the email as the display name when no name claim is present', () => {
    expect(
      mapCallerIdentity(
        { sub: 's', email: 'a@example.com', email_verified: 'true' },
        mappingFor({ nameClaims: ['name'] }),
      ).name,
    ).toBe('a@example.com');
  });
});

describe('Function: parseListClaim', () => {
  it.each([
    [
      ['a', 'b'],
      ['a', 'b'],
    ],
    ['[a b c]', ['a', 'b', 'c']],
    ['["Sales EMEA","HR"]', ['Sales EMEA', 'HR']],
    ['a, b ,c', ['a', 'b', 'c']],
    ['solo', ['solo']],
    ['[]', []],
    ['', []],
    [undefined, []],
    [42, ['42']],
    ['[123 456]', ['123', '456']],
    ['[7]', ['7']],
    ['[ "x y" ]', ['x y']],
    ['["unterminated]', ['"unterminated']],
  ])('reads %j as %j', (input, expected) => {
    expect(parseListClaim(input)).toEqual(expected);
  });

  it("reads API Gateway's flattened [a b c] without trying it as JSON, so no SyntaxError is thrown per request", () => {
    const parse = vi.spyOn(JSON, 'parse');
    try {
      expect(parseListClaim('[Sales Finance]')).toEqual(['Sales', 'Finance']);
      expect(parse).not.toHaveBeenCalled();
      parseListClaim('["Sales","Finance"]');
      expect(parse).toHaveBeenCalledTimes(1);
    } finally {
      parse.mockRestore();
    }
  });
});
