import { describe, expect, it } from 'vitest';
import { QlikRestIdentityProviders } from '../../../functions/qlik/identity-providers.js';

interface Recorded {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

/** A fetch that answers like the Qlik REST API and records every request. */
function fakeTenant(routes: Record<string, (request: Recorded) => Response>) {
  const requests: Recorded[] = [];
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const request: Recorded = {
      method: init?.method ?? 'GET',
      url: url.pathname + url.search,
      headers: Object.fromEntries(new Headers(init?.headers).entries()),
      body:
        typeof init?.body !== 'string'
          ? undefined
          : init.body.startsWith('{')
            ? JSON.parse(init.body)
            : Object.fromEntries(new URLSearchParams(init.body)),
    };
    requests.push(request);
    const route = routes[`${request.method} ${url.pathname}`];
    return route ? route(request) : new Response('{}', { status: 404 });
  }) as typeof globalThis.fetch;
  return { fetch, requests };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const tokenRoute = () => json(200, { access_token: 'at-1', token_type: 'Bearer', expires_at: '2026-11-21T16:00:00Z' });
const NOW = Date.parse('2026-11-21T10:00:00Z');
const credentials = async () => ({ clientId: 'admin-client', clientSecret: 'very-secret-value' });

describe('Function: QlikRestIdentityProviders', () => {
  it('creates a JWT IdP with the documented body, authenticating once with client_credentials', async () => {
    // Prepare
    const tenant = fakeTenant({
      'POST /oauth/token': tokenRoute,
      'POST /api/v1/identity-providers': () => json(201, { id: 'idp-9' }),
      'GET /api/v1/identity-providers': () => json(200, { data: [] }),
    });
    const qlik = new QlikRestIdentityProviders({
      tenant: 'tenant.example.com',
      fetch: tenant.fetch,
      credentials,
      nowMs: () => NOW,
    });

    // Act
    const created = await qlik.createJwtIdentityProvider({
      kid: 'qtv-2026-11-21-abcd',
      issuer: 'https://iss',
      certificate: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
      description: 'qlik-token-vending key qtv-2026-11-21-abcd',
    });
    await qlik.listJwtIdentityProviders();

    // Assess
    expect(created.id).toBe('idp-9');
    expect(tenant.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST /oauth/token',
      'POST /api/v1/identity-providers',
      'GET /api/v1/identity-providers?limit=100',
    ]);
    expect(tenant.requests[0]?.body).toEqual({
      grant_type: 'client_credentials',
      client_id: 'admin-client',
      client_secret: 'very-secret-value',
      scope: 'admin_classic',
    });
    // Through the shared QlikOAuthClient: JSON, which Qlik's /oauth/token takes as well as forms (qlik-auth.md).
    expect(tenant.requests[0]?.headers['content-type']).toBe('application/json');
    expect(tenant.requests[1]?.headers.authorization).toBe('Bearer at-1');
    expect(tenant.requests[1]?.body).toEqual({
      provider: 'external',
      protocol: 'jwtAuth',
      interactive: false,
      active: true,
      description: 'qlik-token-vending key qtv-2026-11-21-abcd',
      clockToleranceSec: 0,
      options: {
        jwtLoginEnabled: true,
        issuer: 'https://iss',
        staticKeys: [
          // Qlik's automation example: "pem must be on a single line".
          { kid: 'qtv-2026-11-21-abcd', pem: '-----BEGIN CERTIFICATE----- MIIB -----END CERTIFICATE-----' },
        ],
      },
    });
  });

  it('lists only JWT IdPs, following pages', async () => {
    const tenant = fakeTenant({
      'POST /oauth/token': tokenRoute,
      'GET /api/v1/identity-providers': (r) =>
        r.url.includes('page=2')
          ? json(200, {
              data: [{ id: 'b', protocol: 'jwtAuth', options: { issuer: 'i', staticKeys: [{ kid: 'k2' }] } }],
            })
          : json(200, {
              data: [
                {
                  id: 'a',
                  protocol: 'jwtAuth',
                  description: 'd',
                  options: { issuer: 'i', staticKeys: [{ kid: 'k1' }] },
                },
                { id: 'oidc', protocol: 'OIDC' },
              ],
              links: { next: { href: 'https://tenant.example.com/api/v1/identity-providers?limit=100&page=2' } },
            }),
    });
    const qlik = new QlikRestIdentityProviders({
      tenant: 'tenant.example.com',
      fetch: tenant.fetch,
      credentials,
      nowMs: () => NOW,
    });
    expect(await qlik.listJwtIdentityProviders()).toEqual([
      { id: 'a', kid: 'k1', issuer: 'i', description: 'd' },
      { id: 'b', kid: 'k2', issuer: 'i', description: undefined },
    ]);
  });

  it('treats deleting an IdP that is already gone as done', async () => {
    const tenant = fakeTenant({ 'POST /oauth/token': tokenRoute });
    const qlik = new QlikRestIdentityProviders({
      tenant: 'tenant.example.com',
      fetch: tenant.fetch,
      credentials,
      nowMs: () => NOW,
    });
    await expect(qlik.deleteIdentityProvider('gone')).resolves.toBeUndefined();
    expect(tenant.requests.at(-1)).toMatchObject({ method: 'DELETE', url: '/api/v1/identity-providers/gone' });
  });

  it('reports a refused probe login with Qlik code and detail, sending the web integration ID', async () => {
    const tenant = fakeTenant({
      'POST /login/jwt-session': () =>
        json(401, {
          errors: [{ code: 'INTERNAL-TOKEN-1', detail: 'JWT_LOGIN_VALIDATIONS unknown kid', status: '401' }],
        }),
    });
    const qlik = new QlikRestIdentityProviders({
      tenant: 'http://127.0.0.1:9',
      fetch: tenant.fetch,
      webIntegrationId: 'wi-1',
    });
    expect(await qlik.tryJwtLogin('header.payload.sig')).toEqual({
      ok: false,
      status: 401,
      detail: 'INTERNAL-TOKEN-1 JWT_LOGIN_VALIDATIONS unknown kid',
    });
    expect(tenant.requests[0]?.headers).toMatchObject({
      authorization: 'Bearer header.payload.sig',
      'qlik-web-integration-id': 'wi-1',
    });
  });

  it.each([
    ['refused credentials', { 'POST /oauth/token': () => json(401, { errors: [] }) }, 'HTTP 401'],
    [
      'a failing create',
      { 'POST /oauth/token': tokenRoute, 'POST /api/v1/identity-providers': () => json(403, {}) },
      'HTTP 403',
    ],
  ])('fails with a typed error naming the status, never the secret, on %s', async (_name, routes, message) => {
    const tenant = fakeTenant(routes);
    const qlik = new QlikRestIdentityProviders({
      tenant: 'tenant.example.com',
      fetch: tenant.fetch,
      credentials,
      nowMs: () => NOW,
    });
    const error = await qlik
      .createJwtIdentityProvider({ kid: 'k', issuer: 'i', certificate: 'c', description: 'd' })
      .catch((e: unknown) => e as Error & { code: string });
    expect(error).toMatchObject({ code: 'UPSTREAM_ERROR', message: expect.stringContaining(message) });
    expect((error as Error).message).not.toContain('very-secret-value');
  });

  it.each([
    [
      'invalid_client in RFC 6749 form',
      () => json(401, { error: 'invalid_client' }),
      /^Qlik refused the admin client's credentials \(HTTP 401: invalid_client\)\.$/,
    ],
    [
      "Qlik's errors[] form",
      () => json(403, { errors: [{ code: 'OAUTH-1', title: 'Forbidden', detail: 'client very-secret-value' }] }),
      /^Qlik refused the admin client's credentials \(HTTP 403: OAUTH-1 Forbidden\)\.$/,
    ],
    [
      'a server fault',
      () => json(503, {}),
      /^Getting an admin token from https:\/\/tenant\.example\.com failed: Qlik answered HTTP 503\.$/,
    ],
    [
      'a 200 without an access token',
      () => json(200, { token_type: 'Bearer' }),
      /failed: Qlik answered the token request without an access token\.$/,
    ],
  ])(
    "names the token step, the status and Qlik's code, never the detail, when the grant fails with %s",
    async (_name, route, message) => {
      const tenant = fakeTenant({ 'POST /oauth/token': route });
      const qlik = new QlikRestIdentityProviders({ tenant: 'tenant.example.com', fetch: tenant.fetch, credentials });
      const error = await qlik.listJwtIdentityProviders().then(
        () => new Error('no error'),
        (e: unknown) => e as Error,
      );
      expect(error).toMatchObject({ code: 'UPSTREAM_ERROR', step: 'token', message: expect.stringMatching(message) });
      expect(error.message).not.toContain('very-secret-value');
      expect(tenant.requests).toHaveLength(1);
    },
  );

  it('asks for a new admin token a minute before the current one expires, not earlier', async () => {
    let now = NOW;
    const tenant = fakeTenant({
      'POST /oauth/token': () => json(200, { access_token: `at-${now}`, expires_in: 600 }),
      'GET /api/v1/identity-providers': () => json(200, { data: [] }),
    });
    const qlik = new QlikRestIdentityProviders({
      tenant: 'tenant.example.com',
      fetch: tenant.fetch,
      credentials,
      nowMs: () => now,
    });
    const tokenCalls = () => tenant.requests.filter((r) => r.url === '/oauth/token').length;
    await qlik.listJwtIdentityProviders();
    now += 539_000;
    await qlik.listJwtIdentityProviders();
    expect(tokenCalls()).toBe(1);
    now += 2_000;
    await qlik.listJwtIdentityProviders();
    expect(tokenCalls()).toBe(2);
    expect(tenant.requests.at(-1)?.headers.authorization).toBe(`Bearer at-${now}`);
  });

  it('fails with a typed error when the tenant cannot be reached', async () => {
    const fetch = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof globalThis.fetch;
    const qlik = new QlikRestIdentityProviders({ tenant: 'tenant.example.com', fetch });
    await expect(qlik.tryJwtLogin('t')).rejects.toMatchObject({ code: 'UPSTREAM_ERROR' });
  });
});
