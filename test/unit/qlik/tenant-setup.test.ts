import { describe, expect, it } from 'vitest';
import { QlikApiError, type QlikApiStep } from '../../../functions/qlik/identity-providers.js';
import { QlikRestTenantSetup } from '../../../functions/qlik/tenant-setup.js';

/** A recorded admin call and a scripted answer per path (pages of Qlik's list shape). */
function fakeAdmin(answers: Record<string, { status?: number; body?: unknown }>) {
  const calls: { path: string; method: string; body: unknown; step: QlikApiStep }[] = [];
  return {
    calls,
    admin: {
      async adminFetch(path: string, init: RequestInit, step: QlikApiStep) {
        calls.push({
          path,
          method: init.method ?? 'GET',
          body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
          step,
        });
        const answer = answers[path];
        if (answer === undefined)
          return new Response('{"errors":[{"code":"HTTP-404","title":"nope"}]}', { status: 404 });
        return new Response(answer.body === undefined ? null : JSON.stringify(answer.body), {
          status: answer.status ?? 200,
        });
      },
    },
  };
}

describe('Function: QlikRestTenantSetup', () => {
  it('follows links.next, absolute or relative, across pages of web integrations', async () => {
    // Prepare
    const { admin, calls } = fakeAdmin({
      '/api/v1/web-integrations?limit=100': {
        body: {
          data: [{ id: 'a', name: 'one', validOrigins: ['https://x.example'] }],
          links: { next: { href: 'https://t.eu.qlikcloud.com/api/v1/web-integrations?limit=100&startingAfter=a' } },
        },
      },
      '/api/v1/web-integrations?limit=100&startingAfter=a': {
        body: { data: [{ id: 'b', name: 'two' }], links: { next: { href: '/api/v1/web-integrations?page=3' } } },
      },
      '/api/v1/web-integrations?page=3': { body: { data: [{ name: 'no id' }], links: {} } },
    });
    // Act
    const found = await new QlikRestTenantSetup(admin).listWebIntegrations();
    // Assess
    expect(found).toEqual([
      { id: 'a', name: 'one', validOrigins: ['https://x.example'] },
      { id: 'b', name: 'two', validOrigins: [] },
    ]);
    expect(calls.map((c) => c.path)).toHaveLength(3);
  });

  it('narrows the wildcard, case-insensitive CSP origin filter to the byte-exact origin', async () => {
    const { admin, calls } = fakeAdmin({
      '/api/v1/csp-origins?limit=100&origin=https%3A%2F%2Fapp.example': {
        body: {
          data: [
            { id: '1', origin: 'https://APP.example', frameAncestors: true },
            { id: '2', origin: 'https://app.example', frameAncestors: false, imgSrc: true },
            { id: '3', origin: 'https://app.example.evil', frameAncestors: true },
          ],
        },
      },
      '/api/v1/csp-origins/2': { body: { id: '2', origin: 'https://app.example', frameAncestors: true } },
    });
    const setup = new QlikRestTenantSetup(admin);
    const found = await setup.findCspOrigins('https://app.example');
    expect(found.map((c) => [c.id, c.frameAncestors])).toEqual([['2', false]]);
    // PUT keeps the entry's other directives and drops the read-only fields.
    await setup.allowFraming(found[0]!);
    expect(calls.at(-1)).toMatchObject({
      method: 'PUT',
      path: '/api/v1/csp-origins/2',
      body: { origin: 'https://app.example', imgSrc: true, frameAncestors: true },
      step: 'csp-origin',
    });
    expect(calls.at(-1)?.body).not.toHaveProperty('id');
  });

  it('asks for OAuth clients by an RFC 7644 filter with the name quoted and escaped, and keeps only exact names', async () => {
    const name = 'qlik-token-vending "acme" login';
    const filter = encodeURIComponent('clientName eq "qlik-token-vending \\"acme\\" login"');
    const { admin } = fakeAdmin({
      [`/api/v1/oauth-clients?limit=100&filter=${filter}`]: {
        body: {
          data: [
            { clientId: 'c1', clientName: name, allowedOrigins: ['https://a.example'] },
            { clientId: 'c2', clientName: name.toUpperCase() },
          ],
          links: {},
        },
      },
    });
    const found = await new QlikRestTenantSetup(admin).findOAuthClients(name);
    expect(found).toEqual([
      {
        clientId: 'c1',
        clientName: name,
        allowedOrigins: ['https://a.example'],
        redirectUris: [],
        allowedGrantTypes: [],
      },
    ]);
  });

  it('creates a web client without allowedOrigins (documented for SPA clients only) and sets origins by JSON Patch', async () => {
    const { admin, calls } = fakeAdmin({
      '/api/v1/oauth-clients': { status: 201, body: { clientId: 'new', clientName: 'n', clientSecret: 's3' } },
      '/api/v1/oauth-clients/new': { status: 204 },
    });
    const setup = new QlikRestTenantSetup(admin);
    const created = await setup.createOAuthClient({
      clientName: 'n',
      description: 'd',
      allowedScopes: ['user_default'],
      allowedGrantTypes: ['urn:qlik:oauth:user-impersonation'],
      trusted: true,
    });
    await setup.setOAuthClientOrigins('new', ['https://a.example']);
    expect(created).toMatchObject({ client: { clientId: 'new' }, clientSecret: 's3' });
    expect(calls[0]?.body).toEqual({
      appType: 'web',
      clientName: 'n',
      description: 'd',
      allowedScopes: ['user_default'],
      allowedGrantTypes: ['urn:qlik:oauth:user-impersonation'],
      connectionConfig: { consentMethod: 'trusted' },
    });
    expect(calls[1]).toMatchObject({
      method: 'PATCH',
      body: [{ op: 'replace', path: '/allowedOrigins', value: ['https://a.example'] }],
    });
  });

  it.each([
    ['a refusal', { status: 403, body: { errors: [{ code: 'HTTP-403', title: 'Forbidden' }] } }, /HTTP 403/],
    ['a create answer without a secret', { status: 201, body: { clientId: 'x' } }, /no client ID or secret/],
  ])('throws a QlikApiError for %s, never copying a secret', async (_case, answer, message) => {
    const { admin } = fakeAdmin({ '/api/v1/oauth-clients': answer });
    const attempt = new QlikRestTenantSetup(admin).createOAuthClient({
      clientName: 'n',
      description: 'd',
      allowedScopes: [],
      trusted: false,
    });
    await expect(attempt).rejects.toBeInstanceOf(QlikApiError);
    await expect(attempt).rejects.toMatchObject({ step: 'oauth-client', message: expect.stringMatching(message) });
  });
});
