import { describe, expect, it } from 'vitest';
import type { FetchLike } from '../../../functions/qlik/oauth-client.js';
import { createHandler } from '../../../functions/qlik-access-token/handler.js';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { type ConfigInput, parseConfig } from '../../../functions/runtime/config.js';
import { createRuntime } from '../../../functions/runtime/wiring.js';
import { MemorySecretStore } from '../../../functions/secrets/secret-source.js';
import { httpEvent, lambdaContext } from '../../support/events.js';
import { capturingLogger } from '../../support/logs.js';

const NOW_MS = Date.UTC(2026, 10, 21, 12, 0, 0);
const CLIENT_SECRET = 'client-secret-value-123';
const ADMIN_SECRET = 'admin-secret-value-456';

interface Upstream {
  /** Subjects Qlik knows. */
  users: Set<string>;
  /** Requests Qlik received: grant or path. */
  log: string[];
  /** Life of issued tokens in seconds. */
  lifeSeconds: number;
  issued: number;
}

/** A stand-in Qlik: impersonation for known users, client_credentials, users look-up and creation. */
function fakeQlik(clock: FixedClock, upstream: Upstream): FetchLike {
  return async (url, init) => {
    const path = new URL(url).pathname;
    const body = init.body === undefined ? {} : (JSON.parse(String(init.body)) as Record<string, unknown>);
    const reply = (status: number, value: unknown) =>
      new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json' } });
    if (path === '/oauth/token') {
      upstream.log.push(String(body.grant_type));
      const expiresAt = new Date(clock.nowMs() + upstream.lifeSeconds * 1000).toISOString();
      if (body.grant_type === 'client_credentials')
        return reply(200, { access_token: `admin-token-${++upstream.issued}`, expires_at: expiresAt });
      const subject = (body.user_lookup as { value: string }).value;
      if (!upstream.users.has(subject))
        return reply(400, { error: 'invalid_grant', error_description: `no ${subject}` });
      return reply(200, { access_token: `token-for-${subject}-${++upstream.issued}`, expires_at: expiresAt });
    }
    upstream.log.push(`${init.method} ${path}`);
    if (path === '/api/v1/users' && init.method === 'GET') return reply(200, { data: [] });
    if (path === '/api/v1/users' && init.method === 'POST') {
      upstream.users.add(String(body.subject));
      return reply(201, { id: 'u', subject: body.subject });
    }
    return reply(404, {});
  };
}

function setup(
  impersonation: Record<string, unknown> = {},
  users = ['alice', 'bob'],
  identity?: ConfigInput['identity'],
) {
  const clock = new FixedClock(NOW_MS);
  const upstream: Upstream = { users: new Set(users), log: [], lifeSeconds: 21_600, issued: 0 };
  const log = capturingLogger();
  const input: ConfigInput = {
    qlik: { issuer: 'https://qtv.example', tenantHost: 'tenant.example.com' },
    signing: { backend: 'file', privateKeyPath: 'unused' },
    ...(identity !== undefined ? { identity } : {}),
    oauth: {
      clientId: 'web',
      clientSecretId: 'client',
      redirectUris: ['https://qtv.example/oauth/callback'],
      appReturnUrls: ['https://app.example/'],
      impersonation: { enabled: true, cacheMaxEntries: 2, ...impersonation },
    },
  };
  const runtime = createRuntime(parseConfig(input), {
    clock,
    logger: log.logger,
    signers: { current: async () => Promise.reject(new Error('not used')) },
    fetch: fakeQlik(clock, upstream),
    oauthSecretStore: new MemorySecretStore({ client: CLIENT_SECRET, admin: ADMIN_SECRET }),
  });
  const handler = createHandler(runtime);
  const call = async (sub: string, headers: Record<string, string> = {}) => {
    const result = await handler(
      httpEvent({
        path: '/qlik/access-token',
        claims: { sub, name: `N ${sub}`, email: `${sub}@x.io`, email_verified: 'true' },
        headers,
      }),
      lambdaContext(),
    );
    const isJson = /json/.test(String(result.headers?.['content-type']));
    return { ...result, json: (isJson ? JSON.parse(result.body ?? '{}') : {}) as Record<string, unknown> };
  };
  return { clock, upstream, log, call, runtime };
}

describe('Handler: POST /qlik/access-token', () => {
  it('returns {accessToken, expiresAt, expiresIn} for the mapped subject, or the bare token as text/plain', async () => {
    const { call } = setup();
    const json = await call('alice');
    expect(json.statusCode).toBe(200);
    expect(json.json).toEqual({
      accessToken: 'token-for-alice-1',
      expiresAt: '2026-11-21T18:00:00.000Z',
      expiresIn: 21_600,
    });
    const text = await call('alice', { accept: 'text/plain' });
    expect(text.headers).toMatchObject({ 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    expect(text.body).toBe('token-for-alice-1');
  });

  it('impersonates the identity /qlik/jwt would assert: the same mapping, overrides included', async () => {
    const { call } = setup({}, ['alice'], { preset: 'generic', overrides: { 'emp-0042': { sub: 'alice' } } });
    expect((await call('emp-0042')).json.accessToken).toBe('token-for-alice-1');
  });

  it('serves each user only their own token from the cache', async () => {
    const { call, upstream } = setup();
    const [a1, b1, a2, b2] = [await call('alice'), await call('bob'), await call('alice'), await call('bob')];
    expect(a1.json.accessToken).toBe('token-for-alice-1');
    expect(b1.json.accessToken).toBe('token-for-bob-2');
    expect(a2.json.accessToken).toBe('token-for-alice-1');
    expect(b2.json.accessToken).toBe('token-for-bob-2');
    expect(upstream.log).toHaveLength(2);
  });

  it('renews a cached token once it is within renewBeforeExpirySeconds of expiry', async () => {
    const { call, clock, upstream } = setup({ renewBeforeExpirySeconds: 300 });
    await call('alice');
    clock.advance((21_600 - 301) * 1000);
    expect((await call('alice')).json.accessToken).toBe('token-for-alice-1');
    clock.advance(2000);
    expect((await call('alice')).json.accessToken).toBe('token-for-alice-2');
    expect(upstream.log).toHaveLength(2);
  });

  it('keeps at most cacheMaxEntries users (least recently used dropped)', async () => {
    const { call, runtime, upstream } = setup({}, ['a', 'b', 'c']);
    await call('a');
    await call('b');
    await call('c');
    expect(runtime.oauth?.accessTokens.size).toBe(2);
    await call('a');
    expect(upstream.log).toHaveLength(4);
  });

  it('makes one upstream call for concurrent requests of one user', async () => {
    const { call, upstream } = setup();
    const results = await Promise.all([call('alice'), call('alice'), call('alice')]);
    expect(new Set(results.map((r) => r.json.accessToken))).toEqual(new Set(['token-for-alice-1']));
    expect(upstream.log).toHaveLength(1);
  });

  it('provisions an unknown user (admin token, look-up, create) and then impersonates it', async () => {
    const { call, upstream } = setup(
      { provisionUsers: true, adminClientId: 'admin', adminClientSecretId: 'admin' },
      [],
    );
    const result = await call('carol');
    expect(result.statusCode).toBe(200);
    expect(upstream.log).toEqual([
      'urn:qlik:oauth:user-impersonation',
      'client_credentials',
      'GET /api/v1/users',
      'POST /api/v1/users',
      'urn:qlik:oauth:user-impersonation',
    ]);
  });

  it('answers 403 IDENTITY_NOT_MAPPABLE for an unknown user without provisioning, and 404 when impersonation is off', async () => {
    const { call } = setup({}, []);
    expect(await call('carol')).toMatchObject({ statusCode: 403, json: { code: 'IDENTITY_NOT_MAPPABLE' } });
    const off = setup({ enabled: false });
    expect(await off.call('alice')).toMatchObject({ statusCode: 404, json: { code: 'NOT_CONFIGURED' } });
  });

  it('refuses a body that tries to choose the identity', async () => {
    const { runtime } = setup();
    const result = await createHandler(runtime)(
      httpEvent({ path: '/qlik/access-token', claims: { sub: 'alice' }, body: '{"sub":"bob"}' }),
      lambdaContext(),
    );
    expect(result.statusCode).toBe(400);
  });

  it('logs neither tokens nor secrets', async () => {
    const { call, log } = setup({ provisionUsers: true, adminClientId: 'admin', adminClientSecretId: 'admin' }, []);
    await call('carol');
    await call('carol', { accept: 'text/plain' });
    // The one audit line per answered token (docs/multi-tenant.md), in single-tenant mode too.
    expect(log.text()).toContain('"message":"token issued"');
    expect(log.text()).toContain('"kind":"impersonation"');
    for (const value of ['token-for-carol', 'admin-token', CLIENT_SECRET, ADMIN_SECRET])
      expect(log.text()).not.toContain(value);
  });
});
