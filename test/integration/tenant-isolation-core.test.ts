/**
 * Isolation property at the core: ≥ 10,000 generated requests across 7 registered tenants (5 with their own
 * keys, 2 on the shared key) plus a suspended and unknown ones: caller → tenant binding → tenant signer →
 * vendQlikJwt, every token checked against the oracle (test/support/tenant-isolation.ts). The HTTP-level
 * run through the real handlers adds tenant names in query and headers.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenVendingError } from '../../functions/errors.js';
import { vendQlikJwt } from '../../functions/qlik-jwt/core.js';
import { FixedClock } from '../../functions/runtime/clock.js';
import { signingKeyFromSecret } from '../../functions/signing/signing-key.js';
import { createTenancyRuntime, tenantRequestContext } from '../../functions/tenancy/runtime.js';
import { capturingLogger } from '../support/logs.js';
import {
  checkToken,
  isolationFixture,
  isolationRequests,
  newTally,
  TENANT_CLAIM,
} from '../support/tenant-isolation.js';
import { tenancyConfig } from '../support/tenants.js';

const RUNS = 10_000;

describe('Property: tenant isolation (core)', () => {
  it(`issues 0 tokens for another tenant over ${RUNS} generated requests`, async () => {
    // Prepare
    const fixture = isolationFixture();
    const clock = new FixedClock(Date.now());
    const logger = capturingLogger('ERROR').logger;
    const shared = signingKeyFromSecret(fixture.sharedPrivateKeyPem, { fallbackKid: 'shared' });
    const runtime = createTenancyRuntime(tenancyConfig({ tenantClaim: TENANT_CLAIM }), {
      clock,
      logger,
      store: fixture.store,
      secretStore: () => fixture.secrets,
      kms: () => {
        throw new Error('no KMS tenants in this fixture');
      },
      sharedSigners: { current: () => shared },
    });
    const tally = newTally();
    // Act
    await fc.assert(
      fc.asyncProperty(isolationRequests(fixture.registered), async (request) => {
        tally.requests++;
        const claims = {
          sub: request.sub,
          email: `${request.sub}@example.com`,
          email_verified: true,
          [TENANT_CLAIM]: request.claim,
        };
        if (request.claim === undefined) delete claims[TENANT_CLAIM];
        try {
          const context = await tenantRequestContext(claims, request.bodyTenant, runtime);
          const result = await vendQlikJwt(claims, {}, { ...context, clock });
          checkToken(result.token, request, fixture.tenants, tally);
        } catch (error) {
          if (!(error instanceof TokenVendingError)) throw error;
          tally.refused[error.code] = (tally.refused[error.code] ?? 0) + 1;
        }
      }),
      { numRuns: RUNS, seed: 17 },
    );
    // Assess
    console.info(`tenant isolation (core): ${JSON.stringify({ ...tally, violations: tally.violations.length })}`);
    expect(tally.violations.slice(0, 5)).toEqual([]);
    expect(tally.requests).toBe(RUNS);
    // The run must exercise both sides: many tokens, and every kind of refusal.
    expect(tally.tokens).toBeGreaterThan(RUNS / 4);
    for (const code of [
      'TENANT_CLAIM_MISSING',
      'TENANT_AMBIGUOUS',
      'TENANT_NOT_ALLOWED',
      'TENANT_UNKNOWN',
      'TENANT_SUSPENDED',
    ])
      expect(tally.refused[code], code).toBeGreaterThan(0);
  });
});
