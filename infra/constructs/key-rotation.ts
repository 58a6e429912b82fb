/**
 * KeyRotation: the rotation function for the Qlik signing key secret and its Secrets Manager schedule.
 * Self-contained (props: the secret, the validated config, an optional topic) so it composes with the
 * TokenApi / SigningKey constructs without depending on them.
 */
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  Architecture,
  type CfnPermission,
  Code,
  Function as LambdaFunction,
  Runtime,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnRotationSchedule, type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { bundleDefines, rotationBundleFlags } from '../../functions/runtime/bundle-flags.js';
import { CONFIG_ENV_VAR, type Config } from '../../functions/runtime/config.js';
import { PACKAGE_ROOT, prebuiltBundleDir } from './prebuilt.js';

/** Props of {@link KeyRotation}. */
export interface KeyRotationProps {
  /**
   * The deployment's signing key secret (the one `signing.secretId` names), rotated on `rotation.scheduleDays`.
   * @default - none: the function rotates tenant key secrets only (`tenants`)
   */
  readonly secret?: ISecret;
  /**
   * Multi-tenant mode: the function also rotates tenant key secrets `<secretPrefix><id>` (attached per tenant
   * with `qtv tenant rotation`), reading each tenant's registry item. Granted by name prefix: no policy per tenant.
   * @default - no tenants
   */
  readonly tenants?: { readonly secretPrefix: string; readonly registryTable: ITable };
  /**
   * The public-material secret (`signing.publicSecretId`): the rotation writes the new key's public facts there
   * (PutSecretValue only) so /qlik/idp-config can show them without reading the private key.
   * @default - none
   */
  readonly publicSecret?: ISecret;
  /** The validated configuration; its `rotation` section drives the schedule, key size and Qlik mode. */
  readonly config: Config;
  /**
   * Where operator notices go (blocked rotation, IdP to paste).
   * @default the topic `rotation.notifyTopicArn` names, or none
   */
  readonly topic?: ITopic;
  /**
   * The secret with the admin Qlik OAuth client's `{"clientId","clientSecret"}` (register mode).
   * @default the secret `rotation.qlik.adminCredentialsSecretId` names, or none
   */
  readonly adminCredentialsSecret?: ISecret;
  /**
   * The `QTV_CONFIG` value (a stack passes the same JSON its token functions get, the secret reference
   * resolved to the secret's ARN).
   * @default JSON of `config`
   */
  readonly configJson?: string;
  /**
   * Retention of the function's log group.
   * @default RetentionDays.ONE_YEAR
   */
  readonly logRetention?: RetentionDays;
}

/** The Secrets Manager actions a rotation function needs on its secret, and nothing more. */
export const ROTATION_SECRET_ACTIONS = [
  'secretsmanager:DescribeSecret',
  'secretsmanager:GetSecretValue',
  'secretsmanager:PutSecretValue',
  'secretsmanager:UpdateSecretVersionStage',
] as const;

/** The rotation function's entry, relative to the package root. */
export const ROTATION_ENTRY = 'functions/rotate-signing-key/index.ts';

/** An ARN pattern that matches the secret whether or not its random suffix is known. */
function secretArnPattern(secret: ISecret): string {
  return secret.secretFullArn ?? `${secret.secretArn}-??????`;
}

/**
 * Rotates the signing key secret on a schedule with a Lambda function (docs/rotation.md).
 *
 * Built on `CfnRotationSchedule` rather than `secret.addRotationSchedule()`: the latter also grants
 * `secretsmanager:GetRandomPassword` on `*` and an invoke permission without `SourceAccount`; this construct
 * grants exactly the four actions on this secret and scopes the invoke permission to this account and secret.
 *
 * @example
 * new KeyRotation(this, 'KeyRotation', { secret: signingKey.secret, config });
 */
export class KeyRotation extends Construct {
  /** The rotation function (bundled at synth from the sources, or from the package's prebuilt bundle). */
  readonly function: LambdaFunction;
  /** Its execution role: logging, the rotation's secret actions, and the optional grants, nothing else. */
  readonly role: Role;
  /** The rotation schedule of the deployment's key secret (absent when only tenants' secrets are rotated). */
  readonly schedule: CfnRotationSchedule | undefined;
  /** The function's log group (Monitoring counts blocked rotations in it). */
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: KeyRotationProps) {
    super(scope, id);
    const { config, secret } = props;
    if (secret === undefined && props.tenants === undefined)
      throw new TypeError('KeyRotation needs a secret to rotate, or tenants whose key secrets it rotates.');
    if (secret !== undefined && config.signing.backend !== 'secrets-manager')
      throw new TypeError(
        `KeyRotation rotates a Secrets Manager key secret, but signing.backend is "${config.signing.backend}". Remove KeyRotation or use the secrets-manager backend.`,
      );
    const rotation = config.rotation;
    const stack = Stack.of(this);

    const logGroup = new LogGroup(this, 'Logs', { retention: props.logRetention ?? RetentionDays.ONE_YEAR });
    this.logGroup = logGroup;
    // An own role instead of AWSLambdaBasicExecutionRole (cdk-nag IAM4): logging on this function's group only.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: 'Execution role of the Qlik signing key rotation function',
    });
    this.role.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        // logGroupArn ends in ":*", which covers this group's log streams only.
        resources: [logGroup.logGroupArn],
      }),
    );

    const functionProps = {
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      // RSA key generation (4096 bits takes seconds) and certificate signing are CPU-bound: more memory, more CPU.
      memorySize: 1024,
      // Each step is one invocation; Qlik calls have their own timeout (rotation.qlik.requestTimeoutMs).
      timeout: Duration.minutes(2),
      description: 'Rotates the Qlik JWT signing key secret (createSecret/setSecret/testSecret/finishSecret)',
      environment: {
        [CONFIG_ENV_VAR]: props.configJson ?? JSON.stringify(config),
        NODE_OPTIONS: '--enable-source-maps',
      },
      role: this.role,
      logGroup,
      // Each step's Secrets Manager, SNS and Qlik calls in X-Ray (Powertools tracer in index.ts), unless
      // deployment.tracing is off (then no tracer code is bundled either).
      tracing: config.deployment.tracing ? Tracing.ACTIVE : Tracing.DISABLED,
    };
    const prebuilt = prebuiltBundleDir(ROTATION_ENTRY);
    // From the installed package: the bundle `npm run build:construct` made with the options below and every
    // bundle flag on (tracer included), so it serves any configuration; deployment.tracing then only switches X-Ray.
    if (prebuilt !== undefined)
      this.function = new LambdaFunction(this, 'Function', {
        ...functionProps,
        code: Code.fromAsset(prebuilt),
        handler: 'index.handler',
      });
    else
      this.function = new NodejsFunction(this, 'Function', {
        ...functionProps,
        entry: `${PACKAGE_ROOT}${ROTATION_ENTRY}`,
        handler: 'handler',
        bundling: {
          format: OutputFormat.ESM,
          target: 'node24',
          sourceMap: true,
          // tsyringe (used by @peculiar/x509) calls require(); give the ESM bundle one.
          banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
          // Bundle everything, the AWS SDK included, as TokenFunction does: NodejsFunction otherwise leaves @aws-sdk/*
          // to the runtime's copy, whose version we do not pin (the deploy rehearsal found this function importing it).
          externalModules: [],
          // Only what rotation runs goes into the bundle (functions/runtime/bundle-flags.ts).
          define: bundleDefines(
            rotationBundleFlags(props.tenants !== undefined ? config : { ...config, tenancy: undefined }),
          ),
        },
      });

    // Tracing.ACTIVE adds xray:PutTraceSegments and xray:PutTelemetryRecords on "*": X-Ray defines no
    // resource types for them (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html).
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only xray:PutTraceSegments and xray:PutTelemetryRecords use Resource "*": X-Ray supports no resource-level permissions for them',
    });

    // Least privilege: exactly what the four steps call, on this secret only.
    if (secret !== undefined)
      this.function.addToRolePolicy(
        new PolicyStatement({ actions: [...ROTATION_SECRET_ACTIONS], resources: [secretArnPattern(secret)] }),
      );
    // A customer-managed key on the secret: GetSecretValue decrypts, PutSecretValue asks for a data key
    // (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html). Exactly those two.
    if (secret?.encryptionKey !== undefined)
      this.function.addToRolePolicy(
        new PolicyStatement({
          actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
          resources: [secret.encryptionKey.keyArn],
        }),
      );

    // The public-material secret: written, never read, by the rotation.
    if (props.publicSecret !== undefined)
      this.function.addToRolePolicy(
        new PolicyStatement({ actions: ['secretsmanager:PutSecretValue'], resources: [props.publicSecret.secretArn] }),
      );

    const adminSecretId = rotation.qlik.adminCredentialsSecretId;
    const adminSecret =
      props.adminCredentialsSecret ??
      (adminSecretId === undefined
        ? undefined
        : adminSecretId.startsWith('arn:')
          ? Secret.fromSecretCompleteArn(this, 'AdminCredentials', adminSecretId)
          : Secret.fromSecretNameV2(this, 'AdminCredentials', adminSecretId));
    if (adminSecret !== undefined) {
      this.function.addToRolePolicy(
        new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secretArnPattern(adminSecret)] }),
      );
      if (adminSecret.encryptionKey !== undefined)
        this.function.addToRolePolicy(
          new PolicyStatement({ actions: ['kms:Decrypt'], resources: [adminSecret.encryptionKey.keyArn] }),
        );
    }

    const topic =
      props.topic ??
      (rotation.notifyTopicArn === undefined
        ? undefined
        : Topic.fromTopicArn(this, 'NotifyTopic', rotation.notifyTopicArn));
    if (topic !== undefined) {
      if (props.topic !== undefined && rotation.notifyTopicArn === undefined)
        throw new TypeError(
          'KeyRotation got a topic, but rotation.notifyTopicArn is not set: the function would not know where to publish. Set rotation.notifyTopicArn to the topic ARN.',
        );
      topic.grantPublish(this.function);
    }

    if (props.tenants !== undefined) this.grantTenants(props.tenants);
    if (secret === undefined) {
      this.schedule = undefined;
      return;
    }

    // Secrets Manager invokes the function; confused-deputy guard: only for this account and this secret.
    this.function.addPermission('SecretsManagerInvoke', {
      principal: new ServicePrincipal('secretsmanager.amazonaws.com'),
      sourceAccount: stack.account,
      sourceArn: secretArnPattern(secret),
    });

    this.schedule = new CfnRotationSchedule(this, 'Schedule', {
      secretId: secret.secretArn,
      rotationLambdaArn: this.function.functionArn,
      rotationRules: { automaticallyAfterDays: rotation.scheduleDays },
      // false: a deployment must never rotate the key as a side effect. With true, CloudFormation rotates at
      // once on create and on every schedule change: before the first key is seeded, before an admin client
      // exists, and (in manual mode) straight into a blocked rotation. The first rotation happens after
      // scheduleDays, or now with `aws secretsmanager rotate-secret` (docs/rotation.md).
      rotateImmediatelyOnUpdate: false,
    });
    // The permission and the role policy must exist before Secrets Manager may call the function.
    this.schedule.node.addDependency(this.function);
  }

  /**
   * Tenant key secrets, by name prefix (https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_iam-policies.html):
   * the four rotation actions on `<secretPrefix>*` (the keys, their `<id>/public` material, their `<id>/qlik-admin`
   * client; the code rotates only `<prefix><id>` secrets whose registry item names them), `dynamodb:GetItem` on
   * the registry, and Secrets Manager's permission to invoke the function for secrets under the prefix, for this
   * account only (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotating-secrets-required-permissions-function.html).
   */
  private grantTenants(tenants: { readonly secretPrefix: string; readonly registryTable: ITable }): void {
    const { partition, region, account } = Stack.of(this);
    const prefixArn = `arn:${partition}:secretsmanager:${region}:${account}:secret:${tenants.secretPrefix}*`;
    this.function.addToRolePolicy(
      new PolicyStatement({ actions: [...ROTATION_SECRET_ACTIONS], resources: [prefixArn] }),
    );
    this.function.addToRolePolicy(
      new PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [tenants.registryTable.tableArn] }),
    );
    this.function.addPermission('SecretsManagerInvokeTenants', {
      principal: new ServicePrincipal('secretsmanager.amazonaws.com'),
      sourceAccount: account,
      sourceArn: prefixArn,
    });
    Validations.of(this.role).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${tenants.secretPrefix}*]`,
      reason:
        'Tenant key secrets are rotated by name prefix: one statement for any number of tenants; the code rotates only <prefix><id> secrets its registry item names',
    });
  }

  /** The function's invoke permission for Secrets Manager (for tests and nag acknowledgements). */
  get invokePermission(): CfnPermission | undefined {
    return this.function.node.tryFindChild('SecretsManagerInvoke') as CfnPermission | undefined;
  }
}
