import { describe, expect, it } from 'vitest';
import { IdentityNotMappableError } from '../../../functions/errors.js';
import { mapCallerIdentity, resolveIdentityMapping } from '../../../functions/identity/mapping.js';
import { IdentityRuleError } from '../../../functions/identity/rules.js';
import { parseConfig } from '../../../functions/runtime/config.js';

function mappingFor(identity: Record<string, unknown>) {
  return resolveIdentityMapping(
    parseConfig({ qlik: { issuer: 'i' }, signing: { backend: 'file', privateKeyPath: 'k' }, identity }).identity,
  );
}

// Claims as the caller's token carries them (functions/identity/caller.ts reads them with their JSON types).
const presetCases: Array<
  [preset: string, extra: Record<string, unknown>, claims: Record<string, unknown>, expected: object]
> = [
  [
    'cognito',
    {},
    {
      sub: 'c0ffee-1',
      'cognito:username': 'ada',
      email: 'ada@example.com',
      email_verified: 'true',
      'cognito:groups': ['admins', 'sales'],
    },
    { sub: 'c0ffee-1', name: 'ada', email: 'ada@example.com', groups: ['admins', 'sales'] },
  ],
  [
    'entra-id',
    { emailVerified: 'always-true' },
    { sub: 'pairwise-xyz', oid: '7d9c-oid', name: 'Ada L', upn: 'ada@contoso.com', groups: ['g-1', 'g-2'] },
    { sub: '7d9c-oid', name: 'Ada L', email: 'ada@contoso.com', groups: ['g-1', 'g-2'] },
  ],
  [
    'okta',
    {},
    { sub: '00u1', name: 'Ada', email: 'ada@example.com', email_verified: 'true', groups: ['Everyone', 'Sales'] },
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
      'https://example.com/groups': ['a'],
    },
    { sub: 'auth0|1', name: 'ada', email: 'ada@example.com', groups: ['a'] },
  ],
  [
    'keycloak',
    {},
    { sub: 'kc-1', preferred_username: 'ada', email: 'ada@example.com', email_verified: 'true', groups: ['/team'] },
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
    ['an empty subject', { sub: '', email: 'a@example.com', email_verified: 'true' }, /no usable subject/],
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
        { sub: 's', email: 'a@example.com', email_verified: 'true', groups: ['guid-1', 'guid-9'] },
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
      { sub: 'u-1', email: 'ada@example.com', email_verified: 'true', groups: ['x'] },
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

describe('Function: mapCallerIdentity (exact or refused)', () => {
  const base = { sub: 'demo-user', name: 'Demo', email: 'demo@example.com', email_verified: true };

  // Regression (issue 12, finding 1): API Gateway's "[Finance Admins Sales]" was split on whitespace, so a
  // caller in group "Finance Admins" got the groups "Finance" and "Admins".
  it('keeps every group name of an array claim exactly, spaces, brackets, commas and quotes included', () => {
    const groups = ['Finance Admins', 'Sales', '[EMEA]', 'a, b', '"quoted"', 'Ünïcødé 日本'];
    expect(mapCallerIdentity({ ...base, groups }, mappingFor({})).groups).toEqual(groups);
  });

  it('keeps the first of each duplicate group however many groups the caller has', () => {
    // Twenty groups, then repeats of early and late ones: the de-duplication scans a few groups and switches
    // to a Set past sixteen (mapping.ts), and both must catch every repeat.
    const unique = Array.from({ length: 20 }, (_, i) => `g${i}`);
    const groups = [...unique.slice(0, 10), 'g3', ...unique.slice(10), 'g17', 'g0', 'g19', 'g15'];
    expect(mapCallerIdentity({ ...base, groups }, mappingFor({})).groups).toEqual(unique);
  });

  it('names the position of a group that breaks a rule in the claim it came from', () => {
    // Index 2 of the claim, though the duplicate at index 1 is dropped before it.
    const call = () => mapCallerIdentity({ ...base, groups: ['Sales', 'Sales', 'HR '] }, mappingFor({}));
    expect(call).toThrow(expect.objectContaining({ claim: 'groups[2]', rule: 'edge-whitespace' }));
  });

  it('reads a string group claim as one group, never splitting it on spaces or commas', () => {
    expect(mapCallerIdentity({ ...base, groups: '[Finance Admins Sales]' }, mappingFor({})).groups).toEqual([
      '[Finance Admins Sales]',
    ]);
    expect(mapCallerIdentity({ ...base, groups: 'Sales, EMEA' }, mappingFor({})).groups).toEqual(['Sales, EMEA']);
  });

  // Regression (issue 12, finding 2): values were trimmed, so "demo-user\u00a0" became "demo-user".
  it.each([
    ['sub', 'demo-user\u00a0', 'edge-whitespace'],
    ['sub', '\ufeffdemo-user', 'control-or-format-character'],
    ['sub', ' demo-user', 'edge-whitespace'],
    ['sub', 'demo-user\t', 'control-or-format-character'],
    ['sub', 'demo-user\u3000', 'edge-whitespace'],
    ['sub', 'demo\u200buser', 'control-or-format-character'],
    ['sub', 'demo\u2028user', 'control-or-format-character'],
    ['sub', 'demo\u2029user', 'control-or-format-character'],
    ['sub', 'demo\u202euser', 'control-or-format-character'],
    ['sub', 'demo\ud800user', 'control-or-format-character'],
    ['sub', 42, 'json-string'],
    ['name', 'Demo ', 'edge-whitespace'],
    ['name', true, 'json-string'],
    ['email', 'demo@example.com ', 'edge-whitespace'],
    ['email', '\u00a0demo@example.com', 'edge-whitespace'],
    ['groups', ['Admins '], 'edge-whitespace'],
    ['groups', ['Admins\u00a0'], 'edge-whitespace'],
    ['groups', ['Sales', 7], 'json-string'],
    ['groups', { a: 1 }, 'json-string'],
  ])('refuses %s %j with 403 naming the claim and rule %s', (claim, value, rule) => {
    const call = () => mapCallerIdentity({ ...base, [claim]: value }, mappingFor({}));
    expect(call).toThrow(IdentityRuleError);
    try {
      call();
    } catch (error) {
      expect(error).toMatchObject({ status: 403, code: 'IDENTITY_NOT_MAPPABLE', rule });
      expect((error as IdentityRuleError).claim.startsWith(claim)).toBe(true);
      expect((error as Error).message).toContain(rule);
      // The value itself never appears in the message.
      if (typeof value === 'string') expect((error as Error).message).not.toContain(value);
    }
  });

  it('never falls through to the next claim when a claim holds a value that breaks a rule', () => {
    const mapping = mappingFor({ preset: 'entra-id', emailVerified: 'always-true' });
    expect(() => mapCallerIdentity({ oid: ' o-1', sub: 'pairwise' }, mapping)).toThrow(/"oid".*edge-whitespace/);
  });

  it('accepts identity values with inner spaces, non-Latin letters and emoji unchanged', () => {
    const identity = mapCallerIdentity(
      { ...base, sub: 'Jöns Ågren 😀', name: 'Jöns  Ågren', groups: ['Sales  EMEA'] },
      mappingFor({}),
    );
    expect(identity).toMatchObject({ sub: 'Jöns Ågren 😀', name: 'Jöns  Ågren', groups: ['Sales  EMEA'] });
  });
});
