/**
 * The OAuth proxy through the real handlers, over HTTP: dev server (cookie mode and JSON mode) on
 * loopback in front of the Qlik tenant emulator, client secrets in Secrets Manager (moto).
 */
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, GetPublicKeyCommand } from '@aws-sdk/client-kms';
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ConfigInput } from '../../functions/runtime/config.js';
import { ensureDevSigningKey } from '../../scripts/dev/dev-keys.js';
import { type DevServer, defaultDevConfig, describeDevServer, startDevServer } from '../../scripts/dev-server.js';
import { motoKms, motoSecretsManager, uniqueName } from '../support/aws.js';
import { capturingLogger } from '../support/logs.js';
import { CookieJar, completeAuthorization, pkcePair } from '../support/tenant-emulator/browser.js';
import { type EmulatedClient, startTenantEmulator, type TenantEmulator } from '../support/tenant-emulator/index.js';

const SPA_REDIRECT = 'http://127.0.0.1:9/spa/callback';
const WEB_SECRET = `web-${randomBytes(12).toString('hex')}`;
const OLD_SECRET = `old-${randomBytes(12).toString('hex')}`;
const IMP_SECRET = `imp-${randomBytes(12).toString('hex')}`;
const ADMIN_SECRET = `adm-${randomBytes(12).toString('hex')}`;

let tenant: TenantEmulator;
let web: EmulatedClient;
let cookieDev: DevServer;
let jsonDev: DevServer;
let jwtDev: DevServer;
const logs = { cookie: capturingLogger('DEBUG'), json: capturingLogger('DEBUG'), jwt: capturingLogger('DEBUG') };
/** Every secret value a test sees; none may appear in a log line. */
const secrets = new Set<string>([WEB_SECRET, OLD_SECRET, IMP_SECRET, ADMIN_SECRET]);

const sm = motoSecretsManager();
async function secret(value: string) {
  const name = uniqueName('qtv-oauth');
  await sm.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  return name;
}

async function devServer(
  mode: 'cookie' | 'json',
  oauth: (baseUrl: string) => Partial<NonNullable<ConfigInput['oauth']>>,
  log: ReturnType<typeof capturingLogger>,
  extra: Parameters<typeof startDevServer>[0] = {},
) {
  const localDir = mkdtempSync(join(tmpdir(), 'qtv-oauth-'));
  const keys = await ensureDevSigningKey(localDir);
  return startDevServer({
    port: 0,
    localDir,
    runtimeOverrides: { logger: log.logger, secretsManager: sm, ...extra.runtimeOverrides },
    config: (baseUrl) => ({
      ...defaultDevConfig(baseUrl, keys),
      qlik: { issuer: 'https://qtv.test', keyId: 'qtv-test', tenantHost: tenant.tenantHost },
      oauth: {
        tenantUrl: tenant.url,
        clientId: web.clientId,
        redirectUris: [`${baseUrl}/oauth/callback`, SPA_REDIRECT],
        appReturnUrls: [`${baseUrl}/dev/app`, 'https://app.example.com/home'],
        mode,
        upstream: { timeoutMs: 1500, retries: 1 },
        ...oauth(baseUrl),
      } as NonNullable<ConfigInput['oauth']>,
    }),
  });
}

beforeAll(async () => {
  tenant = await startTenantEmulator({
    users: [
      { subject: 'alice', name: 'Alice', email: 'alice@example.com' },
      { subject: 'bob', name: 'Bob', email: 'bob@example.com' },
    ],
  });
  web = tenant.addClient({ clientId: 'proxy-web', secrets: [WEB_SECRET], redirectUris: [SPA_REDIRECT] });
  tenant.addClient({ clientId: 'proxy-imp', secrets: [IMP_SECRET], impersonation: true });
  tenant.addClient({ clientId: 'proxy-admin', secrets: [ADMIN_SECRET], admin: true });
  // The rotation case: the stored secret lists a retired secret first and the live one second.
  const webSecretId = await secret(JSON.stringify({ clientSecrets: [OLD_SECRET, WEB_SECRET] }));
  const impSecretId = await secret(IMP_SECRET);
  const adminSecretId = await secret(JSON.stringify({ clientSecret: ADMIN_SECRET }));
  cookieDev = await devServer(
    'cookie',
    () => ({
      clientSecretId: webSecretId,
      impersonation: {
        enabled: true,
        clientId: 'proxy-imp',
        clientSecretId: impSecretId,
        provisionUsers: true,
        adminClientId: 'proxy-admin',
        adminClientSecretId: adminSecretId,
      },
    }),
    logs.cookie,
  );
  jsonDev = await devServer(
    'json',
    () => ({
      clientSecretId: webSecretId,
      // An admin client without provisioning: Qlik's answer for an unknown user is undocumented, so the proxy
      // looks the user up to tell "no such user" from any other refusal.
      impersonation: {
        enabled: true,
        clientId: 'proxy-imp',
        clientSecretId: impSecretId,
        adminClientId: 'proxy-admin',
        adminClientSecretId: adminSecretId,
      },
    }),
    logs.json,
  );
  // Private-key JWT: a KMS ECC_NIST_P384 key (moto) signs ES384 client assertions; no client secret exists
  // for this client. Qlik gets the key's public half, as an operator would register it.
  const kms = motoKms();
  const key = await kms.send(new CreateKeyCommand({ KeyUsage: 'SIGN_VERIFY', KeySpec: 'ECC_NIST_P384' }));
  const keyId = key.KeyMetadata!.KeyId!;
  const { PublicKey } = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
  const publicKey = createPublicKey({ key: Buffer.from(PublicKey!), format: 'der', type: 'spki' });
  tenant.addClient({
    clientId: 'proxy-jwt',
    publicKeys: [{ kid: 'assertion-1', key: publicKey }],
    impersonation: true,
  });
  const sealingId = await secret(randomBytes(32).toString('base64url'));
  jwtDev = await devServer(
    'json',
    () => ({
      clientId: 'proxy-jwt',
      clientAuth: 'private-key-jwt',
      clientAssertion: { backend: 'kms', keyId, kid: 'assertion-1', alg: 'ES384' },
      sealingSecretId: sealingId,
      impersonation: { enabled: true },
    }),
    logs.jwt,
    { runtimeOverrides: { kms } },
  );
  for (const dev of [cookieDev, jsonDev]) web.redirectUris.push(`${dev.url}/oauth/callback`);
});
afterAll(async () => {
  await Promise.all([cookieDev?.close(), jsonDev?.close(), jwtDev?.close()]);
  await tenant?.close();
});
afterEach(() => {
  tenant.clearFaults();
  vi.useRealTimers();
});

/** Records every token, code and verifier a test handles, for the log check at the end. */
function remember(...values: (string | undefined | null)[]) {
  for (const value of values) if (value) secrets.add(value);
}

/** Starts a login at the proxy and signs `subject` in at the emulator; returns the callback URL. */
async function signIn(dev: DevServer, subject: string, jar = new CookieJar(), returnTo = `${dev.url}/dev/app`) {
  const login = await jar.fetch(`${dev.url}/oauth/login?returnTo=${encodeURIComponent(returnTo)}`);
  expect(login.status).toBe(302);
  const authorize = new URL(login.headers.get('location')!);
  const callback = await completeAuthorization({
    authorizeUrl: authorize.href,
    subject,
    redirectUriPrefix: `${dev.url}/oauth/callback`,
  });
  remember(callback.searchParams.get('code'));
  return { jar, authorize, callback };
}

async function usersMe(accessToken: string) {
  const response = await fetch(`${tenant.url}/api/v1/users/me`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function callerToken(dev: DevServer, sub: string, extra: Record<string, unknown> = {}) {
  const response = await fetch(`${dev.url}/dev/identity/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub, name: `User ${sub}`, email: `${sub}@example.com`, ...extra }),
  });
  const token = ((await response.json()) as { id_token: string }).id_token;
  remember(token);
  return token;
}

const post = (url: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });

/** An SPA's own authorization: PKCE at the emulator with the SPA redirect URI; returns code and verifier. */
async function spaAuthorization(subject: string) {
  const pkce = pkcePair();
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: web.clientId,
    redirect_uri: SPA_REDIRECT,
    scope: 'user_default offline_access',
    state: randomBytes(16).toString('base64url'),
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
  });
  const callback = await completeAuthorization({ authorizeUrl: `${tenant.url}/oauth/authorize?${params}`, subject });
  const code = callback.searchParams.get('code');
  expect(code).toBeTruthy();
  remember(code, pkce.verifier);
  return { code: code!, verifier: pkce.verifier };
}

const tokenRequests = () => tenant.requests.filter((r) => r.path === '/oauth/token').length;

describe('OAuth proxy: authorization-code flow in cookie mode (dev server + tenant emulator over HTTP)', () => {
  it('redirects to the tenant with state, PKCE S256, the registered redirect URI and the fewest scopes, and seals the verifier in a __Host- cookie', async () => {
    // Act
    const response = await fetch(
      `${cookieDev.url}/oauth/login?returnTo=${encodeURIComponent(`${cookieDev.url}/dev/app`)}`,
      {
        redirect: 'manual',
      },
    );
    // Assess
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location')!);
    expect(location.origin + location.pathname).toBe(`${tenant.url}/oauth/authorize`);
    expect(Object.fromEntries(location.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: web.clientId,
      redirect_uri: `${cookieDev.url}/oauth/callback`,
      scope: 'user_default offline_access',
      code_challenge_method: 'S256',
    });
    expect(location.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(location.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const [cookie] = response.headers.getSetCookie();
    expect(cookie).toMatch(
      /^__Host-qtv-oauth-state=v1\.[A-Za-z0-9_-]+; Path=\/; Max-Age=600; HttpOnly; Secure; SameSite=Lax$/,
    );
    // The cookie is sealed: neither state nor anything else readable is in it.
    expect(cookie).not.toContain(location.searchParams.get('state'));
  });

  it('completes code -> tokens -> /api/v1/users/me: the callback sets a sealed session cookie and returns to the app; refresh yields a token Qlik accepts', async () => {
    // Prepare
    const { jar, callback } = await signIn(cookieDev, 'alice');
    // Act
    const response = await jar.fetch(callback.href);
    // Assess
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe(`${cookieDev.url}/dev/app`);
    const cookies = response.headers.getSetCookie();
    expect(cookies).toContainEqual(expect.stringMatching(/^__Host-qtv-oauth-state=; Path=\/; Max-Age=0/));
    expect(cookies).toContainEqual(
      expect.stringMatching(
        /^__Host-qtv-oauth-session=v1\.[A-Za-z0-9_-]+; Path=\/; Max-Age=28800; HttpOnly; Secure; SameSite=Strict$/,
      ),
    );
    const refreshed = await jar.fetch(`${cookieDev.url}/oauth/refresh`, { method: 'POST' });
    expect(refreshed.status).toBe(200);
    const body = (await refreshed.json()) as Record<string, unknown>;
    expect(body).toEqual({
      accessToken: expect.any(String),
      tokenType: 'Bearer',
      expiresAt: expect.any(String),
      expiresIn: expect.any(Number),
      scope: expect.any(String),
    });
    expect(body).not.toHaveProperty('refreshToken');
    remember(body.accessToken as string);
    const me = await usersMe(body.accessToken as string);
    expect(me).toMatchObject({ status: 200, body: { subject: 'alice', name: 'Alice' } });
    // The bare token for qlik-embed's getAccessToken:
    const plain = await jar.fetch(`${cookieDev.url}/oauth/refresh`, {
      method: 'POST',
      headers: { accept: 'text/plain' },
    });
    expect(plain.headers.get('content-type')).toMatch(/^text\/plain/);
    const token = await plain.text();
    remember(token);
    expect((await usersMe(token)).body.subject).toBe('alice');
  });

  it('refuses a tampered state with 400 OAUTH_STATE_INVALID and never redeems the code', async () => {
    // Prepare
    const { jar, callback } = await signIn(cookieDev, 'alice');
    const state = callback.searchParams.get('state')!;
    callback.searchParams.set('state', `${state.slice(0, -1)}${state.endsWith('A') ? 'B' : 'A'}`);
    const before = tokenRequests();
    // Act
    const response = await jar.fetch(callback.href);
    // Assess
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'OAUTH_STATE_INVALID', error: 'invalid_request' });
    expect(tokenRequests()).toBe(before);
  });

  it('refuses a callback from a browser that did not start the login (no state cookie), and a forged cookie', async () => {
    // Prepare
    const { callback } = await signIn(cookieDev, 'alice');
    // Act
    const noCookie = await fetch(callback.href, { redirect: 'manual' });
    const forged = await fetch(callback.href, {
      redirect: 'manual',
      headers: { cookie: `__Host-qtv-oauth-state=v1.${randomBytes(80).toString('base64url')}` },
    });
    // Assess
    expect(noCookie.status).toBe(400);
    expect(forged.status).toBe(400);
    expect(await forged.json()).toMatchObject({ code: 'OAUTH_STATE_INVALID' });
  });

  it.each([
    ['an unlisted host', 'https://evil.example/'],
    ['a protocol-relative URL', '//evil.example/x'],
    ['a longer host', 'https://app.example.com.evil/home'],
    ['a userinfo trick', 'https://app.example.com@evil.example/home'],
    ['a path suffix', 'https://app.example.com/home/../evil'],
    ['CRLF header injection', 'https://app.example.com/home\r\nSet-Cookie: pwned=1'],
    ['a javascript: URL', 'javascript:alert(1)'],
    ['a relative path', '/home'],
  ])('refuses returnTo with %s: 400, no redirect, no cookie', async (_name, returnTo) => {
    // Act
    const response = await fetch(`${cookieDev.url}/oauth/login?returnTo=${encodeURIComponent(returnTo)}`, {
      redirect: 'manual',
    });
    // Assess
    expect(response.status).toBe(400);
    expect(response.headers.get('location')).toBeNull();
    expect(response.headers.getSetCookie()).toEqual([]);
    expect(await response.json()).toMatchObject({ code: 'OAUTH_REDIRECT_NOT_ALLOWED' });
  });

  it('revokes the session: 204, cookie cleared, the access token no longer works at Qlik, and the old cookie cannot refresh', async () => {
    // Prepare
    const { jar, callback } = await signIn(cookieDev, 'bob');
    await jar.fetch(callback.href);
    const oldCookie = jar.header(cookieDev.url)!;
    const tokenBody = (await (await jar.fetch(`${cookieDev.url}/oauth/refresh`, { method: 'POST' })).json()) as {
      accessToken: string;
    };
    remember(tokenBody.accessToken);
    const sessionCookie = jar.header(cookieDev.url)!;
    // Act
    const revoked = await jar.fetch(`${cookieDev.url}/oauth/revoke`, { method: 'POST' });
    // Assess
    expect(revoked.status).toBe(204);
    expect(revoked.headers.getSetCookie()).toContainEqual(
      expect.stringMatching(/^__Host-qtv-oauth-session=; Path=\/; Max-Age=0/),
    );
    expect((await usersMe(tokenBody.accessToken)).status).toBe(401);
    for (const cookie of [sessionCookie, oldCookie]) {
      const again = await fetch(`${cookieDev.url}/oauth/refresh`, { method: 'POST', headers: { cookie } });
      expect(again.status).toBe(401);
      expect(await again.json()).toMatchObject({ code: 'OAUTH_SESSION_MISSING', error: 'invalid_grant' });
      expect(again.headers.getSetCookie()).toContainEqual(expect.stringMatching(/^__Host-qtv-oauth-session=; /));
    }
  });

  it('refuses the session cookie from a foreign origin (403)', async () => {
    // Prepare
    const { jar, callback } = await signIn(cookieDev, 'alice');
    await jar.fetch(callback.href);
    // Act
    const response = await jar.fetch(`${cookieDev.url}/oauth/refresh`, {
      method: 'POST',
      headers: { origin: 'https://evil.example' },
    });
    // Assess
    expect(response.status).toBe(403);
  });

  it('prints the sign-in URL and the qlik-embed token command in the dev server banner', async () => {
    const banner = await describeDevServer(cookieDev);
    expect(banner).toContain(`${cookieDev.url}/oauth/login?returnTo=${encodeURIComponent(`${cookieDev.url}/dev/app`)}`);
    expect(banner).toContain(`${cookieDev.url}/qlik/access-token`);
  });

  it('answers 401 for refresh without a session cookie', async () => {
    const response = await post(`${cookieDev.url}/oauth/refresh`);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ code: 'OAUTH_SESSION_MISSING' });
  });
});

describe('OAuth proxy: JSON mode (SPA code exchange, refresh, revoke)', () => {
  it('returns tokens as JSON from the callback, and they call /api/v1/users/me as the signed-in user', async () => {
    // Prepare
    const { jar, callback } = await signIn(jsonDev, 'alice');
    // Act
    const response = await jar.fetch(callback.href);
    // Assess
    expect(response.status).toBe(200);
    const body = (await response.json()) as { accessToken: string; refreshToken: string };
    remember(body.accessToken, body.refreshToken);
    expect(body.refreshToken).toEqual(expect.any(String));
    expect((await usersMe(body.accessToken)).body.subject).toBe('alice');
  });

  it('exchanges an SPA’s code with its own verifier; the proxy adds the client secret (trying the next secret after invalid_client)', async () => {
    // Prepare
    const { code, verifier } = await spaAuthorization('bob');
    // Act
    const response = await post(`${jsonDev.url}/oauth/code-exchange`, {
      code,
      redirect_uri: SPA_REDIRECT,
      code_verifier: verifier,
    });
    // Assess
    expect(response.status).toBe(200);
    const body = (await response.json()) as { accessToken: string; refreshToken: string };
    remember(body.accessToken, body.refreshToken);
    expect((await usersMe(body.accessToken)).body.subject).toBe('bob');
    expect(logs.json.text()).toContain('trying the next one');
  });

  it('refuses a replayed code with 400 invalid_grant', async () => {
    // Prepare
    const { code, verifier } = await spaAuthorization('alice');
    const exchange = () =>
      post(`${jsonDev.url}/oauth/code-exchange`, { code, redirect_uri: SPA_REDIRECT, code_verifier: verifier });
    const first = await exchange();
    remember(((await first.json()) as { accessToken: string }).accessToken);
    // Act
    const replay = await exchange();
    // Assess
    expect(first.status).toBe(200);
    expect(replay.status).toBe(400);
    const body = (await replay.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ code: 'OAUTH_REJECTED', error: 'invalid_grant', status: 400 });
    expect(replay.headers.get('content-type')).toBe('application/problem+json');
  });

  it('refuses a PKCE verifier that does not match with 400 invalid_grant', async () => {
    const { code } = await spaAuthorization('alice');
    const response = await post(`${jsonDev.url}/oauth/code-exchange`, {
      code,
      redirect_uri: SPA_REDIRECT,
      code_verifier: randomBytes(32).toString('base64url'),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses a redirect URI off the allowlist before calling Qlik, and one on it that differs from the authorization (Qlik says invalid_grant)', async () => {
    // Prepare
    const { code, verifier } = await spaAuthorization('alice');
    const before = tokenRequests();
    // Act
    const offList = await post(`${jsonDev.url}/oauth/code-exchange`, {
      code,
      redirect_uri: 'http://127.0.0.1:9/spa/callback/../evil',
      code_verifier: verifier,
    });
    const calls = tokenRequests() - before;
    const other = await post(`${jsonDev.url}/oauth/code-exchange`, {
      code,
      redirect_uri: `${jsonDev.url}/oauth/callback`,
      code_verifier: verifier,
    });
    // Assess
    expect(offList.status).toBe(400);
    expect(await offList.json()).toMatchObject({ code: 'OAUTH_REDIRECT_NOT_ALLOWED' });
    expect(calls).toBe(0);
    expect(other.status).toBe(400);
    expect(await other.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('refreshes with a refresh token, and refuses it once revoked (400 invalid_grant)', async () => {
    // Prepare
    const { code, verifier } = await spaAuthorization('alice');
    const tokens = (await (
      await post(`${jsonDev.url}/oauth/code-exchange`, { code, redirect_uri: SPA_REDIRECT, code_verifier: verifier })
    ).json()) as { accessToken: string; refreshToken: string };
    remember(tokens.accessToken, tokens.refreshToken);
    // Act
    const refreshed = await post(`${jsonDev.url}/oauth/refresh`, { refresh_token: tokens.refreshToken });
    const next = (await refreshed.json()) as { accessToken: string; refreshToken: string };
    remember(next.accessToken, next.refreshToken);
    const meAfterRefresh = await usersMe(next.accessToken);
    const revoke = await post(`${jsonDev.url}/oauth/revoke`, {
      token: next.refreshToken,
      token_type_hint: 'refresh_token',
    });
    const afterRevoke = await post(`${jsonDev.url}/oauth/refresh`, { refresh_token: next.refreshToken });
    // Assess
    expect(refreshed.status).toBe(200);
    expect(meAfterRefresh.body.subject).toBe('alice');
    expect(revoke.status).toBe(204);
    expect(afterRevoke.status).toBe(400);
    expect(await afterRevoke.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses an expired refresh token with 400 invalid_grant', async () => {
    // Prepare
    const { code, verifier } = await spaAuthorization('bob');
    const tokens = (await (
      await post(`${jsonDev.url}/oauth/code-exchange`, { code, redirect_uri: SPA_REDIRECT, code_verifier: verifier })
    ).json()) as { refreshToken: string; accessToken: string };
    remember(tokens.accessToken, tokens.refreshToken);
    // Qlik refresh tokens live ~30 days; move every clock in this process (emulator included) past that.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 31 * 86_400_000 });
    // Act
    const response = await post(`${jsonDev.url}/oauth/refresh`, { refresh_token: tokens.refreshToken });
    // Assess
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' });
  });
});

describe('OAuth proxy: client secret rotation through Secrets Manager', () => {
  it('keeps working while the secret is rotated at Qlik and in Secrets Manager (picked up after the cache TTL)', async () => {
    // Prepare: its own client and secret, so the other servers' cached secrets stay valid.
    const first = `rot1-${randomBytes(12).toString('hex')}`;
    const second = `rot2-${randomBytes(12).toString('hex')}`;
    remember(first, second);
    const rotating = tenant.addClient({ clientId: 'proxy-rot', secrets: [first], impersonation: true });
    const secretId = await secret(first);
    const log = capturingLogger('DEBUG');
    const dev = await devServer(
      'json',
      () => ({
        clientId: 'proxy-rot',
        clientSecretId: secretId,
        secretCacheTtlSeconds: 1,
        impersonation: { enabled: true },
      }),
      log,
    );
    try {
      const vend = async (sub: string) =>
        post(`${dev.url}/qlik/access-token`, undefined, { authorization: `Bearer ${await callerToken(dev, sub)}` });
      expect((await vend('alice')).status).toBe(200);
      // Act: 1. Qlik holds both secrets; 2. Secrets Manager gets the new one; 3. Qlik drops the old one.
      rotating.secrets.push(second);
      await sm.send(
        new PutSecretValueCommand({ SecretId: secretId, SecretString: JSON.stringify({ clientSecrets: [second] }) }),
      );
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const during = await vend('bob');
      rotating.secrets.splice(0, 1);
      // Assess
      expect(during.status).toBe(200);
      remember(((await during.json()) as { accessToken: string }).accessToken);
      const subject = `rot-${randomBytes(2).toString('hex')}`;
      tenant.addUser({ subject });
      // A user not cached yet: a new token proves the client authenticated with the new secret alone.
      const after = await vend(subject);
      expect(after.status).toBe(200);
      remember(((await after.json()) as { accessToken: string }).accessToken);
      for (const value of [first, second]) expect(log.text()).not.toContain(value);
    } finally {
      await dev.close();
    }
  });
});

describe('OAuth proxy: upstream faults', () => {
  it('answers 502 problem+json on a Qlik 500 during the code exchange, without Qlik’s body and without retrying the consuming request', async () => {
    // Prepare
    const { code, verifier } = await spaAuthorization('alice');
    tenant.injectFault({ path: '/oauth/token', status: 500, body: '{"errors":[{"detail":"internal secret detail"}]}' });
    const before = tokenRequests();
    // Act
    const response = await post(`${jsonDev.url}/oauth/code-exchange`, {
      code,
      redirect_uri: SPA_REDIRECT,
      code_verifier: verifier,
    });
    // Assess
    expect(response.status).toBe(502);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    const text = await response.text();
    expect(JSON.parse(text)).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', status: 502 });
    expect(text).not.toContain('internal secret detail');
    expect(tokenRequests() - before).toBe(1);
  });

  it('answers 504 problem+json when Qlik does not answer within the timeout', async () => {
    const { code, verifier } = await spaAuthorization('alice');
    tenant.injectFault({ path: '/oauth/token', delayMs: 3000, times: 1 });
    const response = await post(`${jsonDev.url}/oauth/code-exchange`, {
      code,
      redirect_uri: SPA_REDIRECT,
      code_verifier: verifier,
    });
    expect(response.status).toBe(504);
    expect(await response.json()).toMatchObject({ code: 'UPSTREAM_TIMEOUT' });
  });

  it('retries a non-consuming request (impersonation) once after a Qlik 503', async () => {
    tenant.injectFault({ path: '/oauth/token', status: 503, body: '{}', times: 1 });
    const before = tokenRequests();
    const response = await post(`${jsonDev.url}/qlik/access-token`, undefined, {
      authorization: `Bearer ${await callerToken(jsonDev, 'alice')}`,
    });
    expect(response.status).toBe(200);
    remember(((await response.json()) as { accessToken: string }).accessToken);
    expect(tokenRequests() - before).toBe(2);
  });
});

describe('Impersonation: POST /qlik/access-token', () => {
  it('returns a token for the caller’s mapped identity that calls /api/v1/users/me as that user, as JSON or as text/plain', async () => {
    // Prepare
    const caller = await callerToken(cookieDev, 'alice');
    // Act
    const response = await post(`${cookieDev.url}/qlik/access-token`, undefined, { authorization: `Bearer ${caller}` });
    const plain = await post(`${cookieDev.url}/qlik/access-token`, undefined, {
      authorization: `Bearer ${caller}`,
      accept: 'text/plain',
    });
    // Assess
    expect(response.status).toBe(200);
    const body = (await response.json()) as { accessToken: string; expiresAt: string; expiresIn: number };
    remember(body.accessToken);
    expect(body).toEqual({
      accessToken: expect.any(String),
      expiresAt: expect.any(String),
      expiresIn: expect.any(Number),
    });
    expect(body.expiresIn).toBeGreaterThan(21_000);
    expect(await usersMe(body.accessToken)).toMatchObject({ status: 200, body: { subject: 'alice' } });
    expect(plain.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await plain.text()).toBe(body.accessToken);
  });

  it('caches per user: a second call makes no upstream request, and another user never gets the first user’s token', async () => {
    // Prepare
    const alice = await callerToken(cookieDev, 'alice');
    const bob = await callerToken(cookieDev, 'bob');
    const first = (await (
      await post(`${cookieDev.url}/qlik/access-token`, undefined, { authorization: `Bearer ${alice}` })
    ).json()) as {
      accessToken: string;
    };
    const before = tokenRequests();
    // Act
    const again = (await (
      await post(`${cookieDev.url}/qlik/access-token`, undefined, { authorization: `Bearer ${alice}` })
    ).json()) as {
      accessToken: string;
    };
    const bobs = (await (
      await post(`${cookieDev.url}/qlik/access-token`, undefined, { authorization: `Bearer ${bob}` })
    ).json()) as {
      accessToken: string;
    };
    // Assess
    remember(first.accessToken, bobs.accessToken);
    expect(again.accessToken).toBe(first.accessToken);
    expect(bobs.accessToken).not.toBe(first.accessToken);
    expect((await usersMe(bobs.accessToken)).body.subject).toBe('bob');
    expect(tokenRequests() - before).toBe(1);
  });

  it('provisions an unknown user with the admin client, then impersonates it', async () => {
    // Prepare
    const subject = `new-${randomBytes(4).toString('hex')}`;
    expect(tenant.users.bySubject(subject)).toBeUndefined();
    // Act
    const response = await post(`${cookieDev.url}/qlik/access-token`, undefined, {
      authorization: `Bearer ${await callerToken(cookieDev, subject)}`,
    });
    // Assess
    expect(response.status).toBe(200);
    const { accessToken } = (await response.json()) as { accessToken: string };
    remember(accessToken);
    expect(tenant.users.bySubject(subject)).toMatchObject({ name: `User ${subject}`, email: `${subject}@example.com` });
    expect((await usersMe(accessToken)).body.subject).toBe(subject);
  });

  it('answers 403 IDENTITY_NOT_MAPPABLE for an unknown user when provisioning is off (the admin client looked it up)', async () => {
    const response = await post(`${jsonDev.url}/qlik/access-token`, undefined, {
      authorization: `Bearer ${await callerToken(jsonDev, `ghost-${randomBytes(4).toString('hex')}`)}`,
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ code: 'IDENTITY_NOT_MAPPABLE' });
  });

  it('authenticates by private-key JWT: an ES384 client assertion signed by a KMS key (moto), no client secret at all', async () => {
    const response = await post(`${jwtDev.url}/qlik/access-token`, undefined, {
      authorization: `Bearer ${await callerToken(jwtDev, 'bob')}`,
    });
    expect(response.status).toBe(200);
    const { accessToken } = (await response.json()) as { accessToken: string };
    remember(accessToken);
    expect((await usersMe(accessToken)).body.subject).toBe('bob');
  });

  it('refuses a caller without a verified token (401)', async () => {
    const response = await post(`${cookieDev.url}/qlik/access-token`);
    expect(response.status).toBe(401);
  });
});

describe('OAuth proxy: logs', () => {
  it('never logs a client secret, code, verifier or token (checked over every line the servers above wrote)', () => {
    const text = [logs.cookie.text(), logs.json.text(), logs.jwt.text()].join('\n');
    expect(text).toContain('qlik request');
    expect(secrets.size).toBeGreaterThan(20);
    for (const value of secrets) {
      expect(text).not.toContain(value);
      // Also no fragment long enough to matter (e.g. a token cut by a formatter).
      expect(text).not.toContain(value.slice(0, 24));
    }
    // A digest of a secret is still not a thing to log.
    expect(text).not.toContain(createHash('sha256').update(WEB_SECRET).digest('hex'));
  });
});
