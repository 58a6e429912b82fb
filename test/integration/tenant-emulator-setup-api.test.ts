/**
 * The emulator's web-integration, CSP-origin and OAuth-client APIs driven by Qlik's own client library,
 * `@qlik/api` 2.19 (pinned dev dependency): its REST functions (`@qlik/api/web-integrations`,
 * `@qlik/api/csp-origins`, `@qlik/api/oauth-clients`) carry the paths, methods and success statuses of Qlik's
 * OpenAPI specifications, and throw for any status their types do not list, so a wrong path, method or status
 * in the emulator fails here. `authType: "apikey"` sends the admin API key as a bearer, as a Qlik API key is.
 */
import { createCSPEntry, getCSPEntries, getCSPHeader, updateCSPEntry } from '@qlik/api/csp-origins';
import {
  createOAuthClient,
  createOAuthClientSecret,
  getOAuthClient,
  getOAuthClients,
  patchOAuthClient,
} from '@qlik/api/oauth-clients';
import {
  createWebIntegration,
  getWebIntegration,
  getWebIntegrations,
  patchWebIntegration,
} from '@qlik/api/web-integrations';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IMPERSONATION_GRANT, startTenantEmulator, type TenantEmulator } from '../support/tenant-emulator/index.js';

let tenant: TenantEmulator;
let options: { hostConfig: { authType: 'apikey'; host: string; apiKey: string }; noCache: true };

beforeAll(async () => {
  tenant = await startTenantEmulator({ users: [{ subject: 'alice', name: 'Alice', email: 'a@x.io' }] });
  options = { hostConfig: { authType: 'apikey', host: tenant.url, apiKey: tenant.adminApiKey }, noCache: true };
});
afterAll(async () => {
  await tenant?.close();
});

describe('Emulator: tenant set-up APIs, driven by @qlik/api', () => {
  it('creates, lists, reads and patches a web integration whose origins then pass the CORS check', async () => {
    const created = await createWebIntegration({ name: 'portal', validOrigins: ['https://app.example.com'] }, options);
    expect(created.status).toBe(201);
    const id = created.data.id!;
    expect((await getWebIntegrations({}, options)).data.data?.map((w) => w.id)).toContain(id);
    await patchWebIntegration(
      id,
      // @qlik/api types `value` as a string; Qlik's own page lists /validOrigins, whose value is the list.
      [{ op: 'replace', path: '/validOrigins', value: ['https://other.example.com'] as unknown as string }],
      options,
    );
    const read = await getWebIntegration(id, options);
    expect(read.data).toMatchObject({ id, name: 'portal', validOrigins: ['https://other.example.com'] });
    const preflight = await fetch(`${tenant.url}/api/v1/users/me`, {
      method: 'OPTIONS',
      headers: { origin: 'https://other.example.com', 'access-control-request-method': 'GET' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://other.example.com');
  });

  it('creates a CSP entry with frame-ancestors, finds it by origin, updates it and builds the header', async () => {
    const created = await createCSPEntry(
      { origin: 'https://reports.example.com', name: 'reports', frameAncestors: true },
      options,
    );
    expect(created.status).toBe(201);
    const found = await getCSPEntries({ origin: 'HTTPS://REPORTS.example.com' }, options);
    expect(found.data.data?.map((e) => e.id)).toEqual([created.data.id]);
    const updated = await updateCSPEntry(
      created.data.id!,
      { origin: 'https://reports.example.com', frameAncestors: true, imgSrc: true },
      options,
    );
    expect(updated.data).toMatchObject({ frameAncestors: true, imgSrc: true });
    const header = await getCSPHeader(options);
    expect(header.data['Content-Security-Policy']).toContain('frame-ancestors');
    expect(header.data['Content-Security-Policy']).toContain('https://reports.example.com');
  });

  it('creates an impersonation client (secret shown once), filters, patches origins, adds a secret; both secrets work', async () => {
    const created = await createOAuthClient(
      {
        appType: 'web',
        clientName: 'portal impersonation',
        allowedScopes: ['user_default'],
        allowedGrantTypes: [IMPERSONATION_GRANT],
        connectionConfig: { consentMethod: 'trusted' },
      },
      options,
    );
    expect(created.status).toBe(201);
    const { clientId, clientSecret } = created.data;
    expect(clientSecret).toEqual(expect.any(String));
    const listed = await getOAuthClients({ filter: 'clientName eq "portal impersonation"' }, options);
    expect(listed.data.data.map((c) => c.clientId)).toEqual([clientId]);
    expect(JSON.stringify(listed.data)).not.toContain(clientSecret);
    const patched = await patchOAuthClient(
      clientId,
      [{ op: 'replace', path: '/allowedOrigins', value: ['https://app.example.com'] }],
      options,
    );
    expect(patched.status).toBe(204);
    expect((await getOAuthClient(clientId, options)).data).toMatchObject({
      allowedOrigins: ['https://app.example.com'],
    });
    const second = await createOAuthClientSecret(clientId, options);
    expect(second.status).toBe(201);
    for (const secret of [clientSecret, second.data.clientSecret]) {
      const response = await fetch(`${tenant.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          grant_type: IMPERSONATION_GRANT,
          client_id: clientId,
          client_secret: secret,
          scope: 'user_default',
          user_lookup: { field: 'subject', value: 'alice' },
        }),
      });
      expect(response.status).toBe(200);
    }
  });

  it('refuses a caller without an admin credential (401), as Qlik answers', async () => {
    await expect(
      getOAuthClients({}, { hostConfig: { authType: 'apikey', host: tenant.url, apiKey: 'not-a-key' }, noCache: true }),
    ).rejects.toMatchObject({ status: 401 });
  });
});
