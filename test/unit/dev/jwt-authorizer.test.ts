/**
 * The dev server's stand-in for API Gateway's JWT authorizer: one test per documented rule
 * (docs/security.md, "The local JWT authorizer", names each test).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createLocalJWKSet, exportJWK, type JWK, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AuthorizerRejection,
  authorizeCaller,
  discoveredKeySet,
  type LocalAuthorizer,
} from '../../../scripts/dev/jwt-authorizer.js';

const ISSUER = 'https://idp.example/realm';
const AUDIENCE = 'app-1';
const NOW_MS = Date.UTC(2026, 10, 26, 9, 0, 0);
const now = NOW_MS / 1000;

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
let jwk: JWK;
let authorizer: LocalAuthorizer;

beforeAll(async () => {
  jwk = { ...(await exportJWK(rsa.publicKey)), kid: 'k1' };
  authorizer = { issuer: ISSUER, audience: [AUDIENCE], keys: createLocalJWKSet({ keys: [jwk] }), nowMs: () => NOW_MS };
});

async function token(
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = { alg: 'RS256', kid: 'k1' },
  key: KeyObject = rsa.privateKey,
): Promise<string> {
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'u', iat: now - 10, exp: now + 300, ...claims })
    .setProtectedHeader(header as { alg: string })
    .sign(key);
}

async function reason(authorization: string | undefined, options: Partial<LocalAuthorizer> = {}) {
  try {
    await authorizeCaller({ ...authorizer, ...options }, authorization);
    return 'accepted';
  } catch (error) {
    expect(error).toBeInstanceOf(AuthorizerRejection);
    return (error as AuthorizerRejection).description;
  }
}

describe('Function: authorizeCaller (API Gateway HTTP API JWT authorizer rules)', () => {
  it('accepts the bare token and the token prefixed with "Bearer " (identity source, AWS step 1)', async () => {
    const t = await token();
    expect(await reason(t)).toBe('accepted');
    expect(await reason(`Bearer ${t}`)).toBe('accepted');
    expect(await reason(`Bearer ${t}`, { bearerPrefix: 'strict' })).toBe('accepted');
    expect(await reason(t, { bearerPrefix: 'strict' })).toBe('accepted');
  });

  it('reads another case of "bearer" and extra spaces only in lenient mode (guessed, switchable)', async () => {
    const t = await token();
    for (const value of [`bearer ${t}`, `BEARER ${t}`, `Bearer  ${t}`]) {
      expect(await reason(value, { bearerPrefix: 'lenient' })).toBe('accepted');
      expect(await reason(value, { bearerPrefix: 'strict' })).toMatch(/not a token/);
    }
  });

  it('refuses a missing identity source and other schemes', async () => {
    const t = await token();
    expect(await reason(undefined)).toMatch(/no token/);
    expect(await reason(`Basic ${t}`)).toMatch(/not a token/);
    expect(await reason(`Bearer ${t} ${t}`)).toMatch(/not a token/);
  });

  it('requires a kid, even when the key set has one key that would verify the token (AWS step 4, kid)', async () => {
    expect(await reason(await token({}, { alg: 'RS256' }))).toMatch(/no kid/);
  });

  it('refuses a kid that is not in the JWKS (AWS step 4, kid)', async () => {
    expect(await reason(await token({}, { alg: 'RS256', kid: 'other' }))).toMatch(/kid matches no key/);
  });

  it('accepts RS256, RS384 and RS512 and refuses non-RSA algorithms (AWS step 3)', async () => {
    for (const alg of ['RS384', 'RS512']) expect(await reason(await token({}, { alg, kid: 'k1' }))).toBe('accepted');
    const es = { ...(await exportJWK(ec.publicKey)), kid: 'e1' };
    const keys = createLocalJWKSet({ keys: [jwk, es] });
    expect(await reason(await token({}, { alg: 'ES256', kid: 'e1' }, ec.privateKey), { keys })).toMatch(/RSA/);
    const hs = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, exp: now + 60 })
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .sign(new Uint8Array(32));
    expect(await reason(hs)).not.toBe('accepted');
  });

  it('refuses RSA-PSS unless it is switched on (RSA-based, but not documented: guessed)', async () => {
    const ps = await token({}, { alg: 'PS256', kid: 'k1' });
    expect(await reason(ps)).toMatch(/RSA/);
    expect(await reason(ps, { algorithms: ['RS256', 'PS256'] })).toBe('accepted');
  });

  it('refuses a token from another issuer (AWS step 4, iss)', async () => {
    expect(await reason(await token({ iss: 'https://evil.example' }))).toMatch(/invalid iss/);
  });

  it('matches aud against the audiences, and client_id only when aud is absent (AWS step 4, aud or client_id)', async () => {
    expect(await reason(await token({ aud: 'other' }))).toMatch(/audience/);
    expect(await reason(await token({ aud: ['other', AUDIENCE] }))).toBe('accepted');
    expect(await reason(await token({ aud: undefined, client_id: AUDIENCE }))).toBe('accepted');
    expect(await reason(await token({ aud: undefined, client_id: 'other' }))).toMatch(/audience/);
    // Both present: aud decides.
    expect(await reason(await token({ aud: 'other', client_id: AUDIENCE }))).toMatch(/audience/);
  });

  it('refuses an expired token and one without exp (AWS step 4, exp; a missing exp: guessed)', async () => {
    expect(await reason(await token({ exp: now - 1 }))).toMatch(/expired/);
    expect(await reason(await token({ exp: undefined }))).toMatch(/invalid exp/);
  });

  it('refuses nbf and iat in the future, with no clock skew allowance (AWS step 4, nbf and iat)', async () => {
    expect(await reason(await token({ nbf: now + 1 }))).toMatch(/invalid nbf/);
    expect(await reason(await token({ iat: now + 1 }))).toMatch(/iat/);
    expect(await reason(await token({ nbf: now, iat: now }))).toBe('accepted');
  });
});

describe('Function: discoveredKeySet', () => {
  function fakeIssuer(documents: Record<string, unknown>) {
    const calls: string[] = [];
    const fetch = (async (url: string) => {
      calls.push(url);
      const body = documents[url];
      return new Response(JSON.stringify(body ?? {}), { status: body === undefined ? 404 : 200 });
    }) as unknown as typeof globalThis.fetch;
    return { calls, fetch };
  }

  it('finds the keys through the discovery document’s jwks_uri and caches them for two hours', async () => {
    let clock = NOW_MS;
    const issuer = fakeIssuer({
      [`${ISSUER}/.well-known/openid-configuration`]: { issuer: ISSUER, jwks_uri: 'https://keys.example/certs' },
      'https://keys.example/certs': { keys: [jwk] },
    });
    const keys = discoveredKeySet(ISSUER, { fetch: issuer.fetch, nowMs: () => clock });
    const t = await token();
    expect(await reason(t, { keys })).toBe('accepted');
    expect(await reason(t, { keys })).toBe('accepted');
    expect(issuer.calls).toEqual([`${ISSUER}/.well-known/openid-configuration`, 'https://keys.example/certs']);
    clock += 7_200_000;
    expect(await reason(t, { keys })).toBe('accepted');
    expect(issuer.calls).toHaveLength(4);
  });

  it('refuses a discovery document that names another issuer (OIDC Discovery §4.3)', async () => {
    const issuer = fakeIssuer({
      [`${ISSUER}/.well-known/openid-configuration`]: { issuer: 'https://evil.example', jwks_uri: 'https://k' },
    });
    expect(await reason(await token(), { keys: discoveredKeySet(ISSUER, { fetch: issuer.fetch }) })).toMatch(
      /another issuer/,
    );
  });

  it('re-reads the JWKS for an unknown kid at most once a minute (guessed)', async () => {
    let clock = NOW_MS;
    const documents: Record<string, unknown> = {
      [`${ISSUER}/.well-known/openid-configuration`]: { issuer: ISSUER, jwks_uri: 'https://keys.example/certs' },
      'https://keys.example/certs': { keys: [] },
    };
    const issuer = fakeIssuer(documents);
    const keys = discoveredKeySet(ISSUER, { fetch: issuer.fetch, nowMs: () => clock });
    const t = await token();
    expect(await reason(t, { keys })).toMatch(/kid matches no key/);
    documents['https://keys.example/certs'] = { keys: [jwk] };
    expect(await reason(t, { keys })).toMatch(/kid matches no key/);
    clock += 60_000;
    expect(await reason(t, { keys, nowMs: () => clock })).toBe('accepted');
  });
});
