/**
 * Faults the service must survive, each made for real: Secrets Manager behind a fault-injecting proxy in
 * front of moto, a Qlik tenant (the emulator) that answers garbage, and clocks that disagree by two
 * minutes. KMS throttling and Qlik 500/timeouts are proven in kms-signing.test.ts and
 * oauth-proxy.test.ts; docs/security.md ("Faults") lists every fault with the test that proves it.
 */

import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { createLocalJWKSet, exportJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { json } from '../../functions/http/lambda-http.js';
import { createHandler } from '../../functions/qlik-jwt/handler.js';
import type { RouteDefinition } from '../../functions/routes.js';
import { FixedClock } from '../../functions/runtime/clock.js';
import { parseConfig } from '../../functions/runtime/config.js';
import { createRuntime } from '../../functions/runtime/wiring.js';
import { ensureDevSigningKey } from '../../scripts/dev/dev-keys.js';
import { createLocalApiGateway } from '../../scripts/dev/local-api-gateway.js';
import {
  DEV_KEY_ID,
  DEV_QLIK_ISSUER,
  type DevServer,
  EMULATOR_DEMO_CLIENTS,
  startDevServer,
} from '../../scripts/dev-server.js';
import { baseConfig, buildStack, resourcesOf } from '../infra/synth.js';
import { motoSecretsManager, uniqueName } from '../support/aws.js';
import { httpEvent, lambdaContext } from '../support/events.js';
import { awsJsonError, type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { pkcs8Pem, rsaKeyPair, verifyWithJsonwebtoken } from '../support/keys.js';
import { capturingLogger } from '../support/logs.js';
import { matchesJsonFilterPattern } from '../support/metric-filter.js';
import { startTenantEmulator, type TenantEmulator } from '../support/tenant-emulator/index.js';

const caller = { sub: 'u-1', name: 'Ada', email: 'ada@example.com', email_verified: 'true' };

/** The signing-failure filter pattern exactly as the Monitoring construct deploys it. */
function signingFailurePattern(): string {
  const { template } = buildStack(baseConfig, 'QlikTokenVending-faults');
  const filters = Object.values(resourcesOf(template, 'AWS::Logs::MetricFilter')).filter((f) =>
    JSON.stringify(f.Properties.MetricTransformations).includes('SigningKeyFailures'),
  );
  expect(filters.length).toBeGreaterThan(0);
  return filters[0]?.Properties.FilterPattern as string;
}

describe('Faults: Secrets Manager (behind a fault-injecting proxy in front of moto)', () => {
  let proxy: FaultProxy;
  let pattern: string;
  beforeAll(async () => {
    proxy = await startFaultProxy(inject('motoEndpoint'));
    pattern = signingFailurePattern();
  });
  afterAll(async () => {
    await proxy?.close();
  });

  async function setUp(secretValue: string, clock = new FixedClock(Date.now())) {
    proxy.reset();
    const name = uniqueName('qtv-faults');
    await motoSecretsManager().send(new CreateSecretCommand({ Name: name, SecretString: secretValue }));
    const config = parseConfig({
      qlik: { issuer: 'https://qtv.example', keyId: 'faults-kid' },
      signing: { backend: 'secrets-manager', secretId: name, cacheTtlSeconds: 60 },
    });
    const log = capturingLogger();
    const runtime = createRuntime(config, {
      clock,
      logger: log.logger,
      secretsManager: motoSecretsManager(proxy.endpoint),
    });
    const mint = async () => {
      const result = await createHandler(runtime)(httpEvent({ claims: caller }), lambdaContext());
      return {
        status: result.statusCode,
        headers: result.headers ?? {},
        body: JSON.parse(result.body ?? '{}') as Record<string, unknown>,
      };
    };
    return { mint, log, clock };
  }

  it('serves from the cached key (200) when Secrets Manager answers 503 after warm-up, and says it is serving stale', async () => {
    // Prepare
    const pair = rsaKeyPair(2048);
    const { mint, log, clock } = await setUp(pkcs8Pem(pair.privateKey));
    expect((await mint()).status).toBe(200);
    proxy.inject({ operation: 'GetSecretValue', status: 503, body: awsJsonError('ServiceUnavailable') });
    // Act: past the cache TTL, so the key is refreshed and the refresh fails.
    clock.advance(61_000);
    const during = await mint();
    // Assess
    expect(during.status).toBe(200);
    verifyWithJsonwebtoken(
      during.body.token as string,
      pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      {
        clockTimestamp: clock.nowMs() / 1000,
      },
    );
    expect(proxy.requests.filter((r) => r.operation === 'GetSecretValue' && r.injected).length).toBeGreaterThan(0);
    expect(log.text()).toMatch(/"servingStale":true/);
  });

  it('answers 503 SIGNING_KEY_UNAVAILABLE with Retry-After when Secrets Manager answers 503 on a cold start, counted by the alarm metric, and 200 once it recovers', async () => {
    // Prepare
    const { mint, log } = await setUp(pkcs8Pem(rsaKeyPair(2048).privateKey));
    proxy.inject({ operation: 'GetSecretValue', status: 503, body: awsJsonError('ServiceUnavailable') });
    // Act
    const cold = await mint();
    // Assess: the caller is told to come back; the log line is one the SigningKeyFailures filter counts.
    expect(cold.status).toBe(503);
    expect(cold.headers).toMatchObject({ 'content-type': 'application/problem+json', 'retry-after': '5' });
    expect(cold.body).toMatchObject({ code: 'SIGNING_KEY_UNAVAILABLE', status: 503 });
    expect(log.lines.filter((line) => matchesJsonFilterPattern(pattern, line)).length).toBeGreaterThan(0);
    // Act + Assess: Secrets Manager is back; the next request reads the key.
    proxy.reset();
    expect((await mint()).status).toBe(200);
  });

  it('answers 500 SIGNING_KEY_INVALID for a malformed secret, and logs a line the SigningKeyFailures metric filter counts (so the alarm fires)', async () => {
    // Prepare
    const { mint, log } = await setUp('{"privateKey": "this is not a PEM"}');
    // Act
    const response = await mint();
    // Assess
    expect(response.status).toBe(500);
    expect(response.body).toMatchObject({ code: 'SIGNING_KEY_INVALID', status: 500 });
    expect(JSON.stringify(response.body)).not.toContain('this is not a PEM');
    const counted = log.lines.filter((line) => matchesJsonFilterPattern(pattern, line));
    expect(counted.length).toBeGreaterThan(0);
    expect(counted.join('\n')).not.toContain('this is not a PEM');
  });

  it('matches only the lines the filter names: a served request’s log lines are not counted', async () => {
    const { mint, log } = await setUp(pkcs8Pem(rsaKeyPair(2048).privateKey));
    expect((await mint()).status).toBe(200);
    expect(log.lines.length).toBeGreaterThan(0);
    expect(log.lines.filter((line) => matchesJsonFilterPattern(pattern, line))).toEqual([]);
  });
});

describe('Faults: the Qlik tenant answers garbage (OAuth proxy routes, dev server + tenant emulator)', () => {
  let tenant: TenantEmulator;
  let dev: DevServer;
  beforeAll(async () => {
    tenant = await startTenantEmulator({
      users: [{ subject: 'alice', name: 'Alice', email: 'alice@example.com' }],
      clients: [
        {
          clientId: EMULATOR_DEMO_CLIENTS.impersonation.clientId,
          secrets: [EMULATOR_DEMO_CLIENTS.impersonation.secret],
          impersonation: true,
        },
      ],
    });
    dev = await startDevServer({
      port: 0,
      localDir: mkdtempSync(join(tmpdir(), 'qtv-faults-')),
      tenantUrl: tenant.url,
      logLevel: 'SILENT',
    });
  });
  afterAll(async () => {
    await dev?.close();
    await tenant?.close();
  });

  it.each([
    ['a 200 whose body is not JSON', 200, '{not json', 'application/json'],
    ['a 200 JSON body without access_token', 200, '{"token_type":"Bearer"}', 'application/json'],
    ['an HTML error page with status 500', 500, '<html>upstream exploded</html>', 'text/html'],
  ])('answers %s from /oauth/token with 502 problem+json, without Qlik’s body', async (_case, status, body, type) => {
    // Prepare
    const callerToken = await devCallerToken(dev, 'alice');
    tenant.injectFault({ path: '/oauth/token', status, body, contentType: type });
    try {
      // Act
      const response = await fetch(`${dev.url}/qlik/access-token`, {
        method: 'POST',
        headers: { authorization: `Bearer ${callerToken}` },
      });
      // Assess
      expect(response.status).toBe(502);
      expect(response.headers.get('content-type')).toBe('application/problem+json');
      const text = await response.text();
      expect(JSON.parse(text)).toMatchObject({ status: 502, code: expect.stringMatching(/^UPSTREAM_/) });
      expect(text).not.toContain('exploded');
      expect(text).not.toContain('not json');
    } finally {
      tenant.clearFaults();
    }
  });
});

async function devCallerToken(dev: DevServer, sub: string): Promise<string> {
  const response = await fetch(`${dev.url}/dev/identity/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub, name: sub, email: `${sub}@example.com` }),
  });
  return ((await response.json()) as { id_token: string }).id_token;
}

describe('Faults: the caller’s identity provider clock is 2 minutes off (local API Gateway JWT authorizer)', () => {
  const issuer = 'https://idp.skew.test';
  const audience = 'qtv-skew-app';
  const idp = generateKeyPairSync('rsa', { modulusLength: 2048 });
  let server: Server;
  let url: string;
  beforeAll(async () => {
    const jwk = { ...(await exportJWK(idp.publicKey)), kid: 'skew-1', alg: 'RS256' };
    const route = { id: 'Echo', method: 'GET', path: '/echo', auth: 'caller' } as unknown as RouteDefinition;
    server = createServer(
      createLocalApiGateway({
        routes: [{ route, handler: async () => json(200, { ok: true }) }],
        authorizer: { issuer, audience: [audience], keys: createLocalJWKSet({ keys: [jwk] }) },
        allowedOrigins: [],
      }),
    );
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/echo`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((done) => server?.close(() => done()));
  });

  const now = () => Math.floor(Date.now() / 1000);
  const token = (key: KeyObject, times: { iat: number; exp: number; nbf?: number }) =>
    new SignJWT({ sub: 'skewed', ...times })
      .setProtectedHeader({ alg: 'RS256', kid: 'skew-1', typ: 'JWT' })
      .setIssuer(issuer)
      .setAudience(audience)
      .sign(key);
  const call = async (bearer: string) => (await fetch(url, { headers: { authorization: `Bearer ${bearer}` } })).status;

  it.each([
    ['iat 2 minutes in the future (IdP clock fast)', () => ({ iat: now() + 120, exp: now() + 3720 })],
    ['nbf 2 minutes in the future (IdP clock fast)', () => ({ iat: now(), nbf: now() + 120, exp: now() + 3600 })],
    ['exp 2 minutes ago (IdP clock slow, or a token kept too long)', () => ({ iat: now() - 3720, exp: now() - 120 })],
  ])('refuses a caller token with %s with 401, as API Gateway documents (no skew allowance)', async (_case, times) => {
    expect(await call(await token(idp.privateKey, times()))).toBe(401);
  });

  it('accepts the same token shape with correct times (the baseline the refusals are measured against)', async () => {
    expect(await call(await token(idp.privateKey, { iat: now() - 5, nbf: now() - 5, exp: now() + 3600 }))).toBe(200);
  });
});

describe('Faults: the server clock is 2 minutes off from Qlik’s (vended JWT at /login/jwt-session)', () => {
  let tenant: TenantEmulator;
  let dev: DevServer;
  let certificate: string;
  beforeAll(async () => {
    tenant = await startTenantEmulator({
      webIntegrations: [{ id: 'skew-wi', validOrigins: ['https://app.example.com'] }],
    });
    const localDir = mkdtempSync(join(tmpdir(), 'qtv-skew-'));
    certificate = readFileSync((await ensureDevSigningKey(localDir)).certificatePath, 'utf8');
    dev = await startDevServer({ port: 0, localDir, tenantUrl: tenant.url, logLevel: 'SILENT' });
  });
  afterAll(async () => {
    await dev?.close();
    await tenant?.close();
  });

  /** Vends a Qlik JWT through the dev server and posts it to the emulator, as the browser would. */
  async function loginWithVendedToken(): Promise<{ status: number; detail: string }> {
    const callerToken = await devCallerToken(dev, `skew-${Math.random().toString(36).slice(2)}`);
    const vended = await fetch(`${dev.url}/qlik/jwt`, {
      method: 'POST',
      headers: { authorization: `Bearer ${callerToken}` },
    });
    expect(vended.status).toBe(200);
    const { token } = (await vended.json()) as { token: string };
    // Independent check: the token is ours and well signed; its times are the server's.
    verifyWithJsonwebtoken(token, certificate, { issuer: DEV_QLIK_ISSUER, audience: 'qlik.api/login/jwt-session' });
    const login = await fetch(`${tenant.url}/login/jwt-session`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'qlik-web-integration-id': 'skew-wi' },
    });
    const body = (await login.json()) as { errors?: { detail?: string }[] };
    return { status: login.status, detail: body.errors?.[0]?.detail ?? '' };
  }

  it.each([
    // Server 2 min fast = Qlik 2 min behind: nbf (now - 30 s on the server) is 90 s in Qlik's future.
    ['2 minutes fast, IdP clockToleranceSec 0: refused 401 (token not yet valid)', -120_000, 0, 401, /not yet valid/i],
    [
      '2 minutes fast, IdP clockToleranceSec 60 (less than the 90 s gap): refused 401',
      -120_000,
      60,
      401,
      /not yet valid/i,
    ],
    ['2 minutes fast, IdP clockToleranceSec 120: accepted 200', -120_000, 120, 200, /^$/],
    // Server 2 min slow: nbf is 150 s in Qlik's past and exp (300 s life) still 180 s ahead.
    ['2 minutes slow, IdP clockToleranceSec 0: accepted 200', 120_000, 0, 200, /^$/],
  ])('server clock %s', async (_case, qlikOffsetMs, toleranceSec, status, detail) => {
    // Prepare: a fresh IdP for the dev key with the tolerance under test; Qlik's clock shifted.
    for (const existing of tenant.identityProviders.list()) tenant.identityProviders.delete(existing.id);
    tenant.addJwtIdentityProvider({
      issuer: DEV_QLIK_ISSUER,
      kid: DEV_KEY_ID,
      pem: certificate,
      clockToleranceSec: toleranceSec,
    });
    tenant.setClockOffset(qlikOffsetMs);
    // Act
    const result = await loginWithVendedToken();
    // Assess
    expect(result.status).toBe(status);
    expect(result.detail).toMatch(detail);
  });
});
