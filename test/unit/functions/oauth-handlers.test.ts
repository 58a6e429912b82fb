import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createCallbackHandler,
  createCodeExchangeHandler,
  createLoginHandler,
  createRefreshHandler,
} from '../../../functions/oauth/handler.js';
import type { FetchLike } from '../../../functions/qlik/oauth-client.js';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { type ConfigInput, parseConfig } from '../../../functions/runtime/config.js';
import { createRuntime } from '../../../functions/runtime/wiring.js';
import { MemorySecretStore } from '../../../functions/secrets/secret-source.js';
import { httpEvent, lambdaContext } from '../../support/events.js';
import { capturingLogger } from '../../support/logs.js';

const NOW_MS = Date.UTC(2026, 10, 21, 12, 0, 0);
const SECRET = 'the-client-secret-value';
const APP = 'https://app.example/home';

function setup(mode: 'cookie' | 'json' = 'cookie', qlik?: FetchLike) {
  const clock = new FixedClock(NOW_MS);
  const log = capturingLogger();
  const sent: Record<string, unknown>[] = [];
  const fetch: FetchLike =
    qlik ??
    (async (_url, init) => {
      sent.push(JSON.parse(String(init.body)) as Record<string, unknown>);
      return new Response(
        JSON.stringify({
          access_token: 'access-token-value',
          refresh_token: 'refresh-token-value',
          token_type: 'Bearer',
          expires_at: '2026-11-21T18:00:00.000Z',
          scope: 'user_default',
        }),
        { status: 200, headers: { 'content-type': 'application/json' } },
      );
    });
  const input: ConfigInput = {
    qlik: { issuer: 'https://qtv.example', tenantHost: 'tenant.example.com' },
    signing: { backend: 'file', privateKeyPath: 'unused' },
    cors: { allowedOrigins: ['https://app.example'] },
    oauth: {
      clientId: 'web-client',
      clientSecretId: 'client',
      redirectUris: ['https://qtv.example/oauth/callback', 'https://spa.example/callback'],
      appReturnUrls: [APP],
      mode,
    },
  };
  const runtime = createRuntime(parseConfig(input), {
    clock,
    logger: log.logger,
    signers: { current: () => Promise.reject(new Error('unused')) },
    fetch,
    oauthSecretStore: new MemorySecretStore({ client: SECRET }),
  });
  return { runtime, clock, log, sent };
}

async function login(runtime: ReturnType<typeof setup>['runtime'], query: Record<string, string> = { returnTo: APP }) {
  const result = await createLoginHandler(runtime)(
    httpEvent({ method: 'GET', path: '/oauth/login', query }),
    lambdaContext(),
  );
  const location = new URL(String(result.headers?.location));
  const cookie = result.cookies?.[0]?.split(';')[0] ?? '';
  return { result, location, cookie };
}

const callback = (runtime: ReturnType<typeof setup>['runtime'], query: Record<string, string>, cookie?: string) =>
  createCallbackHandler(runtime)(
    httpEvent({ method: 'GET', path: '/oauth/callback', query, headers: cookie ? { cookie } : {} }),
    lambdaContext(),
  );

describe('Handler: GET /oauth/login and /oauth/callback', () => {
  it('redirects to https://<tenant>/oauth/authorize with an S256 challenge of the verifier later sent to /oauth/token', async () => {
    // Prepare
    const { runtime, sent } = setup();
    const { result, location, cookie } = await login(runtime, { returnTo: APP, prompt: 'login' });
    // Act
    const done = await callback(runtime, { code: 'the-code', state: location.searchParams.get('state')! }, cookie);
    // Assess
    expect(result.statusCode).toBe(302);
    expect(`${location.origin}${location.pathname}`).toBe('https://tenant.example.com/oauth/authorize');
    expect(location.searchParams.get('prompt')).toBe('login');
    expect(done.statusCode).toBe(302);
    expect(done.headers?.location).toBe(APP);
    const verifier = String(sent[0]?.code_verifier);
    expect(createHash('sha256').update(verifier).digest('base64url')).toBe(location.searchParams.get('code_challenge'));
    expect(sent[0]).toMatchObject({
      grant_type: 'authorization_code',
      code: 'the-code',
      redirect_uri: 'https://qtv.example/oauth/callback',
      client_id: 'web-client',
      client_secret: SECRET,
    });
  });

  it('refuses a login that took longer than stateTtlSeconds, and clears the state cookie', async () => {
    const { runtime, clock, sent } = setup();
    const { location, cookie } = await login(runtime);
    clock.advance(601_000);
    const done = await callback(runtime, { code: 'c', state: location.searchParams.get('state')! }, cookie);
    expect(done.statusCode).toBe(400);
    expect(JSON.parse(done.body ?? '{}')).toMatchObject({ code: 'OAUTH_STATE_INVALID' });
    expect(done.cookies).toContainEqual(expect.stringMatching(/^__Host-qtv-oauth-state=; Path=\/; Max-Age=0/));
    expect(sent).toHaveLength(0);
  });

  it('passes on an error Qlik put on the callback (e.g. access_denied) without its description', async () => {
    const { runtime } = setup();
    const { location, cookie } = await login(runtime);
    const done = await callback(
      runtime,
      { error: 'access_denied', error_description: '<script>x</script>', state: location.searchParams.get('state')! },
      cookie,
    );
    expect(done.statusCode).toBe(403);
    expect(JSON.parse(done.body ?? '{}')).toMatchObject({ error: 'access_denied' });
    expect(done.body).not.toContain('<script>');
  });

  it('answers with JSON tokens in json mode', async () => {
    const { runtime } = setup('json');
    const { location, cookie } = await login(runtime, {});
    const done = await callback(runtime, { code: 'c', state: location.searchParams.get('state')! }, cookie);
    expect(done.statusCode).toBe(200);
    expect(JSON.parse(done.body ?? '{}')).toEqual({
      accessToken: 'access-token-value',
      refreshToken: 'refresh-token-value',
      tokenType: 'Bearer',
      expiresAt: '2026-11-21T18:00:00.000Z',
      expiresIn: 21_600,
      scope: 'user_default',
    });
  });

  it('never logs the code, verifier, state, client secret or tokens', async () => {
    const { runtime, log, sent } = setup();
    const { location, cookie } = await login(runtime);
    await callback(runtime, { code: 'the-secret-code', state: location.searchParams.get('state')! }, cookie);
    const text = log.text();
    expect(text).toContain('oauth login completed');
    for (const value of [
      'the-secret-code',
      String(sent[0]?.code_verifier),
      location.searchParams.get('state')!,
      SECRET,
      'access-token-value',
      'refresh-token-value',
      cookie.split('=')[1]!,
    ])
      expect(text).not.toContain(value);
  });
});

describe('Handler: POST /oauth/code-exchange and /oauth/refresh', () => {
  it.each([
    ['a missing verifier', { code: 'c', redirect_uri: 'https://spa.example/callback' }],
    ['a short verifier', { code: 'c', redirect_uri: 'https://spa.example/callback', code_verifier: 'short' }],
    [
      'an extra field',
      { code: 'c', redirect_uri: 'https://spa.example/callback', code_verifier: 'v'.repeat(43), client_secret: 'x' },
    ],
  ])('refuses %s with 400 before calling Qlik', async (_name, body) => {
    const { runtime, sent } = setup('json');
    const result = await createCodeExchangeHandler(runtime)(
      httpEvent({ path: '/oauth/code-exchange', body: JSON.stringify(body) }),
      lambdaContext(),
    );
    expect(result.statusCode).toBe(400);
    expect(sent).toHaveLength(0);
  });

  it('keeps the refresh token in the sealed cookie in cookie mode and answers the access token only', async () => {
    const { runtime } = setup('cookie');
    const result = await createCodeExchangeHandler(runtime)(
      httpEvent({
        path: '/oauth/code-exchange',
        body: JSON.stringify({
          code: 'c',
          redirect_uri: 'https://spa.example/callback',
          code_verifier: 'v'.repeat(43),
        }),
      }),
      lambdaContext(),
    );
    expect(JSON.parse(result.body ?? '{}')).not.toHaveProperty('refreshToken');
    expect(result.cookies?.[0]).toMatch(/^__Host-qtv-oauth-session=v1\./);
    expect(result.cookies?.[0]).not.toContain('refresh-token-value');
  });

  it('refuses (500, no cookie) tokens too large for a browser cookie instead of letting the browser drop it', async () => {
    const { runtime, log } = setup(
      'cookie',
      async () =>
        new Response(
          JSON.stringify({ access_token: 'a'.repeat(3000), refresh_token: 'r'.repeat(1500), expires_in: 60 }),
          {
            status: 200,
            headers: { 'content-type': 'application/json' },
          },
        ),
    );
    const result = await createCodeExchangeHandler(runtime)(
      httpEvent({
        path: '/oauth/code-exchange',
        body: JSON.stringify({
          code: 'c',
          redirect_uri: 'https://spa.example/callback',
          code_verifier: 'v'.repeat(43),
        }),
      }),
      lambdaContext(),
    );
    expect(result.statusCode).toBe(500);
    expect(result.cookies ?? []).toEqual([]);
    expect(log.text()).toContain('do not fit in a session cookie');
  });

  it('answers 502 and keeps the session cookie when Qlik is down during a cookie-mode refresh', async () => {
    // Prepare: a session from a successful exchange, then a Qlik that refuses connections.
    const { runtime } = setup('cookie');
    const exchange = await createCodeExchangeHandler(runtime)(
      httpEvent({
        path: '/oauth/code-exchange',
        body: JSON.stringify({
          code: 'c',
          redirect_uri: 'https://spa.example/callback',
          code_verifier: 'v'.repeat(43),
        }),
      }),
      lambdaContext(),
    );
    const session = exchange.cookies?.[0]?.split(';')[0] ?? '';
    const down = setup('cookie', async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } });
    });
    // Act: the same sealing key (derived from the same client secret) opens the session.
    const result = await createRefreshHandler(down.runtime)(
      httpEvent({ path: '/oauth/refresh', headers: { cookie: session } }),
      lambdaContext(),
    );
    // Assess
    expect(result.statusCode).toBe(502);
    expect(JSON.parse(result.body ?? '{}')).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(result.cookies ?? []).toEqual([]);
  });
});
