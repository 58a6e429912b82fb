/**
 * TokenFunction: one Lambda function of the token API, bundled locally with esbuild (never Docker).
 */
import { fileURLToPath } from 'node:url';
import { Duration, Validations } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Code, Function as LambdaFunction, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { type BundleFlags, bundleDefines } from '../../functions/runtime/bundle-flags.js';
import { CONFIG_ENV_VAR } from '../../functions/runtime/config.js';
import { prebuiltBundleDir } from './prebuilt.js';

/** The repository root: route entries and the lock file are relative to it. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The newest Node.js runtime aws-cdk-lib 2.276 offers (checked in aws-lambda/lib/runtime.d.ts);
 * cdk-nag's AwsSolutions-L1 flags anything older.
 */
export const TOKEN_FUNCTION_RUNTIME = Runtime.NODEJS_24_X;

/** Properties of {@link TokenFunction}. */
export interface TokenFunctionProps {
  /** Lambda entry file, relative to the repository root (a route's `entry`). */
  readonly entry: string;
  /**
   * The function's configuration, JSON. It becomes `QTV_CONFIG`, the only variable the config loader
   * reads in a Lambda; it may contain CDK tokens (ARNs), resolved at deploy time.
   */
  readonly configJson: string;
  /**
   * Memory in MB.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Timeout.
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
  /**
   * Reserved concurrency.
   * @default - none (the account's unreserved pool)
   */
  readonly reservedConcurrentExecutions?: number;
  /** Retention of the function's log group. */
  readonly logRetention: RetentionDays;
  /**
   * Description shown in the console.
   * @default - the entry path
   */
  readonly description?: string;
  /**
   * What the bundle carries (esbuild `define`s; see functions/runtime/bundle-flags.ts, usually
   * `bundleFlagsFor(route, config)`). `QTV_BUNDLE_TRACING` also sets X-Ray active tracing on or off.
   * @default - everything: both signing backends, certificates, the OAuth wiring, multi-tenant mode and tracing
   */
  readonly bundleFlags?: BundleFlags;
}

/** Every flag on: a bundle that can serve any configuration (what a function gets without flags). */
const ALL_FLAGS: BundleFlags = {
  QTV_BUNDLE_SECRETS_MANAGER: true,
  QTV_BUNDLE_KMS: true,
  QTV_BUNDLE_CERTIFICATES: true,
  QTV_BUNDLE_OAUTH: true,
  QTV_BUNDLE_TRACING: true,
  QTV_BUNDLE_PUBLIC_MATERIAL: true,
  QTV_BUNDLE_TENANCY: true,
};

/**
 * A Node.js 24 arm64 function: minified ESM with source maps, its own log group with retention, its own
 * role allowed to write only to that log group, X-Ray active tracing, and one environment variable
 * carrying the validated configuration. Grants beyond logging come from the resources it uses
 * (e.g. {@link SigningKey.bind}).
 *
 * @example
 * const fn = new TokenFunction(this, 'QlikJwt', {
 *   entry: 'functions/qlik-jwt/index.ts',
 *   configJson: Stack.of(this).toJsonString(config),
 *   logRetention: RetentionDays.ONE_MONTH,
 * });
 */
export class TokenFunction extends Construct {
  /** The Lambda function (bundled at synth from the sources, or from the package's prebuilt bundle). */
  public readonly function: LambdaFunction;
  /** Its log group (explicit, so retention is set and the group is deleted with the stack). */
  public readonly logGroup: LogGroup;
  /** Its execution role. */
  public readonly role: Role;

  constructor(scope: Construct, id: string, props: TokenFunctionProps) {
    super(scope, id);
    const flags = props.bundleFlags ?? ALL_FLAGS;
    const tracing = flags.QTV_BUNDLE_TRACING;
    this.logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention });
    // An own role instead of AWSLambdaBasicExecutionRole: logging rights on this function's group only.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.entry}`,
    });
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        // logGroupArn ends in ":*", which covers this group's log streams only.
        resources: [this.logGroup.logGroupArn],
      }),
    );
    const prebuilt = prebuiltBundleDir(props.entry);
    const functionProps = {
      runtime: TOKEN_FUNCTION_RUNTIME,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      ...(props.reservedConcurrentExecutions !== undefined
        ? { reservedConcurrentExecutions: props.reservedConcurrentExecutions }
        : {}),
      description: props.description ?? props.entry,
      role: this.role,
      logGroup: this.logGroup,
      tracing: tracing ? Tracing.ACTIVE : Tracing.DISABLED,
      environment: {
        [CONFIG_ENV_VAR]: props.configJson,
        // Read by Node itself, not by our code: stack traces point at the TypeScript sources.
        NODE_OPTIONS: '--enable-source-maps',
      },
    };
    // From the installed package: the bundle `npm run build:construct` made with the options below and no
    // bundle flags (every QTV_BUNDLE_* on), so it serves any configuration; `bundleFlags` then only switch tracing.
    if (prebuilt !== undefined)
      this.function = new LambdaFunction(this, 'Function', {
        ...functionProps,
        code: Code.fromAsset(prebuilt),
        handler: 'index.handler',
      });
    else
      this.function = new NodejsFunction(this, 'Function', {
        ...functionProps,
        entry: `${PROJECT_ROOT}${props.entry}`,
        projectRoot: PROJECT_ROOT,
        depsLockFilePath: `${PROJECT_ROOT}package-lock.json`,
        handler: 'handler',
        bundling: {
          format: OutputFormat.ESM,
          platform: 'node',
          target: 'node24',
          minify: true,
          sourceMap: true,
          sourcesContent: false,
          mainFields: ['module', 'main'],
          // Some dependencies still call require(); ESM output needs it defined.
          banner:
            "import { createRequire as __qtvCreateRequire } from 'node:module'; const require = __qtvCreateRequire(import.meta.url);",
          // Bundle everything (the runtime's SDK version is not pinned; ours is).
          externalModules: [],
          // Branches this route and configuration never take are dropped with what they import.
          define: bundleDefines(flags),
          forceDockerBundling: false,
        },
      });
    // Tracing.ACTIVE adds xray:PutTraceSegments and xray:PutTelemetryRecords on "*": X-Ray defines no
    // resource types for them, so no narrower resource exists.
    // https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html
    if (!tracing) return;
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only xray:PutTraceSegments and xray:PutTelemetryRecords use Resource "*": X-Ray supports no resource-level permissions for them',
    });
  }
}
