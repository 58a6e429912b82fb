/**
 * Isolation property through the real `POST /qlik/jwt` middy handler, with API Gateway-shaped events:
 * ≥ 10,000 generated requests across 7 registered tenants (5 own keys, 2 on the shared key), a suspended one
 * and unknown ones, each request also smuggling tenant names in the query string and in headers. Every 200
 * is checked against the oracle (test/support/tenant-isolation.ts); every refusal must be a 4xx/503
 * problem+json with a tenant code.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/qlik-jwt/handler.js';
import { FixedClock } from '../../functions/runtime/clock.js';
import { parseConfig } from '../../functions/runtime/config.js';
import { createRuntime } from '../../functions/runtime/wiring.js';
import { signingKeyFromSecret } from '../../functions/signing/signing-key.js';
import { lambdaContext } from '../support/events.js';
import { capturingLogger } from '../support/logs.js';
import {
  apiGatewayEvent,
  checkToken,
  isolationFixture,
  isolationRequests,
  newTally,
  TENANT_CLAIM,
} from '../support/tenant-isolation.js';

const RUNS = 10_000;
const TENANT_CODES = new Set([
  'TENANT_CLAIM_MISSING',
  'TENANT_AMBIGUOUS',
  'TENANT_NOT_ALLOWED',
  'TENANT_UNKNOWN',
  'TENANT_SUSPENDED',
]);

describe('Property: tenant isolation through POST /qlik/jwt', () => {
  it(`issues 0 tokens for another tenant over ${RUNS} generated requests with tenant names in body, query and headers`, async () => {
    // Prepare
    const fixture = isolationFixture();
    const nowMs = Math.floor(Date.now() / 1000) * 1000;
    const config = parseConfig({
      qlik: { issuer: 'https://qtv.example/shared', keyId: 'shared' },
      signing: { backend: 'file', privateKeyPath: 'unused' },
      tenancy: { tenantClaim: TENANT_CLAIM, registry: { backend: 'dynamodb', tableName: 'unused' } },
    });
    const shared = await signingKeyFromSecret(fixture.sharedPrivateKeyPem, { fallbackKid: 'shared' });
    const handler = createHandler(
      createRuntime(config, {
        clock: new FixedClock(nowMs),
        logger: capturingLogger('ERROR').logger,
        signers: { current: async () => shared },
        tenancy: { store: fixture.store, secretStore: fixture.secrets },
      }),
    );
    const tally = newTally();
    const unexpected: string[] = [];
    // Act
    await fc.assert(
      fc.asyncProperty(isolationRequests(fixture.registered), async (request) => {
        tally.requests++;
        const payload = {
          iss: 'https://idp.example',
          sub: request.sub,
          iat: nowMs / 1000 - 10,
          exp: nowMs / 1000 + 600,
          email: `${request.sub}@example.com`,
          email_verified: true,
          [TENANT_CLAIM]: request.claim,
        };
        const event = apiGatewayEvent(payload, {
          ...(request.bodyTenant !== undefined ? { body: { tenant: request.bodyTenant } } : {}),
          query: { tenant: request.queryTenant, [TENANT_CLAIM]: request.queryTenant },
          headers: {
            'x-tenant': request.headerTenant.replace(/[^\x21-\x7e]/g, '_'),
            'x-qtv-tenant': encodeURIComponent(request.headerTenant),
          },
        });
        const result = await handler(event, lambdaContext());
        const body = JSON.parse(result.body ?? '{}') as { token?: string; code?: string };
        if (result.statusCode === 200 && body.token !== undefined)
          return checkToken(body.token, request, fixture.tenants, tally);
        const code = body.code ?? `status ${result.statusCode}`;
        tally.refused[code] = (tally.refused[code] ?? 0) + 1;
        // Any refusal must be a tenant refusal, or 400 for an empty body `tenant` (a malformed request), as problem+json.
        const allowed = TENANT_CODES.has(code) || (code === 'INVALID_REQUEST' && request.bodyTenant === '');
        if (!allowed) unexpected.push(`${code}: ${JSON.stringify(request)}`);
        if (result.headers?.['content-type'] !== 'application/problem+json')
          unexpected.push(`not problem+json: ${JSON.stringify(request)}`);
      }),
      { numRuns: RUNS, seed: 1717 },
    );
    // Assess
    console.info(`tenant isolation (handler): ${JSON.stringify({ ...tally, violations: tally.violations.length })}`);
    expect(tally.violations.slice(0, 5)).toEqual([]);
    expect(unexpected.slice(0, 5)).toEqual([]);
    expect(tally.requests).toBe(RUNS);
    expect(tally.tokens).toBeGreaterThan(RUNS / 4);
    for (const code of TENANT_CODES) expect(tally.refused[code], code).toBeGreaterThan(0);
  });
});
