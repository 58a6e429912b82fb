import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CookieJar, completeAuthorization, pkcePair } from '../support/tenant-emulator/browser.js';
import {
  type EmulatedClient,
  IMPERSONATION_GRANT,
  startTenantEmulator,
  type TenantEmulator,
} from '../support/tenant-emulator/index.js';

const REDIRECT_URI = 'http://127.0.0.1:9/callback';
const SECRET = 'web-client-secret-1';

let tenant: TenantEmulator;
let web: EmulatedClient;

beforeAll(async () => {
  tenant = await startTenantEmulator({
    users: [{ subject: 'alice', name: 'Alice', email: 'alice@example.com', roles: ['TenantAdmin'] }],
  });
  web = tenant.addClient({ clientId: 'web-client', name: 'Web app', secrets: [SECRET], redirectUris: [REDIRECT_URI] });
});
afterAll(async () => tenant.close());

function authorizeUrl(overrides: Record<string, string> = {}, pkce = pkcePair()) {
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: web.clientId,
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email offline_access user_default',
    state: 'state-123',
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    ...overrides,
  });
  return `${tenant.url}/oauth/authorize?${params}`;
}

async function token(body: Record<string, unknown>, as: 'form' | 'json' = 'form') {
  const response = await fetch(`${tenant.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': as === 'form' ? 'application/x-www-form-urlencoded' : 'application/json' },
    body: as === 'form' ? new URLSearchParams(body as Record<string, string>).toString() : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Qlik's documented error body: `errors[]` with the status as a string, and no RFC 6749 `error` member. */
function expectQlikError(body: Record<string, unknown>, status: number) {
  expect(body).toMatchObject({ errors: [{ status: String(status) }] });
  const first = (body.errors as Record<string, unknown>[])[0]!;
  expect(Object.keys(first).sort()).toEqual(['code', 'detail', 'status', 'title']);
  expect(body).not.toHaveProperty('error');
  expect(body).not.toHaveProperty('error_description');
}

async function usersMe(accessToken: string) {
  const response = await fetch(`${tenant.url}/api/v1/users/me`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function signInForCode(pkce = pkcePair(), overrides: Record<string, string> = {}) {
  const callback = await completeAuthorization({ authorizeUrl: authorizeUrl(overrides, pkce), subject: 'alice' });
  return { callback, code: callback.searchParams.get('code') ?? '', pkce };
}

function codeGrant(code: string, verifier: string, extra: Record<string, string> = {}) {
  return {
    grant_type: 'authorization_code',
    client_id: web.clientId,
    client_secret: SECRET,
    code,
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
    ...extra,
  };
}

describe('Function: tenant emulator OAuth (authorization code + PKCE)', () => {
  it('signs a user in, exchanges the code for opaque tokens, and serves users/me for that user', async () => {
    // Prepare
    const { callback, code, pkce } = await signInForCode();
    expect(callback.origin + callback.pathname).toBe(REDIRECT_URI);
    expect(callback.searchParams.get('state')).toBe('state-123');

    // Act
    const result = await token(codeGrant(code, pkce.verifier));

    // Assess
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ token_type: 'Bearer' });
    // Qlik documents expires_at; expires_in is not part of its /oauth/token answer.
    expect(result.body).not.toHaveProperty('expires_in');
    // oidc-provider drops offline_access without prompt=consent (OIDC Core §11); the refresh token comes anyway.
    expect(String(result.body.scope).split(' ')).toContain('user_default');
    expect(typeof result.body.refresh_token).toBe('string');
    expect(String(result.body.access_token).split('.')).toHaveLength(1); // opaque, not a JWT
    const expiresAt = Date.parse(String(result.body.expires_at));
    expect(Math.abs(expiresAt - (Date.now() + 21_600_000))).toBeLessThan(10_000);
    const me = await usersMe(String(result.body.access_token));
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({
      subject: 'alice',
      name: 'Alice',
      email: 'alice@example.com',
      tenantId: tenant.tenantId,
    });
  });

  it('accepts a JSON body at /oauth/token, as Qlik does', async () => {
    const { code, pkce } = await signInForCode();
    const result = await token(codeGrant(code, pkce.verifier), 'json');
    expect(result.status).toBe(200);
    expect(typeof result.body.access_token).toBe('string');
  });

  it('refuses a replayed authorization code with 401 in Qlik’s error shape only', async () => {
    const { code, pkce } = await signInForCode();
    expect((await token(codeGrant(code, pkce.verifier))).status).toBe(200);
    const replay = await token(codeGrant(code, pkce.verifier));
    expect(replay.status).toBe(401);
    expectQlikError(replay.body, 401);
  });

  it('refuses a code redeemed with another redirect URI', async () => {
    const { code, pkce } = await signInForCode();
    const result = await token(codeGrant(code, pkce.verifier, { redirect_uri: 'http://127.0.0.1:9/other' }));
    expect(result.status).toBe(401);
    expectQlikError(result.body, 401);
  });

  it('refuses an authorization request whose redirect URI is not registered, without redirecting', async () => {
    const response = await fetch(authorizeUrl({ redirect_uri: 'http://evil.example/cb' }), { redirect: 'manual' });
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    // Qlik: 400 "Invalid client_id or redirect_uri" with errors[] (https://qlik.dev/apis/rest/oauth).
    expectQlikError((await response.json()) as Record<string, unknown>, 400);
  });

  it('refuses a code_verifier that does not match the challenge', async () => {
    const { code } = await signInForCode();
    const result = await token(codeGrant(code, pkcePair().verifier));
    expect(result.status).toBe(401);
    expectQlikError(result.body, 401);
  });

  it.each([
    ['plain PKCE', { code_challenge_method: 'plain' }],
    ['no PKCE', { code_challenge: '', code_challenge_method: '' }],
  ])('refuses an authorization request with %s', async (_name, overrides) => {
    const url = new URL(authorizeUrl(overrides));
    for (const [key, value] of Object.entries(overrides)) if (value === '') url.searchParams.delete(key);
    const response = await fetch(url, { redirect: 'manual' });
    const location = new URL(String(response.headers.get('location')));
    expect(location.searchParams.get('error')).toBe('invalid_request');
    // Qlik adds its internal error code to an error redirect (https://qlik.dev/apis/rest/oauth).
    expect(location.searchParams.get('error_code')).toBeTruthy();
  });

  it.each([
    ['shorter than 43', 42],
    ['longer than 128', 129],
  ])('refuses a code_verifier %s characters', async (_name, length) => {
    const pkce = pkcePair('a'.repeat(length));
    const { code } = await signInForCode(pkce);
    const result = await token(codeGrant(code, pkce.verifier));
    expect(result.status).toBe(400);
    expectQlikError(result.body, 400);
  });

  it('refreshes tokens, and the new access token works on users/me', async () => {
    const { code, pkce } = await signInForCode();
    const first = await token(codeGrant(code, pkce.verifier));
    const refreshed = await token({
      grant_type: 'refresh_token',
      client_id: web.clientId,
      client_secret: SECRET,
      refresh_token: String(first.body.refresh_token),
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.access_token).not.toBe(first.body.access_token);
    expect(typeof refreshed.body.expires_at).toBe('string');
    expect((await usersMe(String(refreshed.body.access_token))).body.subject).toBe('alice');
  });

  it('revokes an access token, after which users/me refuses it', async () => {
    const { code, pkce } = await signInForCode();
    const tokens = await token(codeGrant(code, pkce.verifier));
    const accessToken = String(tokens.body.access_token);
    expect((await usersMe(accessToken)).status).toBe(200);
    const revoke = await fetch(`${tenant.url}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        token: accessToken,
        token_type_hint: 'access_token',
        client_id: web.clientId,
        client_secret: SECRET,
      }),
    });
    expect(revoke.status).toBe(200);
    const me = await usersMe(accessToken);
    expect(me.status).toBe(401);
    expect(me.body).toMatchObject({ errors: [{ status: '401' }] });
  });

  it('accepts any of several valid client secrets (rotation) and refuses a wrong one with Qlik-shaped 401', async () => {
    web.secrets.push('web-client-secret-2');
    try {
      const { code, pkce } = await signInForCode();
      const ok = await token(codeGrant(code, pkce.verifier, { client_secret: 'web-client-secret-2' }));
      expect(ok.status).toBe(200);
      const { code: code2, pkce: pkce2 } = await signInForCode();
      const bad = await token(codeGrant(code2, pkce2.verifier, { client_secret: 'wrong' }));
      expect(bad.status).toBe(401);
      expect(bad.body).toMatchObject({ errors: [{ title: 'Unauthorized', status: '401' }] });
      expectQlikError(bad.body, 401);
      expect(JSON.stringify(bad.body)).not.toContain('wrong');
    } finally {
      web.secrets.pop();
    }
  });

  it('asks for consent when the client is not trusted, then issues a code', async () => {
    const untrusted = tenant.addClient({ secrets: ['x'.repeat(20)], redirectUris: [REDIRECT_URI], trusted: false });
    const pkce = pkcePair();
    const jar = new CookieJar();
    const callback = await completeAuthorization({
      authorizeUrl: authorizeUrl({ client_id: untrusted.clientId }, pkce),
      subject: 'alice',
      jar,
    });
    expect(callback.searchParams.get('code')).toBeTruthy();
    expect(tenant.requests.some((r) => r.path.endsWith('/confirm'))).toBe(true);
  });
});

describe('Function: tenant emulator OAuth (private_key_jwt client authentication)', () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' });
  let client: EmulatedClient;
  beforeAll(() => {
    client = tenant.addClient({
      clientId: 'pkjwt-client',
      publicKeys: [
        { kid: 'rsa-1', key: rsa.publicKey },
        { kid: 'ec-1', key: ec.publicKey },
      ],
      clientCredentials: true,
      impersonation: true,
    });
  });

  async function assertion(options: { alg?: string; kid?: string | null; aud?: string; lifetime?: number } = {}) {
    const alg = options.alg ?? 'RS256';
    const now = Math.floor(Date.now() / 1000);
    const header: Record<string, string> = { alg };
    if (options.kid !== null) header.kid = options.kid ?? (alg === 'ES384' ? 'ec-1' : 'rsa-1');
    const jwt = await new SignJWT({})
      .setProtectedHeader(header as { alg: string })
      .setIssuer(client.clientId)
      .setSubject(client.clientId)
      .setAudience(options.aud ?? `https://${tenant.issuer}/oauth/token`)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + (options.lifetime ?? 60))
      .sign(alg === 'ES384' ? ec.privateKey : rsa.privateKey);
    // Independent check (jsonwebtoken) that the assertion is what we meant to send.
    const publicPem = (alg === 'ES384' ? ec.publicKey : rsa.publicKey)
      .export({ format: 'pem', type: 'spki' })
      .toString();
    jsonwebtoken.verify(jwt, publicPem, { algorithms: [alg as jsonwebtoken.Algorithm], issuer: client.clientId });
    return jwt;
  }

  function withAssertion(clientAssertion: string) {
    return {
      grant_type: 'client_credentials',
      client_id: client.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: clientAssertion,
      scope: 'user_default',
    };
  }

  it.each(['RS256', 'RS512', 'ES384'])('authenticates a client with a %s client assertion', async (alg) => {
    const result = await token(withAssertion(await assertion({ alg })));
    expect(result.status).toBe(200);
    expect(typeof result.body.access_token).toBe('string');
  });

  it('refuses a replayed client assertion', async () => {
    const jwt = await assertion();
    expect((await token(withAssertion(jwt))).status).toBe(200);
    expect((await token(withAssertion(jwt))).status).toBe(401);
  });

  it.each([
    ['no kid', { kid: null }],
    ['an unknown kid', { kid: 'other' }],
    ['the wrong audience', { aud: 'https://elsewhere.example/oauth/token' }],
    ['a lifetime over 5 minutes', { lifetime: 301 }],
    ['alg PS256', { alg: 'PS256' }],
  ])('refuses a client assertion with %s', async (_name, options) => {
    const result = await token(withAssertion(await assertion(options as Parameters<typeof assertion>[0])));
    expect(result.status).toBe(401);
    expectQlikError(result.body, 401);
  });
});

describe('Function: tenant emulator OAuth (impersonation)', () => {
  let m2m: EmulatedClient;
  beforeAll(() => {
    m2m = tenant.addClient({ clientId: 'm2m-impersonation', secrets: ['m2m-secret'], impersonation: true });
    tenant.addUser({ subject: 'bob', name: 'Bob', email: 'bob@example.com' });
  });

  function impersonate(field: string, value: string) {
    return token(
      {
        grant_type: IMPERSONATION_GRANT,
        client_id: m2m.clientId,
        client_secret: 'm2m-secret',
        scope: 'user_default',
        user_lookup: { field, value },
      },
      'json',
    );
  }

  it('issues a token for a known user (by subject) that works on users/me as that user, without a refresh token', async () => {
    const result = await impersonate('subject', 'bob');
    expect(result.status).toBe(200);
    expect(result.body).toMatchObject({ token_type: 'Bearer', scope: 'user_default' });
    expect(result.body.refresh_token).toBeUndefined();
    expect(typeof result.body.expires_at).toBe('string');
    expect((await usersMe(String(result.body.access_token))).body).toMatchObject({ subject: 'bob', name: 'Bob' });
  });

  it('looks a user up by userId too', async () => {
    const bob = tenant.users.bySubject('bob')!;
    const result = await impersonate('userId', bob.id);
    expect((await usersMe(String(result.body.access_token))).body.id).toBe(bob.id);
  });

  it.each([400, 401, 403, 404] as const)(
    'refuses an unknown user with the switched status %i (Qlik does not document it), in Qlik’s shape',
    async (status) => {
      tenant.setOAuthBehaviour({ impersonationUnknownUserStatus: status });
      try {
        const result = await impersonate('subject', 'nobody');
        expect(result.status).toBe(status);
        expectQlikError(result.body, status);
      } finally {
        tenant.setOAuthBehaviour({ impersonationUnknownUserStatus: 401 });
      }
    },
  );

  it('refuses a disabled user with 403, as Qlik documents', async () => {
    tenant.addUser({ subject: 'carol', status: 'disabled' });
    const result = await impersonate('subject', 'carol');
    expect(result.status).toBe(403);
    expectQlikError(result.body, 403);
  });

  it('refuses the grant to a client without impersonation', async () => {
    const result = await token(
      {
        grant_type: IMPERSONATION_GRANT,
        client_id: web.clientId,
        client_secret: SECRET,
        scope: 'user_default',
        user_lookup: { field: 'subject', value: 'bob' },
      },
      'json',
    );
    expect(result.status).toBe(400);
    expectQlikError(result.body, 400);
  });
});

describe('Function: tenant emulator fault injection', () => {
  it('answers a configured 500 or garbage JSON from /oauth/token, for the given number of requests', async () => {
    tenant.injectFault({ path: '/oauth/token', status: 500, body: '{"errors":[]}', times: 1 });
    tenant.injectFault({ path: '/oauth/token', status: 200, body: '{not json', times: 1 });
    const first = await fetch(`${tenant.url}/oauth/token`, { method: 'POST' });
    expect(first.status).toBe(500);
    const second = await fetch(`${tenant.url}/oauth/token`, { method: 'POST' });
    expect(await second.text()).toBe('{not json');
    const third = await token({ grant_type: 'client_credentials', client_id: 'x', client_secret: 'y' });
    expect(third.status).toBe(401);
    tenant.clearFaults();
  });

  it('delays a response when asked (a slow tenant)', async () => {
    tenant.injectFault({ path: '/oauth/token', delayMs: 300, times: 1 });
    const started = performance.now();
    const result = await token({ grant_type: 'client_credentials', client_id: 'x', client_secret: 'y' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(result.status).toBe(401);
  });

  it('close() ends a request held by a long fault delay (a hanging tenant) at once', async () => {
    const hanging = await startTenantEmulator();
    hanging.injectFault({ path: '/oauth/token', delayMs: 60_000 });
    const pending = fetch(`${hanging.url}/oauth/token`, { method: 'POST' }).then(
      () => 'answered',
      () => 'connection closed',
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    await hanging.close();
    // Without close() dropping the connection this would wait 60 s and time the test out.
    expect(await pending).toBe('connection closed');
  });
});

describe('Function: tenant emulator OAuth discovery', () => {
  it('serves RFC 8414 metadata at /.well-known/oauth-authorization-server, Qlik’s documented discovery path', async () => {
    const response = await fetch(`${tenant.url}/.well-known/oauth-authorization-server`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      issuer: tenant.url,
      authorization_endpoint: `${tenant.url}/oauth/authorize`,
      token_endpoint: `${tenant.url}/oauth/token`,
      revocation_endpoint: `${tenant.url}/oauth/revoke`,
      code_challenge_methods_supported: ['S256'],
    });
  });
});

describe('Function: tenant emulator OAuth (switchable guesses: revoke and refresh-token reuse)', () => {
  async function freshTokens() {
    const { code, pkce } = await signInForCode();
    const result = await token(codeGrant(code, pkce.verifier));
    return { access: String(result.body.access_token), refresh: String(result.body.refresh_token) };
  }
  const refresh = (refreshToken: string) =>
    token({ grant_type: 'refresh_token', client_id: web.clientId, client_secret: SECRET, refresh_token: refreshToken });
  const revoke = (body: Record<string, string>) =>
    fetch(`${tenant.url}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(body).toString(),
    });

  it('refuses an unauthenticated revoke with 401 when client authentication is required', async () => {
    const { access } = await freshTokens();
    const response = await revoke({ token: access, token_type_hint: 'access_token' });
    expect(response.status).toBe(401);
    expect((await usersMe(access)).status).toBe(200);
  });

  it('revokes without client authentication when switched to optional', async () => {
    tenant.setOAuthBehaviour({ revokeClientAuthentication: 'optional' });
    try {
      const { access } = await freshTokens();
      const response = await revoke({ token: access, token_type_hint: 'access_token' });
      expect(response.status).toBe(200);
      expect((await usersMe(access)).status).toBe(401);
    } finally {
      tenant.setOAuthBehaviour({ revokeClientAuthentication: 'required' });
    }
  });

  it('revoke-grant: a reused refresh token is refused and the tokens issued from it die too', async () => {
    const first = await freshTokens();
    const rotated = await refresh(first.refresh);
    expect(rotated.status).toBe(200);
    const reuse = await refresh(first.refresh);
    expect(reuse.status).toBe(401);
    expectQlikError(reuse.body, 401);
    expect((await refresh(String(rotated.body.refresh_token))).status).toBe(401);
  });

  it('reject: a reused refresh token is refused, the rotated one keeps working', async () => {
    tenant.setOAuthBehaviour({ refreshTokenReuse: 'reject' });
    try {
      const first = await freshTokens();
      const rotated = await refresh(first.refresh);
      expect((await refresh(first.refresh)).status).toBe(401);
      expect((await refresh(String(rotated.body.refresh_token))).status).toBe(200);
    } finally {
      tenant.setOAuthBehaviour({ refreshTokenReuse: 'revoke-grant' });
    }
  });

  it('no-rotation: the same refresh token works again', async () => {
    tenant.setOAuthBehaviour({ refreshTokenReuse: 'no-rotation' });
    try {
      const first = await freshTokens();
      const once = await refresh(first.refresh);
      expect(once.status).toBe(200);
      expect((await refresh(first.refresh)).status).toBe(200);
    } finally {
      tenant.setOAuthBehaviour({ refreshTokenReuse: 'revoke-grant' });
    }
  });
});
