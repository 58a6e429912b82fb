import { describe, expect, it } from 'vitest';
import {
  buildQlikClaims,
  checkQlikToken,
  QLIK_JWT_AUDIENCE,
  type QlikIdentity,
  qlikJwtHeader,
  qlikRejections,
} from '../../../functions/qlik/claims.js';

const identity: QlikIdentity = {
  sub: 'user-1',
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  emailVerified: true,
  groups: ['Sales', 'Finance'],
};
const NOW = 1_795_262_400; // 2026-11-21T12:00:00Z

function validToken() {
  const payload = buildQlikClaims(identity, {
    issuer: 'https://issuer.example',
    issuedAtSeconds: NOW,
    ttlSeconds: 300,
    notBeforeSkewSeconds: 30,
  });
  return {
    header: { ...qlikJwtHeader('kid-1') } as Record<string, unknown>,
    payload: { ...payload } as Record<string, unknown>,
  };
}

describe('Function: buildQlikClaims', () => {
  it('builds every claim Qlik requires, with nbf back-dated by the skew and exp after the ttl', () => {
    // Act
    const claims = buildQlikClaims(identity, {
      issuer: 'iss',
      issuedAtSeconds: NOW,
      ttlSeconds: 300,
      notBeforeSkewSeconds: 30,
    });
    // Assess
    expect(claims).toMatchObject({
      iss: 'iss',
      aud: QLIK_JWT_AUDIENCE,
      sub: 'user-1',
      subType: 'user',
      name: 'Ada Lovelace',
      email: 'ada@example.com',
      email_verified: true,
      groups: ['Sales', 'Finance'],
      iat: NOW,
      nbf: NOW - 30,
      exp: NOW + 300,
    });
    expect(claims.jti).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
  });

  it('gives every token a different jti', () => {
    const jtis = new Set(
      Array.from(
        { length: 200 },
        () =>
          buildQlikClaims(identity, { issuer: 'i', issuedAtSeconds: NOW, ttlSeconds: 60, notBeforeSkewSeconds: 0 }).jti,
      ),
    );
    expect(jtis.size).toBe(200);
  });

  it('omits the groups claim when the identity has no groups', () => {
    const claims = buildQlikClaims(
      { ...identity, groups: [] },
      { issuer: 'i', issuedAtSeconds: NOW, ttlSeconds: 60, notBeforeSkewSeconds: 0 },
    );
    expect('groups' in claims).toBe(false);
  });

  it('refuses a lifetime plus skew over Qlik’s 3600 second limit', () => {
    expect(() =>
      buildQlikClaims(identity, { issuer: 'i', issuedAtSeconds: NOW, ttlSeconds: 3580, notBeforeSkewSeconds: 30 }),
    ).toThrow(TypeError);
  });
});

describe('Function: checkQlikToken', () => {
  it('passes a token built by buildQlikClaims on every rule', () => {
    const { header, payload } = validToken();
    const results = checkQlikToken(header, payload, {
      issuer: 'https://issuer.example',
      keyId: 'kid-1',
      nowSeconds: NOW,
    });
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.length).toBeGreaterThanOrEqual(20);
  });

  const DELETE = Symbol('delete');
  const NBF = NOW - 30; // what validToken() sets
  type Mutation = [description: string, part: 'header' | 'payload', claim: string, value: unknown, failingRule: string];
  const rejected: Mutation[] = [
    ['alg is HS256', 'header', 'alg', 'HS256', 'header.alg'],
    ['alg is none', 'header', 'alg', 'none', 'header.alg'],
    ['kid is missing', 'header', 'kid', DELETE, 'header.kid.present'],
    ['kid differs from the IdP', 'header', 'kid', 'other', 'header.kid.matches'],
    ['iss is missing', 'payload', 'iss', DELETE, 'claim.iss.present'],
    ['iss differs from the IdP', 'payload', 'iss', 'https://evil.example', 'claim.iss.matches'],
    ['aud is wrong', 'payload', 'aud', 'qlik.api', 'claim.aud'],
    ['sub is empty', 'payload', 'sub', '', 'claim.sub'],
    ['subType is missing', 'payload', 'subType', DELETE, 'claim.subType'],
    ['name is missing', 'payload', 'name', DELETE, 'claim.name'],
    ['email is not an address', 'payload', 'email', 'ada', 'claim.email'],
    ['email_verified is the string "true"', 'payload', 'email_verified', 'true', 'claim.email_verified'],
    ['email_verified is false', 'payload', 'email_verified', false, 'claim.email_verified'],
    ['groups is a string', 'payload', 'groups', 'Sales', 'claim.groups'],
    ['jti is missing', 'payload', 'jti', DELETE, 'claim.jti'],
    ['iat is missing', 'payload', 'iat', DELETE, 'claim.iat'],
    ['nbf is missing', 'payload', 'nbf', DELETE, 'claim.nbf.present'],
    ['exp is missing', 'payload', 'exp', DELETE, 'claim.exp.present'],
    ['exp is before nbf', 'payload', 'exp', NBF - 1, 'claim.exp.after_nbf'],
    ['exp - nbf is 3601 s', 'payload', 'exp', NBF + 3601, 'claim.lifetime'],
    ['the token expired', 'payload', 'exp', NOW - 1, 'time.not_expired'],
    ['nbf is in the future', 'payload', 'nbf', NOW + 60, 'time.not_before'],
  ];

  it.each(rejected)('rejects a token whose %s', (_description, part, claim, value, failingRule) => {
    // Prepare
    const token = validToken();
    if (value === DELETE) delete token[part][claim];
    else token[part][claim] = value;
    // Act
    const rejections = qlikRejections(
      checkQlikToken(token.header, token.payload, {
        issuer: 'https://issuer.example',
        keyId: 'kid-1',
        nowSeconds: NOW,
      }),
    );
    // Assess
    expect(rejections.map((r) => r.rule)).toContain(failingRule);
    for (const r of rejections) expect(r.fix).toBeTruthy();
  });

  it('measures the life of a token without nbf from iat, so a year-long qs-jwt style token is told why', () => {
    const t = validToken();
    delete t.payload.nbf;
    t.payload.exp = NOW + 365 * 86_400;
    const rules = qlikRejections(checkQlikToken(t.header, t.payload)).map((r) => r.rule);
    expect(rules).toEqual(expect.arrayContaining(['claim.nbf.present', 'claim.lifetime']));
  });

  it('accepts exp - nbf of exactly 3600 s', () => {
    const t = validToken();
    t.payload.exp = (t.payload.nbf as number) + 3600;
    expect(qlikRejections(checkQlikToken(t.header, t.payload))).toEqual([]);
  });

  it('explains a missing nbf with the 2022 rule change', () => {
    const t = validToken();
    delete t.payload.nbf;
    const failure = qlikRejections(checkQlikToken(t.header, t.payload)).find((r) => r.rule === 'claim.nbf.present');
    expect(failure?.fix).toMatch(/since June 2022/);
  });

  it('warns (without rejecting) about a qs-jwt style "group" claim', () => {
    const t = validToken();
    t.payload.group = ['Sales'];
    const results = checkQlikToken(t.header, t.payload);
    expect(results.find((r) => r.rule === 'claim.group.misnamed')).toMatchObject({ ok: false, severity: 'warning' });
    expect(qlikRejections(results)).toEqual([]);
  });

  it('honours the clock tolerance for expiry', () => {
    const t = validToken();
    t.payload.exp = NOW - 5;
    expect(qlikRejections(checkQlikToken(t.header, t.payload, { nowSeconds: NOW, clockToleranceSeconds: 10 }))).toEqual(
      [],
    );
  });
});
