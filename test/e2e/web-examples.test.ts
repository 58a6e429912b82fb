/**
 * The copy-paste examples for frontend teams (examples/web/, docs/frontend.md) in a real headless
 * Chromium (Debian's /usr/bin/chromium; no browser is downloaded), driving Qlik's own client: the pages
 * call `@qlik/api` 2.19 (served from node_modules where the page's import map says the CDN), and
 * `@qlik/api` loads its auth and fetch code from the tenant emulator's `/qlik-embed/main.js`, which is
 * built from the same npm package (test/support/tenant-emulator/qlik-embed.ts). So token handling,
 * headers and the retry after a 401 are Qlik's code, not ours.
 *
 * Each page is served from its own loopback origin, so every call is a real cross-origin request:
 * - `jwtSite`: on the tenant's web integration (cookie session, JWT page);
 * - `oauthSite`: on the impersonation OAuth client's Allowed origins only (bearer tokens);
 * - `strangerSite`: allowed by the token vending but by nothing on the tenant;
 * - `outsiderSite`: allowed by nobody.
 */
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureDevSigningKey } from '../../scripts/dev/dev-keys.js';
import {
  DEV_KEY_ID,
  DEV_QLIK_ISSUER,
  type DevServer,
  defaultDevConfig,
  EMULATOR_DEMO_CLIENTS,
  startDevServer,
} from '../../scripts/dev-server.js';
import { launchChromium } from '../support/browser.js';
import { verifyWithJsonwebtoken } from '../support/keys.js';
import { type StaticServer, startStaticServer } from '../support/static-server.js';
import { startTenantEmulator, type TenantEmulator } from '../support/tenant-emulator/index.js';
import { qlikApiRuntimeChunks } from '../support/tenant-emulator/qlik-embed.js';

const WEB_INTEGRATION_ID = 'e2e-web-integration';
const SCREENSHOTS = 'test-results/e2e';
/** What the pages' import maps name; the test serves that package from node_modules (no network). */
const QLIK_API_CDN = 'https://cdn.jsdelivr.net/npm/@qlik/api@2.19.0/';
const IMPERSONATION = EMULATOR_DEMO_CLIENTS.impersonation;

let cdn: StaticServer;
let jwtSite: StaticServer;
let oauthSite: StaticServer;
let strangerSite: StaticServer;
let outsiderSite: StaticServer;
let tenant: TenantEmulator;
let dev: DevServer;
let browser: Browser;
let page: Page | undefined;
let certificate: string;

beforeAll(async () => {
  // @qlik/api from node_modules on its own origin, standing in for the CDN the pages' import maps name.
  // (Not page.route(): with request interception on, Playwright answers CORS preflights itself, which
  // would hide every preflight the tenant and the token vending must get right.)
  cdn = await startStaticServer(qlikApiRuntimeChunks().packageDir, { headers: { 'access-control-allow-origin': '*' } });
  const transformHtml = (html: string) => html.replaceAll(QLIK_API_CDN, `${cdn.url}/`);
  const sites = await Promise.all([0, 1, 2, 3].map(() => startStaticServer('examples/web', { transformHtml })));
  [jwtSite, oauthSite, strangerSite, outsiderSite] = sites as [StaticServer, StaticServer, StaticServer, StaticServer];
  tenant = await startTenantEmulator({
    webIntegrations: [{ id: WEB_INTEGRATION_ID, validOrigins: [jwtSite.url] }],
    // Impersonation needs an existing user (qlik-auth.md); JWT users are created on first login.
    users: [{ subject: 'bob', name: 'Bob Builder', email: 'bob@example.com' }],
    clients: [
      {
        clientId: IMPERSONATION.clientId,
        secrets: [IMPERSONATION.secret],
        impersonation: true,
        // Qlik's M2M impersonation guide: the browser app's origin goes in the client's Allowed origins.
        allowedOrigins: [oauthSite.url],
      },
    ],
  });
  const localDir = mkdtempSync(join(tmpdir(), 'qtv-e2e-web-'));
  const keys = await ensureDevSigningKey(localDir);
  certificate = readFileSync(keys.certificatePath, 'utf8');
  dev = await startDevServer({
    port: 0,
    localDir,
    tenantUrl: tenant.url,
    logLevel: 'SILENT',
    config: (baseUrl) => {
      const base = defaultDevConfig(baseUrl, keys);
      return { ...base, cors: { allowedOrigins: [jwtSite.url, oauthSite.url, strangerSite.url] } };
    },
  });
  // The tenant trusts the dev signing key, as a tenant admin would set it up (docs/tenant-emulator.md).
  tenant.addJwtIdentityProvider({ issuer: DEV_QLIK_ISSUER, kid: DEV_KEY_ID, pem: certificate });
  browser = await launchChromium();
});

beforeEach(({ task, onTestFailed }) => {
  page = undefined;
  // A failed test leaves a screenshot of the page as it was (test-results/ is git-ignored).
  onTestFailed(async () => {
    if (page === undefined) return;
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, `${task.name.replace(/\W+/g, '-')}.png`), fullPage: true });
  });
  // vitest runs onTestFailed after the hooks, so each test's browser context stays open until browser.close().
});

afterAll(async () => {
  await browser?.close();
  await dev?.close();
  await tenant?.close();
  await Promise.all([cdn, jwtSite, oauthSite, strangerSite, outsiderSite].map((site) => site?.close()));
});

interface Settings {
  readonly site: StaticServer;
  readonly api?: string;
  readonly tenant?: string;
  readonly webIntegrationId?: string;
}

async function openExample(
  file: string,
  who: { sub: string; name: string; groups?: string },
  settings: Settings,
  watch?: (page: Page) => void,
): Promise<Page> {
  const context = await browser.newContext();
  page = await context.newPage();
  watch?.(page);
  const query = new URLSearchParams({
    api: settings.api ?? dev.url,
    tenant: settings.tenant ?? tenant.url,
    webIntegrationId: settings.webIntegrationId ?? WEB_INTEGRATION_ID,
    clientId: IMPERSONATION.clientId,
  });
  await page.goto(`${settings.site.url}/${file}?${query}`);
  await page.fill('#sub', who.sub);
  await page.fill('#name', who.name);
  await page.fill('#email', `${who.sub}@example.com`);
  await page.fill('#groups', who.groups ?? '');
  await page.click('#go');
  await page.waitForSelector('body[data-state="done"], body[data-state="failed"]');
  return page;
}

async function stepsOf(p: Page): Promise<string[]> {
  return p.locator('#steps li').allTextContents();
}

/** A loopback port nothing listens on (listened on, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** The requests a page made to the tenant's users/me, with the headers Chromium sent. */
function usersMeRequests(p: Page): { request: Request; status: Promise<number> }[] {
  const seen: { request: Request; status: Promise<number> }[] = [];
  p.on('request', (request) => {
    if (request.url() === `${tenant.url}/api/v1/users/me` && request.method() === 'GET')
      seen.push({ request, status: request.response().then((r) => r?.status() ?? 0) });
  });
  return seen;
}

describe('Example page: JWT session (examples/web/index.html) with @qlik/api cookie auth', () => {
  it('signs in, gets a Qlik JWT, opens a Qlik session, and @qlik/api reads the CSRF token and users/me for the mapped user', async () => {
    // Prepare: keep the Qlik JWT the page receives, to verify it independently; watch users/me.
    let vended: Promise<{ token: string }> | undefined;
    let me: ReturnType<typeof usersMeRequests> = [];
    tenant.clearRequests();
    // Act
    const p = await openExample(
      'index.html',
      { sub: 'carol', name: 'Carol Example', groups: 'Sales, Finance' },
      { site: jwtSite },
      (q) => {
        me = usersMeRequests(q);
        q.on('response', (response) => {
          if (response.url() === `${dev.url}/qlik/jwt` && response.request().method() === 'POST')
            vended = response.json();
        });
      },
    );
    // Assess: every step ran in order, and Qlik answered as the mapped user.
    expect(await p.locator('#error').textContent()).toBe('');
    expect(await stepsOf(p)).toEqual([
      'OK sign in: caller token for carol',
      expect.stringMatching(/^OK get Qlik JWT: valid until \d{4}-/),
      'OK Qlik session: session cookie set by the tenant',
      'OK CSRF token: received',
      'OK users/me: signed in to Qlik as carol',
    ]);
    expect(await p.textContent('#user-subject')).toBe('carol');
    expect(await p.textContent('#user-name')).toBe('Carol Example');
    const { token } = await (vended as Promise<{ token: string }>);
    const { payload } = verifyWithJsonwebtoken(token, certificate, {
      issuer: DEV_QLIK_ISSUER,
      audience: 'qlik.api/login/jwt-session',
    });
    expect(payload).toMatchObject({ sub: 'carol', name: 'Carol Example', groups: ['Sales', 'Finance'] });
    // The tenant's own record agrees: the JWT login created the user with the caller's groups.
    expect(tenant.users.bySubject('carol')).toMatchObject({ name: 'Carol Example', groups: ['Sales', 'Finance'] });
    // The session cookie belongs to the tenant and is HttpOnly: the page's script never sees it.
    const cookies = await p.context().cookies(tenant.url);
    expect(cookies.find((c) => c.name === 'eas.sid')).toMatchObject({ httpOnly: true });
    // Qlik's client did the Qlik calls: it loaded its runtime from the tenant, and its users/me request
    // carried the session cookie, the web integration ID, the CSRF token and its API version header.
    expect(tenant.requests.some((r) => r.path === '/qlik-embed/main.js' && r.status === 200)).toBe(true);
    expect(me).toHaveLength(1);
    const headers = await me[0]!.request.allHeaders();
    expect(headers).toMatchObject({
      'qlik-web-integration-id': WEB_INTEGRATION_ID,
      'qlik-csrf-token': expect.any(String),
      'qlik-api-version': expect.stringMatching(/^\d{4}-\d{2}$/),
      cookie: expect.stringContaining('eas.sid='),
    });
    expect(headers.authorization).toBeUndefined();
    expect(await me[0]!.status).toBe(200);
  });

  it('shows the tenant’s refusal when the page’s origin is not on the named web integration', async () => {
    // Prepare: a web integration that does not list the page's origin (another one does, so CORS passes).
    tenant.addWebIntegration({ id: 'other-origin-only', validOrigins: ['https://app.example.com'] });
    // Act
    const p = await openExample(
      'index.html',
      { sub: 'dave', name: 'Dave' },
      { site: jwtSite, webIntegrationId: 'other-origin-only' },
    );
    // Assess: the page stops at the session step and says why, with Qlik's status.
    const steps = await stepsOf(p);
    expect(steps.slice(0, 2)).toEqual(['OK sign in: caller token for dave', expect.stringMatching(/^OK get Qlik JWT/)]);
    // Qlik documents 401 as /login/jwt-session's failure status (https://qlik.dev/apis/rest/login/).
    expect(steps[2]).toMatch(/^FAILED Qlik session: 401/);
    expect(tenant.users.bySubject('dave')).toBeUndefined();
  });

  it('names the step, the cause (origin not allowed by the tenant) and the fix instead of "Failed to fetch"', async () => {
    // Act: the page's origin is allowed by the token vending, but by no web integration on the tenant.
    const p = await openExample('index.html', { sub: 'erin', name: 'Erin' }, { site: strangerSite });
    // Assess
    const steps = await stepsOf(p);
    expect(steps[2]).toBe(
      `FAILED Qlik session: the Qlik tenant at ${tenant.url} answered, but the browser blocked the response (CORS): ` +
        `most likely this page's origin ${strangerSite.url} is not allowed there. Fix: add ${strangerSite.url} to the web ` +
        "integration's allowed origins (Management Console > Integrations > Web; emulator: EMULATOR_ORIGINS).",
    );
    expect(await p.textContent('#error')).not.toMatch(/Failed to fetch/);
  });
  it('names the step and the fix when the tenant answers but Qlik’s runtime (/qlik-embed/main.js) does not load', async () => {
    // Prepare: the tenant answers 404 for its runtime once (as a wrong "tenant" URL with a path would).
    tenant.injectFault({ path: '/qlik-embed/main.js', status: 404, body: '{}', times: 1 });
    try {
      // Act
      const p = await openExample('index.html', { sub: 'frank', name: 'Frank' }, { site: jwtSite });
      // Assess: the page does not hang (as @qlik/api alone would); it stops at the first @qlik/api step.
      const steps = await stepsOf(p);
      expect(steps.slice(0, 3).map((s) => s.slice(0, 9))).toEqual(['OK sign i', 'OK get Ql', 'OK Qlik s']);
      expect(steps[3]).toBe(
        `FAILED CSRF token: the Qlik tenant at ${tenant.url} answered, but Qlik's runtime ${tenant.url}/qlik-embed/main.js ` +
          'did not load as a script. Fix: the "Qlik tenant" field must be the tenant itself ' +
          '(https://<tenant>.<region>.qlikcloud.com), without a path.',
      );
    } finally {
      tenant.clearFaults();
    }
  });
});

describe('Example page: OAuth impersonation (examples/web/access-token.html) with @qlik/api oauth2 + getAccessToken', () => {
  it('@qlik/api calls window.getAccessToken(), sends the token as a bearer and reads users/me as the mapped user', async () => {
    // Prepare
    let vended: Promise<{ accessToken: string }> | undefined;
    let me: ReturnType<typeof usersMeRequests> = [];
    const productInfo: Promise<string | undefined>[] = [];
    tenant.clearRequests();
    // Act
    const p = await openExample('access-token.html', { sub: 'bob', name: 'Bob Builder' }, { site: oauthSite }, (q) => {
      me = usersMeRequests(q);
      q.on('response', (response) => {
        if (response.url() === `${dev.url}/qlik/access-token`) vended = response.json();
        if (response.url().endsWith('/resources/autogenerated/product-info.json'))
          productInfo.push(response.headerValue('access-control-allow-origin').then((v) => v ?? undefined));
      });
    });
    // Assess
    expect(await p.locator('#error').textContent()).toBe('');
    expect(await stepsOf(p)).toEqual([
      'OK sign in: caller token for bob',
      'OK getAccessToken(): call 1: Qlik access token received (opaque: not parsed)',
      'OK users/me: Qlik answers as bob',
    ]);
    expect(await p.textContent('#user-subject')).toBe('bob');
    expect(await p.textContent('#user-name')).toBe('Bob Builder');
    // The users/me request is @qlik/api's: the token our callback returned, as a bearer, no cookies,
    // with Qlik's API version header (so the tenant's preflight had to allow it).
    const { accessToken } = await (vended as Promise<{ accessToken: string }>);
    expect(me).toHaveLength(1);
    const headers = await me[0]!.request.allHeaders();
    expect(headers).toMatchObject({
      authorization: `Bearer ${accessToken}`,
      'qlik-api-version': expect.stringMatching(/^\d{4}-\d{2}$/),
    });
    expect(headers.cookie).toBeUndefined();
    expect(await me[0]!.status).toBe(200);
    // @qlik/api's platform probe read the tenant's answer (a CORS failure would make it treat the tenant as
    // Qlik Sense on Windows), and the cross-origin GET needed a preflight, which the tenant answered.
    expect(
      tenant.requests.filter((r) => r.path === '/resources/autogenerated/product-info.json').map((r) => r.status),
    ).toContain(404);
    expect(productInfo.length).toBeGreaterThan(0);
    expect(await Promise.all(productInfo)).not.toContain(undefined);
    expect(tenant.requests.filter((r) => r.path === '/api/v1/users/me').map((r) => [r.method, r.status])).toEqual([
      ['OPTIONS', 204],
      ['GET', 200],
    ]);
  });

  it('after Qlik revokes the token, @qlik/api gets a 401, calls getAccessToken() again, the page sends Cache-Control: no-cache and a fresh token is used', async () => {
    // Prepare: a signed-in page, and every /qlik/access-token request and answer it makes.
    const accessTokenCalls: { headers: Promise<Record<string, string>>; body: Promise<{ accessToken: string }> }[] = [];
    let me: ReturnType<typeof usersMeRequests> = [];
    const p = await openExample('access-token.html', { sub: 'bob', name: 'Bob Builder' }, { site: oauthSite }, (q) => {
      me = usersMeRequests(q);
      q.on('response', (response) => {
        if (response.url() === `${dev.url}/qlik/access-token`)
          accessTokenCalls.push({ headers: response.request().allHeaders(), body: response.json() });
      });
    });
    expect(await p.textContent('#user-subject')).toBe('bob');
    const first = await accessTokenCalls[0]!.body;
    // Qlik revokes the token (an admin, a password reset, ...): the tenant now answers 401 for it.
    const revoked = await fetch(`${tenant.url}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        token: first.accessToken,
        token_type_hint: 'access_token',
        client_id: IMPERSONATION.clientId,
        client_secret: IMPERSONATION.secret,
      }),
    });
    expect(revoked.status).toBe(200);
    // Act: the page asks Qlik again (any later qlik-embed request does the same).
    await p.click('#again');
    await p.waitForSelector('body[data-state="done"], body[data-state="failed"]');
    // Assess: Qlik's client saw 401, called the callback again; the callback sent no-cache; the retry used
    // a different token and Qlik answered 200.
    expect(await p.locator('#error').textContent()).toBe('');
    expect(await stepsOf(p)).toEqual([
      'OK sign in: caller token for bob',
      'OK getAccessToken(): call 1: Qlik access token received (opaque: not parsed)',
      'OK users/me: Qlik answers as bob',
      'OK getAccessToken(): call 2: the last token was refused while still valid, so a fresh one was asked for (Cache-Control: no-cache)',
      'OK users/me again: Qlik answers as bob',
    ]);
    expect(accessTokenCalls).toHaveLength(2);
    expect((await accessTokenCalls[0]!.headers)['cache-control']).toBeUndefined();
    expect((await accessTokenCalls[1]!.headers)['cache-control']).toBe('no-cache');
    const second = await accessTokenCalls[1]!.body;
    expect(second.accessToken).not.toBe(first.accessToken);
    const seen = await Promise.all(
      me.map(async ({ request, status }) => ({
        auth: (await request.allHeaders()).authorization,
        status: await status,
      })),
    );
    expect(seen).toEqual([
      { auth: `Bearer ${first.accessToken}`, status: 200 },
      { auth: `Bearer ${first.accessToken}`, status: 401 },
      { auth: `Bearer ${second.accessToken}`, status: 200 },
    ]);
  });

  it('names the step, the cause (origin not on the OAuth client’s Allowed origins) and the fix', async () => {
    // Act: the token vending allows this origin; the tenant's OAuth client does not.
    const p = await openExample('access-token.html', { sub: 'bob', name: 'Bob Builder' }, { site: strangerSite });
    // Assess
    const steps = await stepsOf(p);
    expect(steps.slice(0, 2)).toEqual([
      'OK sign in: caller token for bob',
      expect.stringMatching(/^OK getAccessToken\(\): call 1/),
    ]);
    expect(steps[2]).toBe(
      `FAILED users/me: the Qlik tenant at ${tenant.url} answered, but the browser blocked the response (CORS): ` +
        `most likely this page's origin ${strangerSite.url} is not allowed there. Fix: add ${strangerSite.url} to the ` +
        "OAuth client's Allowed origins (Management Console > OAuth > your impersonation client; emulator: EMULATOR_ORIGINS).",
    );
  });

  it('names the refused request headers when the tenant allows the origin but its preflight leaves out qlik-api-version', async () => {
    // Prepare: the tenant answers preflights without qlik-api-version (the emulator's old answer).
    tenant.setCorsOptions({ omitApiVersionHeader: true });
    try {
      // Act
      const p = await openExample('access-token.html', { sub: 'bob', name: 'Bob Builder' }, { site: oauthSite });
      // Assess: Qlik's own client cannot call the tenant, and the page says which headers were refused.
      const steps = await stepsOf(p);
      expect(steps[2]).toBe(
        `FAILED users/me: the Qlik tenant at ${tenant.url} allows this page's origin, but its CORS preflight refused ` +
          "this request's headers (authorization, qlik-api-version). Fix: allow those request headers in the Qlik tenant's CORS settings.",
      );
    } finally {
      tenant.setCorsOptions({});
    }
  });

  it('names the step, the cause (token vending API not running or wrong port) and the fix', async () => {
    // Act: the API field points at a port nothing listens on.
    const port = await closedPort();
    const p = await openExample(
      'access-token.html',
      { sub: 'bob', name: 'Bob Builder' },
      { site: oauthSite, api: `http://127.0.0.1:${port}` },
    );
    // Assess
    expect(await stepsOf(p)).toEqual([
      `FAILED sign in: cannot reach the token vending API at http://127.0.0.1:${port}: nothing answers there ` +
        '(wrong URL or port, or not running). Fix: check the "Token vending API" field and that it runs ' +
        '(npm start (dev server, port 8787 by default)).',
    ]);
  });

  it('names the step, the cause (origin not allowed by the token vending) and the fix', async () => {
    // Act
    const p = await openExample('access-token.html', { sub: 'bob', name: 'Bob Builder' }, { site: outsiderSite });
    // Assess
    expect(await stepsOf(p)).toEqual([
      `FAILED sign in: the token vending API at ${dev.url} answered, but the browser blocked the response (CORS): ` +
        `most likely this page's origin ${outsiderSite.url} is not allowed there. Fix: add ${outsiderSite.url} to ` +
        "cors.allowedOrigins in the token vending's config (deployed: redeploy the stack).",
    ]);
  });

  it('names the step, the cause (tenant not running or wrong port) and the fix when Qlik’s runtime cannot load', async () => {
    // Act: the tenant field points at a port nothing listens on, so <tenant>/qlik-embed/main.js never loads.
    const port = await closedPort();
    const p = await openExample(
      'access-token.html',
      { sub: 'bob', name: 'Bob Builder' },
      { site: oauthSite, tenant: `http://127.0.0.1:${port}` },
    );
    // Assess
    expect(await stepsOf(p)).toEqual([
      'OK sign in: caller token for bob',
      `FAILED users/me: cannot reach the Qlik tenant at http://127.0.0.1:${port}: nothing answers there ` +
        '(wrong URL or port, or not running). Fix: check the "Qlik tenant" field and that it runs ' +
        '(npm run emulator (tenant emulator, port 8788 by default)).',
    ]);
  });
});
