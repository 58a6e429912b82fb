/**
 * Cookie-mode refresh against the tenant emulator answering only in Qlik's documented error shape:
 * - parallel refreshes of one session, each in its own "Lambda container" (its own runtime, caches and
 *   handler), share one upstream refresh through the DynamoDB grace table (moto), so an authorization server
 *   that revokes the grant when a refresh token is reused never sees the reuse (finding 4 of issue 13);
 * - Qlik's 401 for a dead refresh token is a dead session: 401 OAUTH_SESSION_MISSING and the cookie cleared,
 *   not a 502 (finding 2);
 * - each guessed emulator behaviour (refresh-token reuse, revoke authentication) is run.
 */
import { randomBytes } from 'node:crypto';
import {
  CreateTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
  ScanCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCodeExchangeHandler, createRefreshHandler, createRevokeHandler } from '../../functions/oauth/handler.js';
import { GRACE_TABLE, graceKey } from '../../functions/oauth/refresh-grace.js';
import { type ConfigInput, parseConfig } from '../../functions/runtime/config.js';
import { createRuntime } from '../../functions/runtime/wiring.js';
import { MemorySecretStore } from '../../functions/secrets/secret-source.js';
import { motoClientConfig, uniqueName } from '../support/aws.js';
import { httpEvent, lambdaContext } from '../support/events.js';
import { capturingLogger } from '../support/logs.js';
import { completeAuthorization, pkcePair } from '../support/tenant-emulator/browser.js';
import {
  type EmulatedClient,
  type EmulatorOAuthBehaviour,
  startTenantEmulator,
  type TenantEmulator,
} from '../support/tenant-emulator/index.js';

const SPA_REDIRECT = 'http://127.0.0.1:9/spa/callback';
const SECRET = `web-${randomBytes(12).toString('hex')}`;
const SESSION = '__Host-qtv-oauth-session';
const REUSE_MODES: EmulatorOAuthBehaviour['refreshTokenReuse'][] = ['revoke-grant', 'reject', 'no-rotation'];

let tenant: TenantEmulator;
let web: EmulatedClient;
let tableName: string;
const dynamodb = new DynamoDBClient(motoClientConfig());
const log = capturingLogger('DEBUG');

beforeAll(async () => {
  tenant = await startTenantEmulator({ users: [{ subject: 'alice', name: 'Alice', email: 'alice@example.com' }] });
  web = tenant.addClient({ clientId: 'grace-web', secrets: [SECRET], redirectUris: [SPA_REDIRECT] });
  tableName = uniqueName('qtv-refresh-grace');
  await dynamodb.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: GRACE_TABLE.partitionKey, AttributeType: 'S' }],
      KeySchema: [{ AttributeName: GRACE_TABLE.partitionKey, KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await dynamodb.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { AttributeName: GRACE_TABLE.ttlAttribute, Enabled: true },
    }),
  );
});
afterAll(async () => {
  await tenant?.close();
});

function config(mode: 'cookie' | 'json', withTable: boolean): ConfigInput {
  return {
    qlik: { issuer: 'https://qtv.test', tenantHost: tenant.tenantHost },
    signing: { backend: 'file', privateKeyPath: 'unused' },
    cors: { allowedOrigins: ['https://app.example'] },
    oauth: {
      tenantUrl: tenant.url,
      clientId: web.clientId,
      clientSecretId: 'client',
      redirectUris: ['https://qtv.test/oauth/callback', SPA_REDIRECT],
      appReturnUrls: ['https://app.example/home'],
      mode,
      upstream: { timeoutMs: 3000, retries: 0 },
      refreshGrace: { ...(withTable ? { tableName } : {}), windowSeconds: 30, waitMs: 8000 },
    },
  };
}

/** One "Lambda container": its own runtime (caches, in-process state) and handlers. */
function container(mode: 'cookie' | 'json' = 'cookie', withTable = true) {
  const runtime = createRuntime(parseConfig(config(mode, withTable)), {
    logger: log.logger,
    signers: { current: () => Promise.reject(new Error('unused')) },
    oauthSecretStore: new MemorySecretStore({ client: SECRET }),
    dynamodb,
  });
  return {
    runtime,
    refresh: createRefreshHandler(runtime),
    exchange: createCodeExchangeHandler(runtime),
    revoke: createRevokeHandler(runtime),
  };
}

const sessionCookieOf = (result: APIGatewayProxyStructuredResultV2) =>
  result.cookies?.find((c) => c.startsWith(`${SESSION}=`))?.split(';')[0];

/** A signed-in session: code + PKCE at the emulator, exchanged by the proxy (cookie mode) into a session cookie. */
async function signedInSession(box = container()): Promise<string> {
  const pkce = pkcePair();
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: web.clientId,
    redirect_uri: SPA_REDIRECT,
    scope: 'user_default offline_access',
    state: randomBytes(8).toString('hex'),
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
  });
  const callback = await completeAuthorization({
    authorizeUrl: `${tenant.url}/oauth/authorize?${params}`,
    subject: 'alice',
  });
  const result = await box.exchange(
    httpEvent({
      path: '/oauth/code-exchange',
      body: JSON.stringify({
        code: callback.searchParams.get('code'),
        redirect_uri: SPA_REDIRECT,
        code_verifier: pkce.verifier,
      }),
    }),
    lambdaContext(),
  );
  expect(result.statusCode).toBe(200);
  lastAccessToken = (JSON.parse(String(result.body)) as { accessToken: string }).accessToken;
  return sessionCookieOf(result)!;
}

/** The access token of the last {@link signedInSession}. */
let lastAccessToken = '';

const refreshWith = (box: ReturnType<typeof container>, cookie: string) =>
  box.refresh(httpEvent({ path: '/oauth/refresh', headers: { cookie } }), lambdaContext());

async function usersMe(accessToken: string) {
  const response = await fetch(`${tenant.url}/api/v1/users/me`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  return response.status;
}

/**
 * Fires `parallel` refreshes of one session, each in its own container, then checks every answer is a live
 * session: 200, an access token Qlik accepts, and a cookie that refreshes again. Returns the sessions lost.
 */
async function parallelRefreshes(parallel: number, withTable: boolean): Promise<number> {
  const cookie = await signedInSession();
  const boxes = Array.from({ length: parallel }, () => container('cookie', withTable));
  const results = await Promise.all(boxes.map((box) => refreshWith(box, cookie)));
  let lost = 0;
  for (const [index, result] of results.entries()) {
    if (result.statusCode !== 200) {
      lost += 1;
      continue;
    }
    const body = JSON.parse(String(result.body)) as { accessToken: string };
    const next = await refreshWith(boxes[index]!, sessionCookieOf(result)!);
    if ((await usersMe(body.accessToken)) !== 200 || next.statusCode !== 200) lost += 1;
  }
  return lost;
}

describe('Cookie-mode refresh: parallel refreshes across containers (DynamoDB grace table on moto)', () => {
  for (const reuse of REUSE_MODES) {
    describe(`emulator refresh-token reuse: ${reuse}`, () => {
      beforeAll(() => tenant.setOAuthBehaviour({ refreshTokenReuse: reuse }));
      afterAll(() => tenant.setOAuthBehaviour({ refreshTokenReuse: 'revoke-grant' }));

      it.each([2, 4, 8])('loses no session with %i parallel refreshes, each in its own container', async (parallel) => {
        const before = tenant.requests.filter((r) => r.path === '/oauth/token').length;
        expect(await parallelRefreshes(parallel, true)).toBe(0);
        // One code exchange, one shared refresh, then one follow-up refresh per answer (the first one shared
        // again among equal cookies): far fewer than one upstream refresh per request.
        const after = tenant.requests.filter((r) => r.path === '/oauth/token').length;
        expect(after - before).toBeLessThanOrEqual(2 + parallel);
      });
    });
  }

  it('without the shared table, an emulator that revokes on reuse logs sessions out (the failure the table prevents)', async () => {
    tenant.setOAuthBehaviour({ refreshTokenReuse: 'revoke-grant' });
    expect(await parallelRefreshes(4, false)).toBeGreaterThan(0);
  });

  it('keeps no token in the table: keys are hashes and values are sealed', async () => {
    const cookie = await signedInSession();
    const box = container();
    const result = await refreshWith(box, cookie);
    expect(result.statusCode).toBe(200);
    const { Items } = await dynamodb.send(new ScanCommand({ TableName: tableName }));
    const body = JSON.parse(String(result.body)) as { accessToken: string };
    const dump = JSON.stringify(Items);
    expect(dump).not.toContain(body.accessToken);
    for (const item of Items ?? []) {
      expect(item.pk?.S).toMatch(/^refresh#[A-Za-z0-9_-]{43}$/);
      expect(Number(item.expiresAt?.N)).toBeGreaterThan(Date.now() / 1000);
    }
    const ttl = await dynamodb.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    expect(ttl.TimeToLiveDescription?.AttributeName).toBe(GRACE_TABLE.ttlAttribute);
    expect(graceKey('x')).not.toContain('x');
    expect(
      await dynamodb.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: graceKey('nope') } } })),
    ).not.toHaveProperty('Item');
  });
});

describe('Cookie-mode refresh: Qlik’s documented 401 for a dead refresh token', () => {
  it('answers 401 OAUTH_SESSION_MISSING and clears the cookie (not 502) when the grant was revoked at Qlik', async () => {
    // Prepare: a session whose refresh token is revoked at Qlik behind the proxy's back (an admin, another app).
    const box = container();
    const cookie = await signedInSession(box);
    const sealer = await box.runtime.oauth!.sealer();
    const session = sealer.open('oauth-session', cookie.slice(`${SESSION}=`.length)) as { r: string };
    const revoke = await fetch(`${tenant.url}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        token: session.r,
        token_type_hint: 'refresh_token',
        client_id: web.clientId,
        client_secret: SECRET,
      }),
    });
    expect(revoke.status).toBe(200);
    // Act
    const result = await refreshWith(container(), cookie);
    // Assess: Qlik answered its documented 401 (errors[] only); the proxy ends the session.
    const lastToken = tenant.requests.filter((r) => r.path === '/oauth/token').at(-1);
    expect(lastToken?.status).toBe(401);
    expect(result.statusCode).toBe(401);
    expect(JSON.parse(String(result.body))).toMatchObject({ code: 'OAUTH_SESSION_MISSING' });
    expect(result.cookies?.some((c) => c.startsWith(`${SESSION}=;`) && /Max-Age=0/.test(c))).toBe(true);
  });

  it('after a logout, an older cookie whose refresh was shared within the window gets 401, never the revoked tokens', async () => {
    const box = container();
    const oldCookie = await signedInSession(box);
    const refreshed = await refreshWith(box, oldCookie);
    expect(refreshed.statusCode).toBe(200);
    const current = sessionCookieOf(refreshed)!;
    expect(
      (await box.revoke(httpEvent({ path: '/oauth/revoke', headers: { cookie: current } }), lambdaContext()))
        .statusCode,
    ).toBe(204);
    const replay = await refreshWith(container(), oldCookie);
    expect(replay.statusCode).toBe(401);
    expect(JSON.parse(String(replay.body))).toMatchObject({ code: 'OAUTH_SESSION_MISSING' });
  });

  it('answers 400 invalid_grant in JSON mode for the same dead refresh token', async () => {
    const cookieBox = container();
    const cookie = await signedInSession(cookieBox);
    await cookieBox.revoke(httpEvent({ path: '/oauth/revoke', headers: { cookie } }), lambdaContext());
    // The same grant in JSON mode: obtain a refresh token directly and revoke it first.
    const pkce = pkcePair();
    const params = new URLSearchParams({
      response_type: 'code',
      client_id: web.clientId,
      redirect_uri: SPA_REDIRECT,
      scope: 'user_default offline_access',
      state: 's',
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
    });
    const callback = await completeAuthorization({
      authorizeUrl: `${tenant.url}/oauth/authorize?${params}`,
      subject: 'alice',
    });
    const jsonBox = container('json');
    const exchanged = await jsonBox.exchange(
      httpEvent({
        path: '/oauth/code-exchange',
        body: JSON.stringify({
          code: callback.searchParams.get('code'),
          redirect_uri: SPA_REDIRECT,
          code_verifier: pkce.verifier,
        }),
      }),
      lambdaContext(),
    );
    const { refreshToken } = JSON.parse(String(exchanged.body)) as { refreshToken: string };
    await jsonBox.revoke(
      httpEvent({
        path: '/oauth/revoke',
        body: JSON.stringify({ token: refreshToken, token_type_hint: 'refresh_token' }),
      }),
      lambdaContext(),
    );
    const result = await jsonBox.refresh(
      httpEvent({ path: '/oauth/refresh', body: JSON.stringify({ refresh_token: refreshToken }) }),
      lambdaContext(),
    );
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(String(result.body))).toMatchObject({ error: 'invalid_grant' });
  });

  it.each(['required', 'optional'] as const)(
    'logs out (revoke) whether or not Qlik requires client authentication at /oauth/revoke (%s)',
    async (revokeClientAuthentication) => {
      tenant.setOAuthBehaviour({ revokeClientAuthentication });
      try {
        const box = container();
        const cookie = await signedInSession(box);
        const accessToken = lastAccessToken;
        const result = await box.revoke(httpEvent({ path: '/oauth/revoke', headers: { cookie } }), lambdaContext());
        expect(result.statusCode).toBe(204);
        // The revoke reached Qlik: the session's access token is dead there.
        expect(await usersMe(accessToken)).toBe(401);
        expect((await refreshWith(container(), cookie)).statusCode).toBe(401);
      } finally {
        tenant.setOAuthBehaviour({ revokeClientAuthentication: 'required' });
      }
    },
  );
});
