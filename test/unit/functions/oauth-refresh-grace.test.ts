import { describe, expect, it } from 'vitest';
import { OAuthProtocolError, UpstreamUnavailableError } from '../../../functions/errors.js';
import { deriveSealingKeys, Sealer } from '../../../functions/http/sealing.js';
import { type OAuthCoreDeps, refreshTokens } from '../../../functions/oauth/core.js';
import { graceKey, MemoryGraceStore, type RefreshGraceStore } from '../../../functions/oauth/refresh-grace.js';
import type { QlikOAuthClient, TokenSet } from '../../../functions/qlik/oauth-client.js';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { parseConfig } from '../../../functions/runtime/config.js';

const NOW_MS = Date.UTC(2026, 10, 21, 12, 0, 0);
const sealer = new Sealer(deriveSealingKeys(['k'.repeat(40)]));
const oauth = parseConfig({
  qlik: { issuer: 'https://qtv.example', tenantHost: 'tenant.example.com' },
  signing: { backend: 'file', privateKeyPath: 'unused' },
  oauth: {
    clientId: 'web',
    clientSecretId: 'client',
    redirectUris: ['https://qtv.example/oauth/callback'],
    appReturnUrls: ['https://app.example/'],
  },
}).oauth!;

function setup(
  options: { store?: RefreshGraceStore; refresh?: (token: string) => Promise<TokenSet>; waitMs?: number } = {},
) {
  const calls: string[] = [];
  const warnings: string[] = [];
  let issued = 0;
  const client = {
    refresh:
      options.refresh ??
      (async (token: string) => {
        calls.push(token);
        await new Promise((resolve) => setTimeout(resolve, 20));
        issued += 1;
        return {
          accessToken: `a${issued}`,
          tokenType: 'bearer',
          expiresAtMs: NOW_MS + 3_600_000,
          refreshToken: `r${issued}`,
        };
      }),
  } as unknown as QlikOAuthClient;
  const store = options.store ?? new MemoryGraceStore();
  const deps: OAuthCoreDeps = {
    oauth,
    tenantUrl: 'https://tenant.example.com',
    client,
    sealer,
    clock: new FixedClock(NOW_MS),
    grace: { store, settings: { windowSeconds: 30, waitMs: options.waitMs ?? 2000, leaseMs: 10_000, pollMs: 5 } },
    logger: { warn: (message) => warnings.push(message) },
  };
  const cookie = sealer.seal('oauth-session', { a: 'a0', e: NOW_MS + 60_000, r: 'r0' });
  const refresh = () => refreshTokens({}, cookie, deps);
  return { calls, warnings, refresh, store, deps };
}

describe('Function: refreshTokens with the refresh grace window (cookie mode)', () => {
  it('sends one refresh token to Qlik once, however many parallel requests carry it, and all get the same tokens', async () => {
    const { calls, refresh } = setup();
    const results = await Promise.all(Array.from({ length: 8 }, refresh));
    expect(calls).toEqual(['r0']);
    expect(new Set(results.map((r) => r.body?.accessToken))).toEqual(new Set(['a1']));
  });

  it('records a dead grant, so later requests with the same cookie get 401 OAUTH_SESSION_MISSING without calling Qlik', async () => {
    const calls: string[] = [];
    const { refresh } = setup({
      refresh: async (token) => {
        calls.push(token);
        throw new OAuthProtocolError('invalid_grant', 400, 'dead');
      },
    });
    await expect(refresh()).rejects.toMatchObject({ code: 'OAUTH_SESSION_MISSING', status: 401 });
    await expect(refresh()).rejects.toMatchObject({ code: 'OAUTH_SESSION_MISSING', status: 401 });
    expect(calls).toHaveLength(1);
  });

  it('releases the claim after an upstream fault, so the next request tries Qlik again', async () => {
    let attempt = 0;
    const { refresh } = setup({
      refresh: async () => {
        attempt += 1;
        if (attempt === 1) throw new UpstreamUnavailableError('down');
        return { accessToken: 'a-ok', tokenType: 'bearer', expiresAtMs: NOW_MS + 3_600_000, refreshToken: 'r-ok' };
      },
    });
    await expect(refresh()).rejects.toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect((await refresh()).body?.accessToken).toBe('a-ok');
  });

  it('answers 504 with Retry-After when another request holds the claim past the wait, and never calls Qlik itself', async () => {
    const store = new MemoryGraceStore();
    await store.claim(graceKey('r0'), NOW_MS, NOW_MS + 60_000, NOW_MS + 60_000);
    const { refresh, calls } = setup({ store, waitMs: 50 });
    await expect(refresh()).rejects.toMatchObject({ code: 'UPSTREAM_TIMEOUT', status: 504, retryAfterSeconds: 1 });
    expect(calls).toEqual([]);
  });

  it('takes over a claim whose lease ran out (its holder died)', async () => {
    const store = new MemoryGraceStore();
    await store.claim(graceKey('r0'), NOW_MS - 20_000, NOW_MS - 1, NOW_MS + 60_000);
    const { refresh, calls } = setup({ store });
    expect((await refresh()).body?.accessToken).toBe('a1');
    expect(calls).toEqual(['r0']);
  });

  it('falls back to a direct refresh when the store fails, and says so in the log', async () => {
    const broken: RefreshGraceStore = {
      description: 'broken',
      claim: () => Promise.reject(Object.assign(new Error('x'), { name: 'ProvisionedThroughputExceededException' })),
      read: () => Promise.reject(new Error('x')),
      settle: () => Promise.reject(new Error('x')),
      release: () => Promise.reject(new Error('x')),
    };
    const { refresh, calls, warnings } = setup({ store: broken });
    expect((await refresh()).body?.accessToken).toBe('a1');
    expect(calls).toEqual(['r0']);
    expect(warnings).toEqual(['refresh grace store unavailable; refreshing without it']);
  });

  it('stores no token in the clear: the key is a hash and the value is sealed', async () => {
    // Tokens with a dot: a sealed value is "v1." and base64url, which holds no other dot, so a token can
    // never appear in it by chance (a two-letter token such as "a1" does, in a few percent of random values).
    const tokens = { accessToken: 'qlik.access.token-1', refreshToken: 'qlik.refresh.token-1' };
    const store = new MemoryGraceStore();
    const { refresh } = setup({
      store,
      refresh: async () => ({ ...tokens, tokenType: 'bearer', expiresAtMs: NOW_MS + 3_600_000 }),
    });
    await refresh();
    const record = await store.read(graceKey('r0'), NOW_MS);
    expect(record?.state).toBe('done');
    const sealed = (record as { sealed: string }).sealed;
    expect(sealed).not.toContain(tokens.accessToken);
    expect(sealed).not.toContain(tokens.refreshToken);
    expect(sealer.open('oauth-session', sealed)).toBeUndefined();
    expect(sealer.open('oauth-refresh-grace', sealed)).toMatchObject({ a: tokens.accessToken, r: tokens.refreshToken });
    expect(graceKey('r0')).not.toContain('r0');
  });
});
