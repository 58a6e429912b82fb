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
import { createHandler } from '../../functions/qlik-jwt/handler.js';
import type { RouteDefinition } from '../../functions/routes.js';
import { FixedClock } from '../../functions/shared/clock.js';
import { parseConfig } from '../../functions/shared/config.js';
import { json } from '../../functions/shared/http.js';
import { createRuntime } from '../../functions/shared/runtime.js';
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
