/**
 * One audit line per issued token (Qlik JWT or impersonation access token), which is also the metric.
 *
 * The line is a Powertools log entry carrying an `audit` object (tenant, Qlik subject, jti, caller issuer and
 * subject, expiry; never a token, never a claim value beyond those) and, in the same JSON line, a CloudWatch
 * embedded-metric-format (EMF) directive that turns it into the `TokensIssued` metric.
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 *
 * Cost stays bounded with thousands of tenants because the tenant is *not* a dimension: the metric's only
 * dimensions are `service` and `kind` (2 values), so CloudWatch holds a fixed 2 custom metrics whatever the
 * tenant count (each distinct dimension combination is one billed custom metric). The tenant is a plain
 * member of the line, so Logs Insights (and, if wanted, one Contributor Insights rule for "top tenants")
 * count per tenant from the log that is written anyway: one line per token, no extra PutMetricData call.
 */

/** What was issued. */
export type IssuanceKind = 'qlik-jwt' | 'impersonation';

/** The fields of one audit line. */
export interface IssuanceAudit {
  readonly kind: IssuanceKind;
  /** Registry tenant ID; `default` in single-tenant mode. */
  readonly tenant: string;
  /** The Qlik subject the token is for. */
  readonly subject: string;
  /** The Qlik JWT's `jti` (absent for impersonation tokens, whose ID Qlik does not expose). */
  readonly jti?: string;
  /** The verified caller token's `iss` and `sub`. */
  readonly callerIssuer: string | undefined;
  readonly callerSubject: string | undefined;
  /** ISO 8601. */
  readonly expiresAt: string;
  readonly keyId?: string;
}

/** The tenant named in audit lines of the single-tenant mode. */
export const SINGLE_TENANT_ID = 'default';

/** The metric namespace of the service's own metrics. */
export const METRIC_NAMESPACE = 'QlikTokenVending';
/** The per-token metric. */
export const TOKENS_ISSUED_METRIC = 'TokensIssued';

/** Longest text copied from a caller's claim into an audit line (claims are bounded, log lines must be too). */
const MAX_AUDIT_VALUE = 256;

function bounded(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  return value.length > MAX_AUDIT_VALUE ? `${value.slice(0, MAX_AUDIT_VALUE)}…` : value;
}

/** The attributes of an audit line (message `token issued`), with its EMF directive. */
export function auditAttributes(audit: IssuanceAudit, nowMs: number): Record<string, unknown> {
  return {
    audit: {
      kind: audit.kind,
      tenant: audit.tenant,
      subject: bounded(audit.subject),
      ...(audit.jti !== undefined ? { jti: audit.jti } : {}),
      callerIss: bounded(audit.callerIssuer),
      callerSub: bounded(audit.callerSubject),
      expiresAt: audit.expiresAt,
      ...(audit.keyId !== undefined ? { keyId: audit.keyId } : {}),
    },
    // EMF: dimension members and the metric value sit at the root of the line. `service` is there already:
    // the Powertools logger writes its service name into every line (and refuses it as an extra key).
    kind: audit.kind,
    [TOKENS_ISSUED_METRIC]: 1,
    _aws: { Timestamp: nowMs, CloudWatchMetrics: CLOUDWATCH_METRICS },
  };
}

/** The EMF metric directive: the same for every line, so built once (the per-token path). Never mutated. */
const CLOUDWATCH_METRICS = [
  {
    Namespace: METRIC_NAMESPACE,
    Dimensions: [['service', 'kind']],
    Metrics: [{ Name: TOKENS_ISSUED_METRIC, Unit: 'Count' }],
  },
];

/** Writes the audit line of one issued token (the logger must be the service's Powertools logger: it adds `service`). */
export function recordIssuance(
  logger: { info(message: string, attributes: Record<string, unknown>): void },
  audit: IssuanceAudit,
  nowMs: number,
): void {
  logger.info('token issued', auditAttributes(audit, nowMs));
}

/**
 * Logs Insights query answering "who got tokens for tenant X yesterday" (docs/multi-tenant.md).
 * Run it over the token functions' log groups with yesterday's time range.
 */
export const WHO_GOT_TOKENS_QUERY = `fields @timestamp, audit.kind, audit.subject, audit.callerIss, audit.callerSub, audit.jti, audit.expiresAt
| filter message = "token issued" and audit.tenant = "TENANT_ID"
| sort @timestamp asc`;
