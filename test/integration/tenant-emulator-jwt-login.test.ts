import { createHmac, sign as cryptoSign, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildQlikClaims, type QlikIdentity } from '../../functions/qlik/claims.js';
import { createSelfSignedCertificate } from '../../functions/signing/certificates.js';
import { createKeyObjectSigner, signCompactJws } from '../../functions/signing/signer.js';
import { rsaKeyPair, verifyWithJsonwebtoken } from '../support/keys.js';
import { CookieJar } from '../support/tenant-emulator/browser.js';
import {
  CSRF_COOKIE,
  CSRF_HEADER,
  SESSION_COOKIE,
  startTenantEmulator,
  type TenantEmulator,
  type WebIntegration,
} from '../support/tenant-emulator/index.js';

const ISSUER = 'https://token-vending.example.com';
const KID = 'qtv-2026-11';
const APP_ORIGIN = 'http://127.0.0.1:5173';
const identity: QlikIdentity = {
  sub: 'user-42',
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  emailVerified: true,
  groups: ['Sales'],
};

const { privateKey } = rsaKeyPair(2048);
const signer = createKeyObjectSigner(privateKey, KID, 'RS256');
let certificatePem: string;
let tenant: TenantEmulator;
let integration: WebIntegration;

beforeAll(async () => {
  certificatePem = await createSelfSignedCertificate({ privateKey });
  tenant = await startTenantEmulator({
    jwtIdentityProviders: [{ issuer: ISSUER, kid: KID, pem: certificatePem }],
    webIntegrations: [{ id: 'wi-test', validOrigins: [APP_ORIGIN] }],
  });
  integration = tenant.webIntegrations.get('wi-test')!;
});
afterAll(async () => tenant.close());

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A valid Qlik JWT from the shared builder and signer, verified independently (jsonwebtoken) before use. */
async function qlikJwt(overrides: Record<string, unknown> = {}, omit: string[] = []): Promise<string> {
  const claims: Record<string, unknown> = {
    ...buildQlikClaims(identity, {
      issuer: ISSUER,
      issuedAtSeconds: nowSeconds(),
      ttlSeconds: 300,
      notBeforeSkewSeconds: 30,
    }),
    ...overrides,
  };
  for (const name of omit) delete claims[name];
  const token = await signCompactJws(claims, signer);
  verifyWithJsonwebtoken(token, certificatePem, { ignoreExpiration: true, ignoreNotBefore: true });
  return token;
}

/** A token with an arbitrary header, signed with `sign` (or unsigned). */
function rawJwt(header: Record<string, unknown>, payload: object, sign?: (input: string) => Buffer): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  return `${input}.${sign ? sign(input).toString('base64url') : ''}`;
}

function jwtSession(token: string, jar = new CookieJar(), headers: Record<string, string> = {}) {
  return jar.fetch(`${tenant.url}/login/jwt-session`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'qlik-web-integration-id': integration.id, ...headers },
  });
}

describe('Function: tenant emulator /login/jwt-session', () => {
  beforeEach(() => tenant.setClockOffset(0));

  it('accepts a token from buildQlikClaims + signCompactJws, creates the user, and sets the session and CSRF cookies', async () => {
    // Prepare
    const token = await qlikJwt();

    // Act
    const response = await jwtSession(token, new CookieJar(), { origin: APP_ORIGIN });

    // Assess
    expect(response.status).toBe(200);
    const cookies = response.headers.getSetCookie();
    expect(cookies.find((c) => c.startsWith(`${SESSION_COOKIE}=`))).toMatch(/HttpOnly/);
    expect(cookies.some((c) => c.startsWith(`${CSRF_COOKIE}=`))).toBe(true);
    // Qlik sets a signature cookie beside each: eas.sid.sig and _csrfToken.sig.
    expect(cookies.map((c) => c.split('=')[0]).sort()).toEqual(
      [SESSION_COOKIE, `${SESSION_COOKIE}.sig`, CSRF_COOKIE, `${CSRF_COOKIE}.sig`].sort(),
    );
    expect(response.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(response.headers.get('access-control-allow-credentials')).toBe('true');
    expect(tenant.users.bySubject('user-42')).toMatchObject({
      name: 'Ada Lovelace',
      email: 'ada@example.com',
      groups: ['Sales'],
    });
  });

  it('serves users/me and the CSRF token (response header) to the session', async () => {
    const jar = new CookieJar();
    expect((await jwtSession(await qlikJwt(), jar)).status).toBe(200);
    const me = await jar.fetch(`${tenant.url}/api/v1/users/me`, { headers: { origin: APP_ORIGIN } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ subject: 'user-42', tenantId: tenant.tenantId });
    const csrf = await jar.fetch(`${tenant.url}/api/v1/csrf-token`, {
      headers: { 'qlik-web-integration-id': integration.id, origin: APP_ORIGIN },
    });
    expect(csrf.status).toBe(204);
    expect(csrf.headers.get(CSRF_HEADER)).toBe(jar.get(tenant.url, CSRF_COOKIE));
    expect(csrf.headers.get('access-control-expose-headers')).toContain(CSRF_HEADER);
  });

  it('ignores a session cookie whose .sig cookie is missing or does not match', async () => {
    const jar = new CookieJar();
    expect((await jwtSession(await qlikJwt(), jar)).status).toBe(200);
    const sid = jar.get(tenant.url, SESSION_COOKIE)!;
    const me = (cookie: string) => fetch(`${tenant.url}/api/v1/users/me`, { headers: { cookie } });
    expect(
      (await me(`${SESSION_COOKIE}=${sid}; ${SESSION_COOKIE}.sig=${jar.get(tenant.url, `${SESSION_COOKIE}.sig`)}`))
        .status,
    ).toBe(200);
    expect((await me(`${SESSION_COOKIE}=${sid}`)).status).toBe(401);
    expect((await me(`${SESSION_COOKIE}=${sid}; ${SESSION_COOKIE}.sig=forged`)).status).toBe(401);
  });

  it('refuses the CSRF token without a session, and without the web integration ID', async () => {
    const noSession = await fetch(`${tenant.url}/api/v1/csrf-token`, {
      headers: { 'qlik-web-integration-id': integration.id },
    });
    expect(noSession.status).toBe(401);
    const jar = new CookieJar();
    await jwtSession(await qlikJwt(), jar);
    expect((await jar.fetch(`${tenant.url}/api/v1/csrf-token`)).status).toBe(403);
  });

  it('answers a CORS preflight for an allowed origin with credentials', async () => {
    const response = await fetch(`${tenant.url}/login/jwt-session`, {
      method: 'OPTIONS',
      headers: { origin: APP_ORIGIN, 'access-control-request-method': 'POST' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(response.headers.get('access-control-allow-headers')).toContain('qlik-web-integration-id');
  });

  it.each([
    ['an unknown web integration ID', { 'qlik-web-integration-id': 'nope' }],
    ['an origin the web integration does not allow', { origin: 'http://127.0.0.1:6666' }],
  ])('refuses %s with 401, the only failure status Qlik documents for /login/jwt-session', async (_name, headers) => {
    const response = await jwtSession(await qlikJwt(), new CookieJar(), headers);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ errors: [{ status: '401' }] });
  });

  const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const past = () => nowSeconds() - 7200;
  const rejections: [string, () => Promise<string>, number, string][] = [
    ['missing nbf', () => qlikJwt({}, ['nbf']), 401, 'JWT_LOGIN_VALIDATIONS Missing required claim: nbf'],
    ['missing jti', () => qlikJwt({}, ['jti']), 401, 'JWT_LOGIN_VALIDATIONS Missing required claim: jti'],
    [
      'exp - nbf over 3600 s',
      () => qlikJwt({ nbf: nowSeconds() - 10, exp: nowSeconds() + 3591 }),
      401,
      'JWT_LOGIN_VALIDATIONS Invalid claim: exp - nbf is at most 3600 s (found 3601 s)',
    ],
    ['a wrong aud', () => qlikJwt({ aud: 'qlik.api' }), 401, 'JWT_LOGIN_VALIDATIONS Invalid claim: aud is'],
    [
      'a wrong iss',
      () => qlikJwt({ iss: 'https://evil.example' }),
      401,
      'JWT_LOGIN_VALIDATIONS Invalid claim: iss matches',
    ],
    [
      'email_verified as the string "true"',
      () => qlikJwt({ email_verified: 'true' }),
      401,
      'JWT_LOGIN_VALIDATIONS Invalid claim: email_verified is the boolean true',
    ],
    [
      'an expired token',
      () => qlikJwt({ iat: past(), nbf: past(), exp: past() + 300 }),
      401,
      'JWT_LOGIN_VALIDATIONS Token expired',
    ],
    [
      'an unknown kid',
      async () =>
        signCompactJws(
          JSON.parse(Buffer.from((await qlikJwt()).split('.')[1]!, 'base64url').toString()),
          createKeyObjectSigner(privateKey, 'other-kid', 'RS256'),
        ),
      401,
      'JWT_LOGIN_VALIDATIONS No identity provider for kid other-kid',
    ],
    [
      'HS256',
      async () =>
        rawJwt({ alg: 'HS256', kid: KID, typ: 'JWT' }, buildPayload(), (input) =>
          createHmac('sha256', certificatePem).update(input).digest(),
        ),
      401,
      'JWT_LOGIN_VALIDATIONS Unsupported algorithm: HS256',
    ],
    [
      'alg none',
      async () => rawJwt({ alg: 'none', kid: KID, typ: 'JWT' }, buildPayload()),
      401,
      'JWT_LOGIN_VALIDATIONS Unsupported algorithm: none',
    ],
    [
      'a bad signature',
      async () =>
        rawJwt({ alg: 'RS256', kid: KID, typ: 'JWT' }, buildPayload(), (input) =>
          cryptoSign('sha256', Buffer.from(input), other),
        ),
      401,
      'JWT_LOGIN_VALIDATIONS Invalid signature',
    ],
  ];

  function buildPayload() {
    return buildQlikClaims(identity, {
      issuer: ISSUER,
      issuedAtSeconds: nowSeconds(),
      ttlSeconds: 300,
      notBeforeSkewSeconds: 30,
    });
  }

  it.each(rejections)('rejects %s with a Qlik-shaped error', async (_name, make, status, detail) => {
    const response = await jwtSession(await make());
    expect(response.status).toBe(status);
    const body = (await response.json()) as {
      errors: { title: string; detail: string; code: string; status: string }[];
    };
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0]).toMatchObject({
      title: 'Invalid token request',
      code: 'INTERNAL-TOKEN-1',
      status: String(status),
    });
    expect(body.errors[0]?.detail.startsWith(detail)).toBe(true);
    expect(response.headers.getSetCookie()).toEqual([]);
  });

  it('rejects a replayed jti', async () => {
    const token = await qlikJwt();
    expect((await jwtSession(token)).status).toBe(200);
    const replay = await jwtSession(token);
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({
      errors: [{ code: 'INTERNAL-TOKEN-1', detail: 'JWT_LOGIN_VALIDATIONS Token replayed: jti already used' }],
    });
  });

  it("applies the identity provider's clockToleranceSec to nbf", async () => {
    // The tenant's clock runs 20 s behind the signer's: nbf (iat - 0) is 20 s in the tenant's future.
    tenant.setClockOffset(-20_000);
    const idp = tenant.identityProviders.list()[0]!;
    const token = () => qlikJwt({ nbf: nowSeconds() });
    expect((await jwtSession(await token())).status).toBe(401);
    idp.clockToleranceSec = 30;
    try {
      expect((await jwtSession(await token())).status).toBe(200);
    } finally {
      idp.clockToleranceSec = 0;
    }
  });

  it('answers 429 once the configured rate limit is exceeded', async () => {
    tenant.setJwtSessionRateLimit({ limit: 2, windowMs: 60_000 });
    try {
      expect((await jwtSession(await qlikJwt())).status).toBe(200);
      expect((await jwtSession(await qlikJwt())).status).toBe(200);
      const limited = await jwtSession(await qlikJwt());
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      tenant.setJwtSessionRateLimit(undefined);
    }
  });
});
