/**
 * Monitoring: alarms, an SNS topic for them and a dashboard for the token API.
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { HttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { FilterPattern, type ILogGroup, MetricFilter } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

/** Namespace of the metrics the construct derives from the functions' logs. */
export const METRIC_NAMESPACE = 'QlikTokenVending';
/** Metric counting failed reads of the signing key and failed signatures (Secrets Manager or KMS). */
export const SIGNING_FAILURE_METRIC = 'SigningKeyFailures';
/** Metric counting rotations the rotation function stopped before promoting a new key. */
export const ROTATION_BLOCKED_METRIC = 'KeyRotationBlocked';

/** A function to watch, with the log group its Powertools logger writes to. */
export interface MonitoredFunction {
  readonly id: string;
  readonly function: IFunction;
  readonly logGroup: ILogGroup;
}

/** Properties of {@link Monitoring}. */
export interface MonitoringProps {
  /** The API stage whose requests are measured. */
  readonly stage: HttpStage;
  /** Functions whose errors, throttles and signing failures are measured. */
  readonly functions: readonly MonitoredFunction[];
  /**
   * Share of requests answered with 5xx (percent, over 5 minutes) that raises an alarm.
   * @default 1
   */
  readonly fiveXxRatePercent?: number;
  /**
   * p99 latency (ms, over 5 minutes) that raises an alarm.
   * @default 2000
   */
  readonly p99LatencyMs?: number;
  /**
   * E-mail address subscribed to the alarm topic.
   * @default - no subscription
   */
  readonly alarmEmail?: string;
  /**
   * The signing key rotation function and its log group, when rotation is on: alarms on failed steps
   * and on rotations blocked before promotion.
   * @default - no rotation alarms
   */
  readonly rotation?: { readonly function: IFunction; readonly logGroup: ILogGroup };
  /**
   * Dashboard name.
   * @default - generated
   */
  readonly dashboardName?: string;
}

/**
 * Alarms on the 5xx rate, p99 latency, function errors and throttles, and signing-key failures (a metric
 * filter on the Powertools JSON logs: `signing key refresh failed`, the KMS signer's failure lines, or a request failing with a
 * `SIGNING_*` code), all sent to one encrypted SNS topic; and a dashboard with the same metrics.
 *
 * @example
 * new Monitoring(this, 'Monitoring', { stage: api.stage, functions: [{ id: 'QlikJwt', function: fn.function, logGroup: fn.logGroup }] });
 */
export class Monitoring extends Construct {
  /** Topic every alarm notifies. */
  public readonly topic: Topic;
  /** The topic's encryption key. */
  public readonly topicKey: Key;
  /** Every alarm, by id. */
  public readonly alarms: Readonly<Record<string, Alarm>>;
  /** The dashboard. */
  public readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.topicKey = new Key(this, 'TopicKey', {
      description: 'Encrypts the qlik-token-vending alarm topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // CloudWatch publishes alarms to an encrypted topic only if the key lets it (key policy; "*" there means this key).
    // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
    this.topicKey.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new Topic(this, 'AlarmTopic', {
      displayName: 'qlik-token-vending alarms',
      masterKey: this.topicKey,
      enforceSSL: true,
    });
    if (props.alarmEmail !== undefined) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));

    const period = Duration.minutes(5);
    const stage = props.stage;
    const requests = stage.metricCount({ period, statistic: 'Sum' });
    const serverErrors = stage.metricServerError({ period, statistic: 'Sum' });
    const fiveXxRate = new MathExpression({
      expression: '100 * FILL(errors, 0) / MAX([requests, 1])',
      usingMetrics: { errors: serverErrors, requests },
      period,
      label: '5xx rate (%)',
    });
    const p99 = stage.metricLatency({ period, statistic: 'p99' });

    const alarms: Record<string, Alarm> = {};
    const action = new SnsAction(this.topic);
    const alarm = (alarmId: string, metric: IMetric, threshold: number, description: string) => {
      const created = new Alarm(this, alarmId, {
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      });
      created.addAlarmAction(action);
      created.addOkAction(action);
      alarms[alarmId] = created;
    };

    alarm('FiveXxRate', fiveXxRate, props.fiveXxRatePercent ?? 1, 'Share of token API requests answered with 5xx');
    alarm('P99Latency', p99, props.p99LatencyMs ?? 2000, 'p99 latency of the token API (ms)');

    const invocations: IMetric[] = [];
    for (const watched of props.functions) {
      alarm(
        `${watched.id}Errors`,
        watched.function.metricErrors({ period, statistic: 'Sum' }),
        1,
        `${watched.id}: invocations that failed (unhandled errors, timeouts)`,
      );
      alarm(
        `${watched.id}Throttles`,
        watched.function.metricThrottles({ period, statistic: 'Sum' }),
        1,
        `${watched.id}: invocations throttled by Lambda concurrency`,
      );
      // runtime.ts logs 'signing key refresh failed' when the key secret cannot be read, kms-signer.ts logs
      // 'KMS signing key not reachable' / 'KMS signing key refused'; http.ts logs
      // 'request failed' with errorCode SIGNING_* when a request could not be signed.
      new MetricFilter(this, `${watched.id}SigningFailures`, {
        logGroup: watched.logGroup,
        metricNamespace: METRIC_NAMESPACE,
        metricName: SIGNING_FAILURE_METRIC,
        metricValue: '1',
        defaultValue: 0,
        filterPattern: FilterPattern.any(
          FilterPattern.stringValue('$.message', '=', 'signing key refresh failed'),
          // kms-signer.ts: a KMS call that failed after its retries (throttled, unreachable, denied, disabled).
          FilterPattern.stringValue('$.message', '=', 'KMS signing key not reachable'),
          FilterPattern.stringValue('$.message', '=', 'KMS signing key refused'),
          FilterPattern.all(
            FilterPattern.stringValue('$.message', '=', 'request failed'),
            FilterPattern.stringValue('$.errorCode', '=', 'SIGNING_*'),
          ),
        ),
      });
      invocations.push(watched.function.metricInvocations({ period }));
    }
    const signingFailureMetric = new Metric({
      namespace: METRIC_NAMESPACE,
      metricName: SIGNING_FAILURE_METRIC,
      statistic: 'Sum',
      period,
    });
    alarm(
      'SigningKeyFailures',
      signingFailureMetric,
      1,
      'The signing key could not be read or used (Secrets Manager or KMS); see the functions logs for errorCode',
    );
    const rotationMetrics: IMetric[] = [];
    if (props.rotation !== undefined) {
      // A thrown step (handler.ts logs 'rotation step failed' and rethrows): Secrets Manager retries it, and
      // the key stays as it was; nobody learns of it unless this alarm fires.
      const failedSteps = props.rotation.function.metricErrors({ period, statistic: 'Sum' });
      alarm('KeyRotationFailedSteps', failedSteps, 1, 'Key rotation: a rotation step failed (see the rotation logs)');
      // core.ts logs 'rotation blocked before promotion: <reason>' when it refuses to promote (e.g. manual
      // mode waiting for the identity provider to be pasted, or Qlik refusing the new key).
      new MetricFilter(this, 'KeyRotationBlockedFilter', {
        logGroup: props.rotation.logGroup,
        metricNamespace: METRIC_NAMESPACE,
        metricName: ROTATION_BLOCKED_METRIC,
        metricValue: '1',
        defaultValue: 0,
        filterPattern: FilterPattern.stringValue('$.message', '=', 'rotation blocked before promotion*'),
      });
      const blocked = new Metric({
        namespace: METRIC_NAMESPACE,
        metricName: ROTATION_BLOCKED_METRIC,
        statistic: 'Sum',
        period,
      });
      alarm(
        'KeyRotationBlocked',
        blocked,
        1,
        'Key rotation stopped before promoting the new key; the old key stays in use',
      );
      rotationMetrics.push(failedSteps, blocked);
    }
    this.alarms = alarms;

    this.dashboard = new Dashboard(this, 'Dashboard', {
      ...(props.dashboardName !== undefined ? { dashboardName: props.dashboardName } : {}),
      widgets: [
        [
          new GraphWidget({ title: 'Requests and 5xx', left: [requests, serverErrors], right: [fiveXxRate] }),
          new GraphWidget({
            title: 'Latency p50 / p99 (ms)',
            left: [stage.metricLatency({ period, statistic: 'p50' }), p99],
          }),
        ],
        [
          new GraphWidget({
            title: 'Function errors and throttles',
            left: props.functions.map((f) => f.function.metricErrors({ period, label: `${f.id} errors` })),
            right: props.functions.map((f) => f.function.metricThrottles({ period, label: `${f.id} throttles` })),
          }),
          new GraphWidget({ title: 'Signing key failures', left: [signingFailureMetric], right: invocations }),
        ],
        ...(rotationMetrics.length > 0 ? [[new GraphWidget({ title: 'Key rotation', left: rotationMetrics })]] : []),
      ],
    });
  }
}
