import { generateKeyPairSync } from 'node:crypto';
import jsonwebtoken from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { OAuthProtocolError, TokenVendingError } from '../../../functions/errors.js';
import {
  assertionAuthenticator,
  buildClientAssertion,
  type FetchLike,
  oauthErrorFrom,
  QlikOAuthClient,
  secretAuthenticator,
} from '../../../functions/qlik/oauth-client.js';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { createKeyObjectSigner } from '../../../functions/signing/signer.js';
import { rsaKeyPair } from '../../support/keys.js';
import { capturingLogger } from '../../support/logs.js';

const NOW_MS = Date.UTC(2026, 10, 21, 12, 0, 0);
const TOKEN_BODY = {
  access_token: 'at-secret-value',
  token_type: 'Bearer',
  expires_at: '2026-11-21T18:00:00.000Z',
  expires_in: 21_600,
  refresh_token: 'rt-secret-value',
  scope: 'user_default offline_access',
};

interface Call {
  url: string;
  body: Record<string, unknown> | undefined;
  headers: Record<string, string>;
}

/** A fetch stub answering from a script, recording what it was sent. */
function stubFetch(script: (call: Call, index: number) => Response | Error | Promise<Response | Error>) {
  const calls: Call[] = [];
  const fetch: FetchLike = async (url, init) => {
    const call = {
      url,
      body: init.body === undefined ? undefined : (JSON.parse(String(init.body)) as Record<string, unknown>),
      headers: init.headers as Record<string, string>,
    };
    calls.push(call);
    const outcome = await script(call, calls.length - 1);
    if (outcome instanceof Error) throw outcome;
    return outcome;
  };
  return { fetch, calls };
}

const jsonResponse = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

function networkError(code: string) {
  return Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(code), { code }) });
}

function client(fetch: FetchLike, secrets = ['s1'], options: { retries?: number; timeoutMs?: number } = {}) {
  const log = capturingLogger();
  const instance = new QlikOAuthClient({
    baseUrl: 'https://tenant.example',
    authenticator: secretAuthenticator('client-1', async () => secrets),
    fetch,
    clock: new FixedClock(NOW_MS),
    logger: log.logger,
    timeoutMs: options.timeoutMs ?? 1000,
    retries: options.retries ?? 1,
    retryDelayMs: 1,
  });
  return { instance, log };
}

const exchange = (c: QlikOAuthClient) =>
  c.exchangeCode({ code: 'code-secret', redirectUri: 'https://app/cb', codeVerifier: 'v'.repeat(43) });

describe('Function: QlikOAuthClient', () => {
  it('posts the authorization_code grant as JSON with the client credentials and returns the tokens with an absolute expiry', async () => {
    // Prepare
    const stub = stubFetch(() => jsonResponse(200, TOKEN_BODY));
    // Act
    const tokens = await exchange(client(stub.fetch).instance);
    // Assess
    expect(stub.calls[0]?.url).toBe('https://tenant.example/oauth/token');
    expect(stub.calls[0]?.headers['content-type']).toBe('application/json');
    expect(stub.calls[0]?.body).toEqual({
      grant_type: 'authorization_code',
      code: 'code-secret',
      redirect_uri: 'https://app/cb',
      code_verifier: 'v'.repeat(43),
      client_id: 'client-1',
      client_secret: 's1',
    });
    expect(tokens).toEqual({
      accessToken: 'at-secret-value',
      tokenType: 'Bearer',
      expiresAtMs: Date.parse('2026-11-21T18:00:00.000Z'),
      refreshToken: 'rt-secret-value',
      scope: 'user_default offline_access',
    });
  });

  it('falls back to expires_in when Qlik sends no expires_at', async () => {
    const stub = stubFetch(() => jsonResponse(200, { access_token: 'a', expires_in: 600 }));
    const tokens = await client(stub.fetch).instance.clientCredentials('admin_classic');
    expect(tokens.expiresAtMs).toBe(NOW_MS + 600_000);
  });

  it('sends the impersonation grant with user_lookup by subject and scope user_default', async () => {
    const stub = stubFetch(() => jsonResponse(200, TOKEN_BODY));
    await client(stub.fetch).instance.impersonate('alice', 'user_default');
    expect(stub.calls[0]?.body).toMatchObject({
      grant_type: 'urn:qlik:oauth:user-impersonation',
      scope: 'user_default',
      user_lookup: { field: 'subject', value: 'alice' },
    });
  });

  it('tries the next client secret on invalid_client and prefers the one that worked afterwards', async () => {
    // Prepare
    const stub = stubFetch((call) =>
      call.body?.client_secret === 'new'
        ? jsonResponse(200, TOKEN_BODY)
        : jsonResponse(401, { error: 'invalid_client' }),
    );
    const { instance, log } = client(stub.fetch, ['old', 'new']);
    // Act
    await exchange(instance);
    await exchange(instance);
    // Assess
    expect(stub.calls.map((c) => c.body?.client_secret)).toEqual(['old', 'new', 'new']);
    expect(log.text()).toContain('trying the next one');
    expect(log.text()).not.toMatch(/"old"|"new"|code-secret/);
  });

  it('answers 502 invalid_client when every secret is refused on a grant that consumes nothing (an operator fault)', async () => {
    const stub = stubFetch(() => jsonResponse(401, { errors: [{ code: 'AUTH-1', title: 'x', status: '401' }] }));
    const error = await client(stub.fetch, ['a', 'b'])
      .instance.clientCredentials('admin_classic')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OAuthProtocolError);
    expect(error).toMatchObject({ oauthError: 'invalid_client', status: 502, code: 'UPSTREAM_ERROR' });
    expect(stub.calls).toHaveLength(2);
  });

  it('reads Qlik’s documented 401 on a code exchange, after every secret, as a dead code (invalid_grant), not a 502', async () => {
    const stub = stubFetch(() => jsonResponse(401, { errors: [{ code: 'AUTH-1', title: 'x', status: '401' }] }));
    const error = await exchange(client(stub.fetch, ['a', 'b']).instance).catch((e: unknown) => e);
    expect(error).toMatchObject({ oauthError: 'invalid_grant', status: 400, code: 'OAUTH_REJECTED' });
    expect(stub.calls).toHaveLength(2);
  });

  it('still answers 502 on a code exchange when the server says RFC 6749 invalid_client outright', async () => {
    const stub = stubFetch(() => jsonResponse(401, { error: 'invalid_client' }));
    const error = await exchange(client(stub.fetch, ['a']).instance).catch((e: unknown) => e);
    expect(error).toMatchObject({ oauthError: 'invalid_client', status: 502 });
  });

  it('never retries an authorization_code exchange after the request may have reached Qlik (5xx, reset)', async () => {
    for (const outcome of [() => jsonResponse(500, {}), () => networkError('ECONNRESET')]) {
      const stub = stubFetch(outcome);
      const error = await exchange(client(stub.fetch, ['s1'], { retries: 3 }).instance).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', status: 502 });
      expect(stub.calls).toHaveLength(1);
    }
  });

  it('retries a consuming request when the connection was refused (it never left this machine)', async () => {
    const stub = stubFetch((_call, index) =>
      index === 0 ? networkError('ECONNREFUSED') : jsonResponse(200, TOKEN_BODY),
    );
    await exchange(client(stub.fetch).instance);
    expect(stub.calls).toHaveLength(2);
  });

  it('retries a non-consuming request (impersonation) on 5xx and network errors, up to the configured count', async () => {
    const stub = stubFetch((_call, index) =>
      index === 0 ? jsonResponse(503, {}) : index === 1 ? networkError('ECONNRESET') : jsonResponse(200, TOKEN_BODY),
    );
    await client(stub.fetch, ['s1'], { retries: 2 }).instance.impersonate('alice', 'user_default');
    expect(stub.calls).toHaveLength(3);
  });

  it('answers 504 UPSTREAM_TIMEOUT when Qlik is slower than the timeout, without retrying', async () => {
    // Prepare: a fetch that honours the abort signal, like undici.
    let calls = 0;
    const fetch: FetchLike = (_url, init) => {
      calls += 1;
      return new Promise((_resolve, reject) => {
        init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      });
    };
    // Act
    const error = await client(fetch, ['s1'], { timeoutMs: 20 })
      .instance.impersonate('alice', 'user_default')
      .catch((e: unknown) => e);
    // Assess
    expect(error).toMatchObject({ code: 'UPSTREAM_TIMEOUT', status: 504 });
    expect(calls).toBe(1);
  });

  it('answers 502 when Qlik returns 200 without an access token', async () => {
    const stub = stubFetch(() => jsonResponse(200, { hello: 'world' }));
    await expect(exchange(client(stub.fetch).instance)).rejects.toMatchObject({ code: 'UPSTREAM_ERROR', status: 502 });
  });

  it('looks a user up with an escaped SCIM filter and an admin bearer token', async () => {
    const stub = stubFetch(() => jsonResponse(200, { data: [{ id: 'u1', subject: 'a"b\\c' }] }));
    const user = await client(stub.fetch).instance.findUserBySubject('admin-token', 'a"b\\c');
    expect(user).toEqual({ id: 'u1', subject: 'a"b\\c' });
    expect(new URL(stub.calls[0]!.url).searchParams.get('filter')).toBe('subject eq "a\\"b\\\\c"');
    expect(stub.calls[0]?.headers.authorization).toBe('Bearer admin-token');
  });

  it('treats 409 on user creation as "exists" and 403 as an upstream error', async () => {
    const conflict = stubFetch(() => jsonResponse(409, {}));
    expect(await client(conflict.fetch).instance.createUser('t', { subject: 's', name: 'n', email: '' })).toBe(
      'exists',
    );
    const forbidden = stubFetch(() => jsonResponse(403, {}));
    await expect(
      client(forbidden.fetch).instance.createUser('t', { subject: 's', name: 'n', email: '' }),
    ).rejects.toMatchObject({ code: 'UPSTREAM_ERROR' });
  });

  it('sends revoke with token_type_hint and accepts 200', async () => {
    const stub = stubFetch(() => new Response(null, { status: 200 }));
    await client(stub.fetch).instance.revoke('rt', 'refresh_token');
    expect(stub.calls[0]).toMatchObject({
      url: 'https://tenant.example/oauth/revoke',
      body: { token: 'rt', token_type_hint: 'refresh_token' },
    });
  });
});

describe('Function: oauthErrorFrom', () => {
  it.each([
    [400, { error: 'invalid_grant', error_description: 'code secret-code reused' }, 'invalid_grant', 400],
    // Qlik's own error codes are opaque: a code that looks like an RFC one is not read.
    [400, { errors: [{ code: 'invalid_grant', detail: 'x' }] }, 'invalid_request', 400],
    [400, { error: 'something_new' }, 'invalid_request', 400],
    [401, { errors: [{ code: 'HTTP-401' }] }, 'invalid_client', 502],
    [403, {}, 'access_denied', 403],
    [400, { error: 'unauthorized_client' }, 'unauthorized_client', 502],
    [400, { error: 'temporarily_unavailable' }, 'temporarily_unavailable', 503],
  ])('maps HTTP %i %j to error %s with status %i, never copying the upstream text', (status, body, code, ours) => {
    const error = oauthErrorFrom(status, body);
    expect(error).toMatchObject({ oauthError: code, status: ours });
    expect(error.message).not.toContain('secret-code');
    expect(error).toBeInstanceOf(TokenVendingError);
  });

  it.each([
    [401, { errors: [{ code: 'AUTH-1', title: 'Unauthorized', status: '401' }] }, 'invalid_grant', 400],
    [401, { error: 'invalid_client' }, 'invalid_client', 502],
    [403, { errors: [{ code: 'AUTH-5', title: 'Forbidden', status: '403' }] }, 'access_denied', 403],
  ])('maps a consuming grant’s HTTP %i %j to %s with status %i', (status, body, code, ours) => {
    expect(oauthErrorFrom(status, body, true)).toMatchObject({ oauthError: code, status: ours });
  });
});

describe('Function: buildClientAssertion', () => {
  it.each([
    ['RS256', () => rsaKeyPair(2048)],
    ['RS512', () => rsaKeyPair(2048)],
    ['ES384', () => generateKeyPairSync('ec', { namedCurve: 'P-384' })],
  ] as const)(
    'makes an %s assertion Qlik accepts: iss = sub = client_id, aud = token URL, jti, exp ≤ 5 min, kid',
    async (alg, keys) => {
      // Prepare
      const { privateKey, publicKey } = keys();
      const signer = createKeyObjectSigner(privateKey, 'kid-1', alg);
      // Act
      const assertion = await buildClientAssertion(signer, {
        clientId: 'client-1',
        audience: 'https://tenant.example/oauth/token',
        nowMs: NOW_MS,
      });
      // Assess: verified by jsonwebtoken, an independent library.
      const decoded = jsonwebtoken.verify(assertion, publicKey.export({ format: 'pem', type: 'spki' }).toString(), {
        algorithms: [alg],
        complete: true,
        clockTimestamp: NOW_MS / 1000,
        audience: 'https://tenant.example/oauth/token',
        issuer: 'client-1',
        subject: 'client-1',
      }) as unknown as { header: Record<string, unknown>; payload: Record<string, number | string> };
      expect(decoded.header).toMatchObject({ alg, kid: 'kid-1' });
      expect(decoded.payload.jti).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(Number(decoded.payload.exp) - Number(decoded.payload.iat)).toBeLessThanOrEqual(300);
    },
  );

  it('refuses an algorithm Qlik does not accept for assertions', async () => {
    const signer = createKeyObjectSigner(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'k', 'ES256');
    await expect(buildClientAssertion(signer, { clientId: 'c', audience: 'a', nowMs: NOW_MS })).rejects.toThrow(
      TypeError,
    );
  });

  it('authenticates each request with a fresh assertion (new jti) and no client secret', async () => {
    const { privateKey } = rsaKeyPair(2048);
    const auth = assertionAuthenticator({
      clientId: 'c',
      audience: 'https://t/oauth/token',
      signer: async () => createKeyObjectSigner(privateKey, 'k', 'RS256'),
      clock: new FixedClock(NOW_MS),
    });
    const [first] = await auth.candidates();
    const [second] = await auth.candidates();
    expect(first).toMatchObject({
      client_id: 'c',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    });
    expect(first).not.toHaveProperty('client_secret');
    expect(first?.client_assertion).not.toBe(second?.client_assertion);
  });
});
