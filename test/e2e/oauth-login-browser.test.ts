/**
 * The OAuth login in a real headless Chromium (Debian's /usr/bin/chromium; no browser is downloaded):
 * app -> /oauth/login -> tenant emulator sign-in -> /oauth/callback -> back to the app with a sealed
 * session cookie, whose access token then calls /api/v1/users/me as the signed-in user.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, EMULATOR_DEMO_CLIENTS, startDevServer } from '../../scripts/dev-server.js';
import { launchChromium } from '../support/browser.js';
import { startTenantEmulator, type TenantEmulator } from '../support/tenant-emulator/index.js';

let tenant: TenantEmulator;
let dev: DevServer;
let browser: Browser;

beforeAll(async () => {
  tenant = await startTenantEmulator({ users: [{ subject: 'alice', name: 'Alice', email: 'alice@example.com' }] });
  // `--tenant` without an oauth section wires the proxy to the emulator's demo clients (what `npm run emulator` seeds).
  dev = await startDevServer({
    port: 0,
    localDir: mkdtempSync(join(tmpdir(), 'qtv-e2e-')),
    tenantUrl: tenant.url,
    logLevel: 'SILENT',
  });
  tenant.addClient({
    clientId: EMULATOR_DEMO_CLIENTS.web.clientId,
    secrets: [EMULATOR_DEMO_CLIENTS.web.secret],
    redirectUris: [`${dev.url}/oauth/callback`],
  });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await dev?.close();
  await tenant?.close();
});

describe('OAuth login in headless Chromium', () => {
  it('signs in at the tenant, returns to the app with an HttpOnly session, and the app gets a Qlik token for the user', async () => {
    // Prepare
    const page = await browser.newPage();
    const appUrl = `${dev.url}/dev/app`;
    // Act: the app sends the user to the proxy's login route; the tenant shows its sign-in form.
    await page.goto(`${dev.url}/oauth/login?returnTo=${encodeURIComponent(appUrl)}`);
    expect(page.url()).toMatch(new RegExp(`^${tenant.url}/interaction/`));
    await page.fill('#subject', 'alice');
    await Promise.all([page.waitForURL(appUrl), page.click('#sign-in')]);
    await page.waitForSelector('body[data-session="active"]');
    // Assess: the session cookie is sealed and invisible to scripts; the app still gets a token from it.
    const cookies = await page.context().cookies(dev.url);
    const session = cookies.find((c) => c.name === '__Host-qtv-oauth-session');
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict', path: '/' });
    expect(cookies.find((c) => c.name === '__Host-qtv-oauth-state')).toBeUndefined();
    expect(await page.evaluate(() => document.cookie)).toBe('');
    const token = await page.evaluate(async () => {
      const response = await fetch('/oauth/refresh', { method: 'POST', headers: { accept: 'text/plain' } });
      return response.text();
    });
    const me = await fetch(`${tenant.url}/api/v1/users/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ subject: 'alice' });
    await page.close();
  });
});
