import { describe, expect, it } from 'vitest';
import { UnauthenticatedCallerError } from '../../../functions/errors.js';
import { callerClaimsFrom, tokenFromAuthorization } from '../../../functions/identity/caller.js';
import { apiGatewayClaims } from '../../../scripts/dev/local-api-gateway.js';
import { AUTHORIZATION_FORMS, authorizationValue, callerToken, httpEvent } from '../../support/events.js';

const CLAIMS = {
  iss: 'https://idp.example',
  sub: 'demo-user',
  iat: 1_795_262_000,
  exp: 1_795_265_600,
  jti: 'j-1',
  email: 'demo@example.com',
  email_verified: true,
  groups: ['Finance Admins', 'Sales'],
  amount: 1.5,
  nested: { a: [1, 'b'] },
};

describe('Function: callerClaimsFrom', () => {
  // Regression (issue 12, finding 1): with "bearer <token>" or a bare token, the array was rebuilt by splitting
  // API Gateway's flattened "[Finance Admins Sales]" on whitespace.
  it.each(AUTHORIZATION_FORMS)(
    'reads the verified claims with their JSON types when Authorization is in %s form',
    (form) => {
      const claims = callerClaimsFrom(httpEvent({ claims: CLAIMS, authorization: form }));
      expect(claims).toEqual(CLAIMS);
    },
  );

  it('refuses (401) when Authorization holds a different token than the one the authorizer verified', () => {
    for (const name of ['iss', 'sub', 'iat', 'exp', 'jti'] as const) {
      const other = { ...CLAIMS, [name]: name === 'iat' || name === 'exp' ? 1 : 'someone-else' };
      const event = httpEvent({ claims: CLAIMS, headers: { authorization: `Bearer ${callerToken(other)}` } });
      expect(() => callerClaimsFrom(event)).toThrow(UnauthenticatedCallerError);
      expect(() => callerClaimsFrom(event)).toThrow(new RegExp(`claim ${name} differs`));
    }
  });

  it('refuses (401) a jti that only one of the token and the authorizer carries', () => {
    const { jti: _jti, ...withoutJti } = CLAIMS;
    const event = httpEvent({ claims: CLAIMS, headers: { authorization: `Bearer ${callerToken(withoutJti)}` } });
    expect(() => callerClaimsFrom(event)).toThrow(/claim jti differs/);
  });

  it.each([
    ['no Authorization header', undefined],
    ['another scheme', `Basic ${callerToken(CLAIMS)}`],
    ['two tokens', `Bearer ${callerToken(CLAIMS)}, Bearer ${callerToken(CLAIMS)}`],
    ['a token that is not a JWS', 'Bearer not-a-token'],
  ])('refuses (401) an event with %s, never falling back to the flattened claims', (_case, authorization) => {
    const event = httpEvent({ claims: CLAIMS });
    if (authorization === undefined) delete event.headers.authorization;
    else event.headers.authorization = authorization;
    expect(() => callerClaimsFrom(event)).toThrow(UnauthenticatedCallerError);
  });

  it('refuses (401) a token whose payload is not UTF-8, instead of replacing bytes with U+FFFD', () => {
    const header = Buffer.from('{"alg":"RS256"}').toString('base64url');
    const payload = Buffer.concat([Buffer.from('{"sub":"a\xff"}', 'latin1')]).toString('base64url');
    const event = httpEvent({ claims: { sub: 'a\ufffd' } });
    event.headers.authorization = `Bearer ${header}.${payload}.sig`;
    expect(() => callerClaimsFrom(event)).toThrow(/not a UTF-8 JSON object/);
  });

  it('refuses (401) an event without authorizer claims', () => {
    expect(() => callerClaimsFrom(httpEvent({}))).toThrow(UnauthenticatedCallerError);
  });

  it('passes the authorizer claims as API Gateway does: strings, arrays flattened to "[a b]"', () => {
    expect(apiGatewayClaims(CLAIMS)).toMatchObject({ iat: '1795262000', groups: '[Finance Admins Sales]' });
  });
});

describe('Function: tokenFromAuthorization', () => {
  const token = callerToken(CLAIMS);
  it.each(AUTHORIZATION_FORMS)('finds the token in the %s form', (form) => {
    expect(tokenFromAuthorization(authorizationValue(token, form))).toBe(token);
  });
  it.each(['', 'Bearer', `Token ${token}`, `${token} extra`])('finds none in %j', (value) => {
    expect(tokenFromAuthorization(value)).toBeUndefined();
  });
});
