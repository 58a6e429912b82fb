/**
 * The copy-paste examples for frontend teams (examples/web/, docs/frontend.md) in a real headless
 * Chromium (Debian's /usr/bin/chromium; no browser is downloaded). The pages are served from their own
 * loopback origin, so every call is a real cross-origin request: the dev server's CORS and the tenant
 * emulator's web integration must both allow that origin, as they must in production.
 */
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
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

const WEB_INTEGRATION_ID = 'e2e-web-integration';
const SCREENSHOTS = 'test-results/e2e';

let site: StaticServer;
let tenant: TenantEmulator;
let dev: DevServer;
let browser: Browser;
let page: Page | undefined;
let certificate: string;

beforeAll(async () => {
  site = await startStaticServer('examples/web');
  tenant = await startTenantEmulator({
    webIntegrations: [{ id: WEB_INTEGRATION_ID, validOrigins: [site.url] }],
    // Impersonation needs an existing user (qlik-auth.md); JWT users are created on first login.
    users: [{ subject: 'bob', name: 'Bob Builder', email: 'bob@example.com' }],
    clients: [
      {
        clientId: EMULATOR_DEMO_CLIENTS.impersonation.clientId,
        secrets: [EMULATOR_DEMO_CLIENTS.impersonation.secret],
        impersonation: true,
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
      return { ...base, cors: { allowedOrigins: [site.url] } };
    },
  });
  // The tenant trusts the dev signing key, as a tenant admin would set it up (docs/tenant-emulator.md).
  tenant.addJwtIdentityProvider({
    issuer: DEV_QLIK_ISSUER,
    kid: DEV_KEY_ID,
    pem: certificate,
  });
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
  await site?.close();
});

async function openExample(
  file: string,
  who: { sub: string; name: string; groups?: string },
  watch?: (page: Page) => void,
): Promise<Page> {
  const context = await browser.newContext();
  page = await context.newPage();
  watch?.(page);
  const query = new URLSearchParams({ api: dev.url, tenant: tenant.url, webIntegrationId: WEB_INTEGRATION_ID });
  await page.goto(`${site.url}/${file}?${query}`);
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

describe('Example page: JWT session (examples/web/index.html)', () => {
  it('signs in, gets a Qlik JWT, opens a Qlik session, reads the CSRF token and shows users/me for the mapped user', async () => {
    // Prepare: keep the Qlik JWT the page receives, to verify it independently.
    let vended: Promise<{ token: string }> | undefined;
    // Act
    const p = await openExample('index.html', { sub: 'carol', name: 'Carol Example', groups: 'Sales, Finance' }, (q) =>
      q.on('response', (response) => {
        if (response.url() === `${dev.url}/qlik/jwt` && response.request().method() === 'POST')
          vended = response.json();
      }),
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
  });

  it('shows the tenant’s refusal when the page’s origin is not on the web integration', async () => {
    // Prepare: a web integration that does not list the page's origin.
    tenant.addWebIntegration({ id: 'other-origin-only', validOrigins: ['https://app.example.com'] });
    const context = await browser.newContext();
    page = await context.newPage();
    const query = new URLSearchParams({ api: dev.url, tenant: tenant.url, webIntegrationId: 'other-origin-only' });
    // Act
    await page.goto(`${site.url}/index.html?${query}`);
    await page.fill('#sub', 'dave');
    await page.click('#go');
    await page.waitForSelector('body[data-state="failed"]');
    // Assess: the page stops at the session step and says why, with Qlik's status.
    const steps = await stepsOf(page);
    expect(steps.slice(0, 2)).toEqual(['OK sign in: caller token for dave', expect.stringMatching(/^OK get Qlik JWT/)]);
    // Qlik documents 401 as /login/jwt-session's failure status (https://qlik.dev/apis/rest/login/).
    expect(steps[2]).toMatch(/^FAILED Qlik session: 401/);
    expect(tenant.users.bySubject('dave')).toBeUndefined();
  });
});

describe('Example page: qlik-embed getAccessToken (examples/web/access-token.html)', () => {
  it('window.getAccessToken() returns a Qlik access token as text that calls users/me as the mapped user', async () => {
    // Act
    const p = await openExample('access-token.html', { sub: 'bob', name: 'Bob Builder' });
    // Assess
    expect(await p.locator('#error').textContent()).toBe('');
    expect(await stepsOf(p)).toEqual([
      'OK sign in: caller token for bob',
      'OK getAccessToken(): Qlik access token received (opaque: not parsed)',
      'OK users/me: Qlik answers as bob',
    ]);
    expect(await p.textContent('#user-subject')).toBe('bob');
    expect(await p.textContent('#user-name')).toBe('Bob Builder');
    // What qlik-embed would do on a 401: call the callback again; it returns a plain string token.
    const again = await p.evaluate(async () => {
      const token = await (window as unknown as { getAccessToken: () => Promise<string> }).getAccessToken();
      return { type: typeof token, length: token.length, trimmed: token === token.trim() };
    });
    expect(again).toMatchObject({ type: 'string', trimmed: true });
    expect(again.length).toBeGreaterThan(10);
  });
});
