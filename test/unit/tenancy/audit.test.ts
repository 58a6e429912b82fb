import { describe, expect, it } from 'vitest';
import { METRIC_NAMESPACE, recordIssuance, WHO_GOT_TOKENS_QUERY } from '../../../functions/tenancy/audit.js';
import { capturingLogger } from '../../support/logs.js';

const audit = {
  kind: 'qlik-jwt',
  tenant: 'acme',
  subject: 'grace',
  jti: 'jti-123',
  callerIssuer: 'https://idp.example',
  callerSubject: 'auth0|42',
  expiresAt: '2026-11-26T10:05:00.000Z',
  keyId: 'acme-kid',
} as const;

describe('Function: recordIssuance', () => {
  it('writes one JSON line with the audit fields: tenant, Qlik subject, jti, caller iss/sub, expiry', () => {
    // Prepare
    const { logger, lines } = capturingLogger();
    // Act
    recordIssuance(logger, audit, 1);
    // Assess
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({
      message: 'token issued',
      audit: {
        kind: 'qlik-jwt',
        tenant: 'acme',
        subject: 'grace',
        jti: 'jti-123',
        callerIss: 'https://idp.example',
        callerSub: 'auth0|42',
        expiresAt: '2026-11-26T10:05:00.000Z',
      },
    });
  });

  it('is also an EMF metric whose dimensions never include the tenant (a fixed number of custom metrics)', () => {
    const { logger, lines } = capturingLogger();
    recordIssuance(logger, audit, 1_700_000_000_000);
    const line = JSON.parse(lines[0]!);
    const directive = line._aws.CloudWatchMetrics[0];
    expect(directive.Namespace).toBe(METRIC_NAMESPACE);
    expect(directive.Dimensions).toEqual([['service', 'kind']]);
    expect(JSON.stringify(directive)).not.toContain('tenant');
    // EMF: every dimension and metric named in the directive is a root member of the line.
    for (const name of [...directive.Dimensions.flat(), ...directive.Metrics.map((m: { Name: string }) => m.Name)])
      expect(line).toHaveProperty([name]);
    expect(line._aws.Timestamp).toBe(1_700_000_000_000);
  });

  it('caps caller-supplied values so one caller cannot write an unbounded line', () => {
    const { logger, lines } = capturingLogger();
    recordIssuance(logger, { ...audit, callerSubject: 'x'.repeat(10_000), subject: 'y'.repeat(5_000) }, 1);
    expect(lines[0]!.length).toBeLessThan(2_000);
  });

  it('documents a Logs Insights query that filters on the audit line’s own fields', () => {
    expect(WHO_GOT_TOKENS_QUERY).toContain('filter message = "token issued" and audit.tenant = ');
  });
});
