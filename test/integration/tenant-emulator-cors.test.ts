/**
 * The tenant emulator's CORS and its `/qlik-embed/main.js` runtime stand-in, over real HTTP
 * (test/support/tenant-emulator/cors.ts and qlik-embed.ts; sources cited there). The browser tests
 * (test/e2e/web-examples.test.ts) show the same rules through Chromium and Qlik's own client.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTenantEmulator, type TenantEmulator } from '../support/tenant-emulator/index.js';
import { qlikApiRuntimeChunks } from '../support/tenant-emulator/qlik-embed.js';

const APP = 'https://app.example.com';
const PORTAL = 'https://portal.example.com';
const STRANGER = 'https://stranger.example.com';
let tenant: TenantEmulator;

beforeAll(async () => {
  tenant = await startTenantEmulator({
    clients: [{ clientId: 'impersonation', secrets: ['s'], impersonation: true, allowedOrigins: [APP] }],
    webIntegrations: [{ id: 'wi', validOrigins: [PORTAL] }],
  });
});
afterAll(async () => tenant?.close());

function preflight(origin: string, headers: string) {
  return fetch(`${tenant.url}/api/v1/users/me`, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': headers },
  });
}

describe('Tenant emulator CORS (Qlik: OAuth client Allowed origins, web integrations)', () => {
  it('allows an origin on an OAuth client’s Allowed origins, without credentials, and its preflight allows qlik-api-version', async () => {
    // Act
    const answer = await preflight(APP, 'authorization,qlik-api-version');
    // Assess
    expect(answer.status).toBe(204);
    expect(answer.headers.get('access-control-allow-origin')).toBe(APP);
    expect(answer.headers.get('access-control-allow-credentials')).toBeNull();
    const allowed = (answer.headers.get('access-control-allow-headers') ?? '').split(/,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'qlik-api-version']));
  });

  it('allows a web integration’s origin with credentials and exposes the CSRF header', async () => {
    // Act
    const answer = await fetch(`${tenant.url}/api/v1/csrf-token`, {
      headers: { origin: PORTAL, 'qlik-web-integration-id': 'wi' },
    });
    // Assess
    expect(answer.headers.get('access-control-allow-origin')).toBe(PORTAL);
    expect(answer.headers.get('access-control-allow-credentials')).toBe('true');
    expect(answer.headers.get('access-control-expose-headers')).toContain('qlik-csrf-token');
  });

  it('grants nothing to an origin no OAuth client and no web integration lists', async () => {
    // Act
    const answer = await preflight(STRANGER, 'authorization');
    // Assess
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('can be switched to the old answers (web integrations only, no qlik-api-version) to show what a browser client then meets', async () => {
    // Prepare
    tenant.setCorsOptions({ legacyWebIntegrationOnly: true, omitApiVersionHeader: true });
    try {
      // Act
      const app = await preflight(APP, 'authorization,qlik-api-version');
      const portal = await preflight(PORTAL, 'qlik-api-version');
      // Assess
      expect(app.headers.get('access-control-allow-origin')).toBeNull();
      expect(portal.headers.get('access-control-allow-origin')).toBe(PORTAL);
      expect(portal.headers.get('access-control-allow-headers')).not.toContain('qlik-api-version');
    } finally {
      tenant.setCorsOptions({});
    }
  });
});

describe('Tenant emulator /qlik-embed/main.js', () => {
  it('serves a script that sets window.QlikMain from @qlik/api’s own auth and invoke-fetch modules', async () => {
    // Act
    const answer = await fetch(`${tenant.url}/qlik-embed/main.js`);
    const body = await answer.text();
    // Assess: JavaScript, and the code is @qlik/api's (marker strings from its Node runtime chunks).
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(body).toContain('window.QlikMain');
    const { auth } = qlikApiRuntimeChunks();
    expect(readFileSync(auth, 'utf8')).toContain('src/auth/auth.ts');
    expect(body).toContain('"qmfe-api/latest"');
    expect(body).toContain('async function getOAuthTokensForBrowser(hostConfig)');
    expect(body).toContain('"auth@v1"');
    expect(body).toContain('"invoke-fetch@v1"');
  });
});
