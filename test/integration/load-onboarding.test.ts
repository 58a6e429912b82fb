/**
 * Issue #17's "Done when", at small scale, through the load tool's own mode (scripts/load/onboarding.ts, what
 * `npm run load -- --tenants 1 --onboard 2` runs): two tenants onboarded with the real `qtv tenant add` (child
 * processes) against moto and the multi-tenant emulator while the load runs on the first; 0 failed requests;
 * every tenant's users get tokens their own emulated Qlik accepts and every other one refuses, and impersonation
 * access tokens (through the OAuth client and secret `add` created) that work at their own tenant only.
 */
import { describe, expect, inject, it } from 'vitest';
import { runOnboardingLoad } from '../../scripts/load/onboarding.js';

describe('Load mode: onboarding under load', () => {
  it('onboards two tenants with qtv tenant add during a load on the first, with 0 failed requests and tokens each tenant’s own Qlik only accepts', async () => {
    // Act
    const report = await runOnboardingLoad({
      tenants: 1,
      onboard: 2,
      requests: 600,
      connections: 8,
      usersPerTenant: 2,
      awsEndpoint: inject('motoEndpoint'),
    });
    // Assess
    expect(report.problems).toEqual([]);
    expect(report.onboarded.map((o) => [o.tenant, o.exitCode, o.duringLoad])).toEqual([
      ['onboarded-000', 0, true],
      ['onboarded-001', 0, true],
    ]);
    // The full Qlik set-up ran for each new tenant.
    for (const o of report.onboarded)
      expect(o.steps).toEqual(
        expect.arrayContaining([
          'key create',
          'qlik-idp create',
          'web-integration create',
          'csp-origin create',
          'oauth-client create',
          'impersonation-client create',
          'registry create',
        ]),
      );
    expect(report.requests).toBeGreaterThanOrEqual(600);
    expect([report.ok, report.non2xx, report.errors, report.timeouts]).toEqual([report.requests, 0, 0, 0]);
    expect([report.invalid, report.duplicateJti]).toEqual([0, 0]);
    // 3 tenants x 2 users: 6 own logins accepted, 12 at the other tenants refused.
    expect(report.logins).toEqual({ ownAccepted: 6, ownRefused: 0, otherAccepted: 0, otherRefused: 12, vendFailed: 0 });
    // Impersonation through the clients and secrets tenant add made: each token works at its own tenant only.
    expect(report.impersonation).toEqual({
      ownAccepted: 6,
      ownRefused: 0,
      otherAccepted: 0,
      otherRefused: 12,
      issueFailed: 0,
    });
    expect(report.passed).toBe(true);
  });
});
