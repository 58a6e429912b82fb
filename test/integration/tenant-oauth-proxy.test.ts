/**
 * The OAuth proxy (`/oauth/*`) in multi-tenant mode, through the real handlers, against two emulated Qlik
 * tenants, each with its own web client and its own client secret under its own prefix; the refresh grace
 * table in moto's DynamoDB. The tenant is named only where nothing is sealed yet (login, code exchange) and is
 * then read from the sealed state, session or refresh token: a session of one tenant never works at another.
 */
import { randomBytes } from 'node:crypto';
import { CreateTableCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createCallbackHandler,
  createCodeExchangeHandler,
  createLoginHandler,
  createRefreshHandler,
  createRevokeHandler,
} from '../../functions/oauth/handler.js';
import { parseConfig } from '../../functions/runtime/config.js';
import { createRuntime, type Runtime } from '../../functions/runtime/wiring.js';
import { MemorySecretStore } from '../../functions/secrets/secret-source.js';
import { MemoryTenantStore } from '../../functions/tenancy/store.js';
import { motoDynamoDb, uniqueName } from '../support/aws.js';
import { httpEvent, lambdaContext } from '../support/events.js';
import { capturingLogger } from '../support/logs.js';
import { type MultiTenantEmulator, startMultiTenantEmulator } from '../support/multi-tenant-emulator.js';
import { completeAuthorization } from '../support/tenant-emulator/browser.js';
import { tenantItem } from '../support/tenants.js';

const REDIRECT = 'http://127.0.0.1:9/oauth/callback';
const STATE = '__Host-qtv-oauth-state';
const SESSION = '__Host-qtv-oauth-session';
const appOf = (id: string) => `https://${id}.apps.example/home`;
const dynamodb = motoDynamoDb();
const graceTable = uniqueName('qtv-grace');
let qlik: MultiTenantEmulator;
let runtime: Runtime;
const log = capturingLogger('INFO');
const secretValues: string[] = [];

beforeAll(async () => {
  await dynamodb.send(
    new CreateTableCommand({
      TableName: graceTable,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  qlik = await startMultiTenantEmulator({
    acme: { users: [{ subject: 'alice' }] },
    globex: { users: [{ subject: 'bob' }, { subject: 'alice' }] },
    umbrella: { users: [{ subject: 'alice' }] },
    wayne: { users: [{ subject: 'alice' }] },
  });
  const secrets = new MemorySecretStore();
  const items = [];
  for (const [id, emulator] of qlik.tenants) {
    const secret = `${id}-${randomBytes(12).toString('hex')}`;
    secretValues.push(secret);
    emulator.addClient({ clientId: `${id}-web`, secrets: [secret], redirectUris: [REDIRECT] });
    secrets.set(`qtv/tenants/${id}/oauth-client`, secret);
    items.push(
      tenantItem(id, {
        qlik: { tenantHost: emulator.tenantHost, issuer: `https://qtv.example/${id}` },
        allowedOrigins: [`https://${id}.apps.example`],
        oauth: {
          tenantUrl: emulator.url,
          clientId: `${id}-web`,
          clientSecretId: `qtv/tenants/${id}/oauth-client`,
          redirectUris: [REDIRECT],
          appReturnUrls: [appOf(id)],
          // acme's and umbrella's apps keep their session in the proxy's cookie; globex's and wayne's SPAs hold tokens.
          mode: id === 'globex' || id === 'wayne' ? 'json' : 'cookie',
        },
      }),
    );
  }
  items.push(tenantItem('initech'), tenantItem('hooli', { status: 'suspended' }));
  runtime = createRuntime(
    parseConfig({
      qlik: { issuer: 'https://qtv.example/shared' },
      signing: { backend: 'file', privateKeyPath: 'unused' },
      tenancy: {
        tenantClaim: 'org_id',
        registry: { backend: 'dynamodb', tableName: 'unused' },
        refreshGraceTableName: graceTable,
      },
    }),
    {
      logger: log.logger,
      signers: { current: () => Promise.reject(new Error('not used')) },
      dynamodb,
      tenancy: { store: new MemoryTenantStore(items), secretStore: secrets },
    },
  );
});

afterAll(async () => {
  await qlik?.close();
  dynamodb.destroy();
});

type Options = { query?: Record<string, string>; cookie?: string; body?: unknown; origin?: string };
function event(method: 'GET' | 'POST', path: string, options: Options = {}): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  if (options.cookie !== undefined) headers.cookie = options.cookie;
  if (options.origin !== undefined) headers.origin = options.origin;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  return httpEvent({
    method,
    path,
    headers,
    ...(options.query !== undefined ? { query: options.query } : {}),
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
}
const call = async (
  handler: (
    e: APIGatewayProxyEventV2,
    c: ReturnType<typeof lambdaContext>,
  ) => Promise<{ statusCode?: number; headers?: Record<string, unknown>; cookies?: string[]; body?: string }>,
  e: APIGatewayProxyEventV2,
) => {
  const result = await handler(e, lambdaContext());
  const cookies = Object.fromEntries((result.cookies ?? []).map((c) => c.split(';')[0]!.split(/=(.*)/s).slice(0, 2)));
  return {
    status: result.statusCode,
    location: result.headers?.location as string | undefined,
    cookies: cookies as Record<string, string>,
    json: result.body ? (JSON.parse(result.body) as Record<string, unknown>) : {},
  };
};

/** Login at the proxy for `tenant`, sign `subject` in at that tenant's emulated Qlik, run the callback. */
async function signIn(tenant: string, subject: string) {
  const login = await call(
    createLoginHandler(runtime),
    event('GET', '/oauth/login', { query: { tenant, returnTo: appOf(tenant) } }),
  );
  expect(login.status, JSON.stringify(login.json)).toBe(302);
  const redirect = await completeAuthorization({ authorizeUrl: login.location!, subject, redirectUriPrefix: REDIRECT });
  const stateCookie = login.cookies[STATE]!;
  return { login, redirect, stateCookie };
}
const callback = (redirect: URL, stateCookie: string) =>
  call(
    createCallbackHandler(runtime),
    event('GET', '/oauth/callback', {
      query: Object.fromEntries(redirect.searchParams),
      cookie: `${STATE}=${stateCookie}`,
    }),
  );
const usersMe = async (tenant: string, token: string) =>
  (await fetch(`${qlik.tenant(tenant).url}/api/v1/users/me`, { headers: { authorization: `Bearer ${token}` } })).status;
const tokenCalls = (tenant: string) => qlik.tenant(tenant).requests.filter((r) => r.path === '/oauth/token').length;

describe('Handlers: /oauth/* in multi-tenant mode', () => {
  it('logs a user in at the tenant named by ?tenant= with that tenant’s client, state and session sealed to it', async () => {
    const { login, redirect, stateCookie } = await signIn('acme', 'alice');
    expect(new URL(login.location!).origin).toBe(qlik.tenant('acme').url);
    expect(new URL(login.location!).searchParams.get('client_id')).toBe('acme-web');
    expect(stateCookie.startsWith('acme.v1.')).toBe(true);
    const done = await callback(redirect, stateCookie);
    expect(done.status, JSON.stringify(done.json)).toBe(302);
    expect(done.location).toBe(appOf('acme'));
    expect(done.cookies[SESSION]!.startsWith('acme.v1.')).toBe(true);
    const refreshed = await call(
      createRefreshHandler(runtime),
      event('POST', '/oauth/refresh', {
        cookie: `${SESSION}=${done.cookies[SESSION]}`,
        origin: 'https://acme.apps.example',
      }),
    );
    expect(refreshed.status, JSON.stringify(refreshed.json)).toBe(200);
    expect(await usersMe('acme', refreshed.json.accessToken as string)).toBe(200);
    expect(await usersMe('globex', refreshed.json.accessToken as string)).toBe(401);
  });

  it('keys the shared refresh grace table by tenant', async () => {
    const items = (await dynamodb.send(new ScanCommand({ TableName: graceTable }))).Items ?? [];
    expect(items.length).toBeGreaterThan(0);
    for (const item of items) expect(item.pk?.S).toMatch(/^refresh#acme#/);
  });

  it('returns a tenant-bound refresh token in JSON mode, which refreshes at its own tenant only', async () => {
    const { redirect, stateCookie } = await signIn('globex', 'bob');
    const done = await callback(redirect, stateCookie);
    expect(done.status, JSON.stringify(done.json)).toBe(200);
    const bound = done.json.refreshToken as string;
    expect(bound.startsWith('globex.v1.')).toBe(true);
    const refreshed = await call(
      createRefreshHandler(runtime),
      event('POST', '/oauth/refresh', { body: { refresh_token: bound } }),
    );
    expect(refreshed.status, JSON.stringify(refreshed.json)).toBe(200);
    expect(await usersMe('globex', refreshed.json.accessToken as string)).toBe(200);
    const revoked = await call(
      createRevokeHandler(runtime),
      event('POST', '/oauth/revoke', { body: { token: refreshed.json.refreshToken } }),
    );
    expect(revoked.status).toBe(204);
    const after = await call(
      createRefreshHandler(runtime),
      event('POST', '/oauth/refresh', { body: { refresh_token: refreshed.json.refreshToken } }),
    );
    // Qlik refuses the revoked grant (JSON mode passes Qlik's invalid_grant on, as single-tenant does).
    expect(after).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
  });

  it('refuses a session of tenant A used with tenant B, whichever way B is named, before any call to B’s Qlik', async () => {
    const acme = await signIn('acme', 'alice');
    const session = (await callback(acme.redirect, acme.stateCookie)).cookies[SESSION]!;
    const globexCalls = tokenCalls('globex');
    // ?tenant= naming another tenant than the session's.
    const named = await call(
      createRefreshHandler(runtime),
      event('POST', '/oauth/refresh', { query: { tenant: 'globex' }, cookie: `${SESSION}=${session}` }),
    );
    expect(named).toMatchObject({ status: 403, json: { code: 'TENANT_NOT_ALLOWED' } });
    // The session relabelled as umbrella's (also cookie mode): umbrella's keys cannot open it.
    const umbrellaCalls = tokenCalls('umbrella');
    const relabelled = `umbrella.${session.slice('acme.'.length)}`;
    const forged = await call(
      createRefreshHandler(runtime),
      event('POST', '/oauth/refresh', { cookie: `${SESSION}=${relabelled}` }),
    );
    expect(forged).toMatchObject({ status: 401, json: { code: 'OAUTH_SESSION_MISSING' } });
    expect(tokenCalls('umbrella')).toBe(umbrellaCalls);
    // A login state of acme relabelled as globex's, at the callback: no code is redeemed anywhere.
    const again = await signIn('acme', 'alice');
    const acmeCalls = tokenCalls('acme');
    const state = await callback(again.redirect, `globex.${again.stateCookie.slice('acme.'.length)}`);
    expect(state).toMatchObject({ status: 400, json: { code: 'OAUTH_STATE_INVALID' } });
    expect(tokenCalls('acme')).toBe(acmeCalls);
    // globex's bound refresh token relabelled as wayne's (also JSON mode), and a bare Qlik refresh token.
    const globex = await signIn('globex', 'alice');
    const bound = (await callback(globex.redirect, globex.stateCookie)).json.refreshToken as string;
    const asAcme = await call(
      createRefreshHandler(runtime),
      event('POST', '/oauth/refresh', { body: { refresh_token: `wayne.${bound.slice('globex.'.length)}` } }),
    );
    expect(asAcme).toMatchObject({ status: 401, json: { code: 'OAUTH_SESSION_MISSING' } });
    const bare = await call(
      createRefreshHandler(runtime),
      event('POST', '/oauth/refresh', { query: { tenant: 'globex' }, body: { refresh_token: 'a-qlik-refresh-token' } }),
    );
    expect(bare).toMatchObject({ status: 401, json: { code: 'OAUTH_SESSION_MISSING' } });
    expect(tokenCalls('globex')).toBe(globexCalls + 1); // only globex's own sign-in redeemed a code there
    expect(tokenCalls('wayne')).toBe(0);
  });

  it.each([
    ['no tenant', {}, 400, 'INVALID_REQUEST'],
    ['an unknown tenant', { tenant: 'nobody' }, 404, 'TENANT_UNKNOWN'],
    ['a suspended tenant', { tenant: 'hooli' }, 403, 'TENANT_SUSPENDED'],
    ['a tenant without an OAuth client', { tenant: 'initech' }, 404, 'NOT_CONFIGURED'],
    [
      'another tenant’s app as returnTo',
      { tenant: 'acme', returnTo: appOf('globex') },
      400,
      'OAUTH_REDIRECT_NOT_ALLOWED',
    ],
  ])('refuses a login with %s (%j)', async (_, query, status, code) => {
    const result = await call(createLoginHandler(runtime), event('GET', '/oauth/login', { query }));
    expect(result).toMatchObject({ status, json: { status, code } });
  });

  it('answers a refresh without any tenant’s session with 401, and a logout without one with 204 clearing the cookie', async () => {
    const refresh = await call(createRefreshHandler(runtime), event('POST', '/oauth/refresh'));
    expect(refresh).toMatchObject({ status: 401, json: { code: 'OAUTH_SESSION_MISSING' } });
    const revoke = await call(createRevokeHandler(runtime), event('POST', '/oauth/revoke'));
    expect(revoke).toMatchObject({ status: 204, cookies: { [SESSION]: '' } });
  });

  it('accepts a code exchange for a tenant only from one of that tenant’s origins', async () => {
    const body = { code: 'c', redirect_uri: REDIRECT, code_verifier: 'v'.repeat(43) };
    const exchange = (origin?: string) =>
      call(
        createCodeExchangeHandler(runtime),
        event('POST', '/oauth/code-exchange', { query: { tenant: 'acme' }, body, ...(origin ? { origin } : {}) }),
      );
    expect(await exchange('https://globex.apps.example')).toMatchObject({
      status: 403,
      json: { code: 'OAUTH_ORIGIN_NOT_ALLOWED' },
    });
    expect(await exchange()).toMatchObject({ status: 403, json: { code: 'OAUTH_ORIGIN_NOT_ALLOWED' } });
    // From acme's origin the code reaches acme's Qlik, which refuses a code it never issued.
    expect((await exchange('https://acme.apps.example')).status).not.toBe(403);
  });

  it('logs the tenant with every OAuth step, and never a client secret or token', () => {
    expect(log.lines.map((l) => JSON.parse(l)).filter((l) => l.message === 'oauth login completed')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ tenant: 'acme' }),
        expect.objectContaining({ tenant: 'globex' }),
      ]),
    );
    for (const secret of secretValues) expect(log.text()).not.toContain(secret);
  });
});
