import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildQlikClaims } from '../../functions/qlik/claims.js';
import { createSelfSignedCertificate, publicKeyPem } from '../../functions/signing/certificates.js';
import { createKeyObjectSigner, signCompactJws } from '../../functions/signing/signer.js';
import { verifyWithJsonwebtoken } from '../support/keys.js';
import { ADMIN_SCOPE, startTenantEmulator, type TenantEmulator } from '../support/tenant-emulator/index.js';

const ISSUER = 'https://token-vending.example.com';
const keyA = generateKeyPairSync('rsa', { modulusLength: 2048 });
const keyB = generateKeyPairSync('rsa', { modulusLength: 2048 });
let certA: string;
let tenant: TenantEmulator;
let adminToken: string;
let userToken: string;

/** Qlik's console wants the PEM "with no stray line breaks": the API body often carries it on one line. */
const oneLine = (pem: string) => pem.replace(/\r?\n/g, ' ').trim();

async function api(method: string, path: string, body?: unknown, token = adminToken) {
  const response = await fetch(`${tenant.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> & { data?: unknown[] },
  };
}

function idpBody(kid: string, pem: string, extra: Record<string, unknown> = {}) {
  return {
    provider: 'external',
    protocol: 'jwtAuth',
    interactive: false,
    active: true,
    description: `key ${kid}`,
    clockToleranceSec: 0,
    options: { jwtLoginEnabled: true, issuer: ISSUER, staticKeys: [{ kid, pem: oneLine(pem) }] },
    ...extra,
  };
}

async function loginWith(privateKey: typeof keyA.privateKey, kid: string, verifyPem: string) {
  const claims = buildQlikClaims(
    { sub: 'rotating-user', name: 'R', email: 'r@example.com', emailVerified: true, groups: [] },
    { issuer: ISSUER, issuedAtSeconds: Math.floor(Date.now() / 1000), ttlSeconds: 60, notBeforeSkewSeconds: 5 },
  );
  const token = await signCompactJws(claims, createKeyObjectSigner(privateKey, kid, 'RS256'));
  verifyWithJsonwebtoken(token, verifyPem);
  const response = await fetch(`${tenant.url}/login/jwt-session`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'qlik-web-integration-id': 'wi' },
  });
  return response.status;
}

async function clientCredentials(clientId: string, secret: string, scope: string) {
  const response = await fetch(`${tenant.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret, scope }),
  });
  return String(((await response.json()) as { access_token?: string }).access_token);
}

beforeAll(async () => {
  certA = await createSelfSignedCertificate({ privateKey: keyA.privateKey });
  tenant = await startTenantEmulator({
    webIntegrations: [{ id: 'wi', validOrigins: [] }],
    clients: [
      { clientId: 'admin', secrets: ['admin-secret'], admin: true },
      { clientId: 'plain-m2m', secrets: ['m2m-secret'], clientCredentials: true },
    ],
  });
  adminToken = await clientCredentials('admin', 'admin-secret', ADMIN_SCOPE);
  userToken = await clientCredentials('plain-m2m', 'm2m-secret', 'user_default');
});
afterAll(async () => tenant.close());

describe('Function: tenant emulator identity-provider API', () => {
  it('creates a JWT IdP from a one-line certificate PEM, lists and gets it, and jwt-session uses it at once', async () => {
    const created = await api(
      'POST',
      '/api/v1/identity-providers',
      idpBody('kid-a', oneLine(certA), { tenantIds: [tenant.tenantId] }),
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ protocol: 'jwtAuth', active: true, options: { issuer: ISSUER } });
    const id = String(created.body.id);
    const list = await api('GET', '/api/v1/identity-providers');
    expect(list.body.data?.map((idp) => (idp as { id: string }).id)).toContain(id);
    expect((await api('GET', `/api/v1/identity-providers/${id}`)).body.id).toBe(id);
    expect(await loginWith(keyA.privateKey, 'kid-a', certA)).toBe(200);
  });

  it('keeps two JWT IdPs active at once (rotation overlap), then deleting the old one refuses its tokens', async () => {
    const pemB = publicKeyPem(keyB.publicKey);
    const second = await api('POST', '/api/v1/identity-providers', idpBody('kid-b', pemB));
    expect(second.status).toBe(201);
    expect(await loginWith(keyA.privateKey, 'kid-a', certA)).toBe(200);
    expect(await loginWith(keyB.privateKey, 'kid-b', pemB)).toBe(200);
    const old = tenant.identityProviders.list().find((idp) => idp.options.staticKeys[0]?.kid === 'kid-a')!;
    expect((await api('DELETE', `/api/v1/identity-providers/${old.id}`)).status).toBe(204);
    expect((await api('GET', `/api/v1/identity-providers/${old.id}`)).status).toBe(404);
    expect(await loginWith(keyA.privateKey, 'kid-a', certA)).toBe(401);
    expect(await loginWith(keyB.privateKey, 'kid-b', pemB)).toBe(200);
  });

  it.each([
    [
      'two keys',
      idpBody('k1', 'x', {
        options: {
          jwtLoginEnabled: true,
          issuer: ISSUER,
          staticKeys: [
            { kid: 'k1', pem: 'a' },
            { kid: 'k2', pem: 'b' },
          ],
        },
      }),
      'Limited to 1 key per identity provider',
    ],
    [
      'no key',
      idpBody('k1', 'x', { options: { jwtLoginEnabled: true, issuer: ISSUER, staticKeys: [] } }),
      'Limited to 1 key per identity provider',
    ],
    [
      'a private key as pem',
      idpBody('k1', keyA.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()),
      'must not be a PRIVATE KEY',
    ],
    ['a non-RSA key', idpBody('k1', publicKeyPem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey)), 'RSA'],
    ['another protocol', idpBody('k1', 'x', { protocol: 'OIDC' }), 'protocol'],
    [
      'a multi-line pem (Qlik: "pem must be on a single line")',
      idpBody('k1', 'x', {
        options: {
          jwtLoginEnabled: true,
          issuer: ISSUER,
          staticKeys: [{ kid: 'k1', pem: publicKeyPem(keyA.publicKey) }],
        },
      }),
      'single line',
    ],
  ])('refuses to create an IdP with %s', async (_name, body, detail) => {
    const result = await api('POST', '/api/v1/identity-providers', body);
    expect(result.status).toBe(400);
    expect(JSON.stringify(result.body)).toContain(detail);
  });

  it.each([
    ['the issuer', [{ op: 'replace', path: '/options/issuer', value: 'https://other' }]],
    ['the key', [{ op: 'replace', path: '/options/staticKeys', value: [{ kid: 'x', pem: 'y' }] }]],
    ['the key (merge patch)', { options: { staticKeys: [{ kid: 'x', pem: 'y' }] } }],
  ])('refuses a PATCH that changes %s', async (_name, patch) => {
    const idp = tenant.identityProviders.list()[0]!;
    const result = await api('PATCH', `/api/v1/identity-providers/${idp.id}`, patch);
    expect(result.status).toBe(400);
    expect(JSON.stringify(result.body)).toContain('cannot be changed');
  });

  it('patches the description, the only path Qlik documents for PATCH', async () => {
    const idp = tenant.identityProviders.list().find((i) => i.options.staticKeys[0]?.kid === 'kid-b')!;
    const patched = await api('PATCH', `/api/v1/identity-providers/${idp.id}`, [
      { op: 'replace', path: '/description', value: 'retired' },
    ]);
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ active: true, description: 'retired' });
  });

  it.each([
    ['/active', false],
    ['/clockToleranceSec', 30],
    ['/options/jwtLoginEnabled', false],
  ])('refuses a PATCH of %s, a path Qlik does not document', async (path, value) => {
    const idp = tenant.identityProviders.list().find((i) => i.options.staticKeys[0]?.kid === 'kid-b')!;
    const result = await api('PATCH', `/api/v1/identity-providers/${idp.id}`, [{ op: 'replace', path, value }]);
    expect(result.status).toBe(400);
    expect(JSON.stringify(result.body)).toContain('Unsupported patch');
    expect(tenant.identityProviders.get(idp.id)).toMatchObject({ active: true, clockToleranceSec: 0 });
  });

  it('requires an admin token: 401 without one, 403 with a non-admin token, 200 with the static API key', async () => {
    const none = await fetch(`${tenant.url}/api/v1/identity-providers`);
    expect(none.status).toBe(401);
    expect((await api('GET', '/api/v1/identity-providers', undefined, userToken)).status).toBe(403);
    expect((await api('GET', '/api/v1/identity-providers', undefined, tenant.adminApiKey)).status).toBe(200);
  });
});

describe('Function: tenant emulator users admin API', () => {
  it('creates a user and finds it with filter=subject eq "…"', async () => {
    const created = await api('POST', '/api/v1/users', { subject: 'new-user', name: 'New', email: 'new@example.com' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      subject: 'new-user',
      name: 'New',
      tenantId: tenant.tenantId,
      status: 'active',
    });
    const found = await api('GET', `/api/v1/users?filter=${encodeURIComponent('subject eq "new-user"')}`);
    expect(found.body.data).toEqual([created.body]);
    const none = await api('GET', `/api/v1/users?filter=${encodeURIComponent('subject eq "missing"')}`);
    expect(none.body.data).toEqual([]);
    expect((await api('POST', '/api/v1/users', { subject: 'new-user' })).status).toBe(409);
  });

  it.each([
    ['subject eq, case-insensitive', 'subject eq "CASE-user"', ['case-user']],
    ['email co', 'email co "@filter.example"', ['case-user', 'other-user']],
    ['or of two subjects', 'subject eq "case-user" or subject eq "other-user"', ['case-user', 'other-user']],
    ['and with a grouped status', '(name co "Case") and (status eq "active" or status eq "disabled")', ['case-user']],
    ['not', 'email co "@filter.example" and not (subject eq "case-user")', ['other-user']],
  ])('filters users by the documented RFC 7644 syntax: %s', async (_name, filter, subjects) => {
    if (!tenant.users.bySubject('case-user')) {
      tenant.addUser({ subject: 'case-user', name: 'Case User', email: 'case@filter.example' });
      tenant.addUser({ subject: 'other-user', name: 'Other', email: 'other@filter.example' });
    }
    const found = await api('GET', `/api/v1/users?filter=${encodeURIComponent(filter)}`);
    expect(found.status).toBe(200);
    expect((found.body.data as { subject: string }[]).map((u) => u.subject).sort()).toEqual(subjects);
  });

  it.each([
    ['an undocumented attribute', 'groups eq "x"'],
    ['co on id', 'id co "1"'],
    ['an unknown operator', 'subject sw "a"'],
    ['unbalanced parentheses', '(subject eq "a"'],
  ])('answers 400 for a filter with %s', async (_name, filter) => {
    const result = await api('GET', `/api/v1/users?filter=${encodeURIComponent(filter)}`);
    expect(result.status).toBe(400);
  });

  it('refuses user look-up and creation without admin scope', async () => {
    expect((await api('GET', '/api/v1/users', undefined, userToken)).status).toBe(403);
    expect((await api('POST', '/api/v1/users', { subject: 'x' }, userToken)).status).toBe(403);
  });

  it('answers users/me with 401 for a client-credentials token (no user)', async () => {
    const me = await api('GET', '/api/v1/users/me', undefined, userToken);
    expect(me.status).toBe(401);
  });
});
