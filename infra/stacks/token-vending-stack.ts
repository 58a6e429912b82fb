/**
 * The token vending stack: composes the constructs from one validated configuration. No logic of its own.
 */
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { type RouteDefinition, routesFor } from '../../functions/routes.js';
import type { Config } from '../../functions/runtime/config.js';
import { KeyRotation } from '../constructs/key-rotation.js';
import { Monitoring } from '../constructs/monitoring.js';
import { RefreshGraceTable } from '../constructs/refresh-grace-table.js';
import { SigningKey } from '../constructs/signing-key.js';
import { TokenApi } from '../constructs/token-api.js';
import { TokenFunction } from '../constructs/token-function.js';

/** Lambda environment variables are capped at 4 KB in total; keep room for ARNs resolved at deploy time. */
const MAX_CONFIG_ENV_BYTES = 3_500;

/** Properties of {@link TokenVendingStack}. */
export interface TokenVendingStackProps extends StackProps {
  /** The validated configuration (parseConfig / loadConfigFile). */
  readonly config: Config;
  /**
   * The routes to serve.
   * @default the routes of functions/routes.ts that the configuration enables (OAuth routes need `oauth`)
   */
  readonly routes?: readonly RouteDefinition[];
}

/**
 * The token API: signing key, one function per route, the HTTP API, monitoring, and the outputs a
 * tenant admin needs to configure Qlik.
 *
 * @example
 * new TokenVendingStack(app, 'QlikTokenVending-dev', { config: loadConfigFile('config/dev.json') });
 */
export class TokenVendingStack extends Stack {
  /** The signing key (secret or KMS key). */
  public readonly signingKey: SigningKey;
  /** The HTTP API. */
  public readonly api: TokenApi;
  /** Functions by route id. */
  public readonly functions: Readonly<Record<string, TokenFunction>>;
  /** Alarms, topic and dashboard. */
  public readonly monitoring: Monitoring;
  /** The signing key rotation (function and schedule), when `rotation.enabled`. */
  public readonly keyRotation: KeyRotation | undefined;
  /** The OAuth proxy's refresh grace table, when the proxy runs in cookie mode. */
  public readonly refreshGrace: RefreshGraceTable | undefined;
  /**
   * The configuration every function reads from `QTV_CONFIG`: the validated config without `deployment`,
   * the key reference replaced by the key's ARN. Constructs that add functions pass it to {@link TokenFunction}.
   */
  public readonly functionConfigJson: string;

  constructor(scope: Construct, id: string, props: TokenVendingStackProps) {
    super(scope, id, props);
    const { config } = props;
    const deployment = config.deployment;
    const signing = config.signing;
    if (signing.backend === 'file') {
      throw new Error(
        'signing.backend "file" works only with the local dev server; to deploy, use "secrets-manager" (secretId) or "kms" (keyId)',
      );
    }
    if (deployment.secretKmsKeyArn !== undefined && signing.backend !== 'secrets-manager') {
      throw new Error('deployment.secretKmsKeyArn applies only to signing.backend "secrets-manager"; remove it');
    }
    const retention = deployment.logRetentionDays as RetentionDays;

    this.signingKey = new SigningKey(this, 'SigningKey', {
      backend: signing.backend,
      keyReference: signing.backend === 'kms' ? signing.keyId : signing.secretId,
      kmsKeySpec: deployment.kmsKeySpec,
      customerManagedEncryption: deployment.secretEncryption === 'customer-managed',
      ...(deployment.secretKmsKeyArn !== undefined ? { importedSecretKmsKeyArn: deployment.secretKmsKeyArn } : {}),
      rotated: config.rotation.enabled,
    });

    this.api = new TokenApi(this, 'Api', {
      ...(config.callerIdp !== undefined ? { callerIdp: config.callerIdp } : {}),
      allowedOrigins: config.cors.allowedOrigins,
      rateLimit: config.throttling.rateLimit,
      burstLimit: config.throttling.burstLimit,
      accessLogRetention: retention,
      ...(deployment.customDomain !== undefined ? { customDomain: deployment.customDomain } : {}),
    });

    // Cookie mode: parallel refreshes across containers share one upstream refresh (docs/oauth.md).
    this.refreshGrace = config.oauth?.mode === 'cookie' ? new RefreshGraceTable(this, 'RefreshGrace') : undefined;
    const functionConfig =
      this.refreshGrace !== undefined && config.oauth !== undefined
        ? {
            ...config,
            oauth: {
              ...config.oauth,
              refreshGrace: { ...config.oauth.refreshGrace, tableName: this.refreshGrace.table.tableName },
            },
          }
        : config;
    this.functionConfigJson = this.buildFunctionConfigJson(functionConfig, this.signingKey.arn);
    const functions: Record<string, TokenFunction> = {};
    const grantOAuthClient = oauthClientGrants(this, config);
    for (const route of props.routes ?? routesFor(config)) {
      const fn = new TokenFunction(this, route.id, {
        entry: route.entry,
        configJson: this.functionConfigJson,
        logRetention: retention,
        memorySize: deployment.lambda.memoryMb,
        timeout: Duration.seconds(deployment.lambda.timeoutSeconds),
        ...(deployment.lambda.reservedConcurrency !== undefined
          ? { reservedConcurrentExecutions: deployment.lambda.reservedConcurrency }
          : {}),
        description: `${route.method} ${route.path}`,
      });
      // Grants follow the route's declared needs (functions/routes.ts `uses`), nothing more.
      for (const resource of route.uses ?? []) {
        if (resource === 'signing-key') this.signingKey.bind(fn.function);
        if (resource === 'oauth-client') grantOAuthClient(fn.function);
      }
      this.api.addFunctionRoute(route, fn.function);
      functions[route.id] = fn;
    }
    this.functions = functions;
    // Only the refresh function (claim, read, release) and the revoke function (mark a logout) touch the table.
    const { OAuthRefresh: refresh, OAuthRevoke: revoke } = functions;
    if (this.refreshGrace !== undefined && refresh !== undefined) this.refreshGrace.grantRefresh(refresh.function);
    if (this.refreshGrace !== undefined && revoke !== undefined) this.refreshGrace.grantLogout(revoke.function);

    // Rotation of the key secret (docs/rotation.md). The config schema already refuses rotation.enabled with
    // any backend but secrets-manager, so a secret exists here whenever rotation is on.
    this.keyRotation =
      config.rotation.enabled && this.signingKey.secret !== undefined
        ? new KeyRotation(this, 'KeyRotation', {
            secret: this.signingKey.secret,
            config,
            configJson: this.functionConfigJson,
            logRetention: retention,
          })
        : undefined;

    this.monitoring = new Monitoring(this, 'Monitoring', {
      stage: this.api.stage,
      functions: Object.entries(functions).map(([routeId, fn]) => ({
        id: routeId,
        function: fn.function,
        logGroup: fn.logGroup,
      })),
      fiveXxRatePercent: deployment.alarms.fiveXxRatePercent,
      p99LatencyMs: deployment.alarms.p99LatencyMs,
      ...(this.keyRotation !== undefined
        ? { rotation: { function: this.keyRotation.function, logGroup: this.keyRotation.logGroup } }
        : {}),
      ...(deployment.alarms.email !== undefined ? { alarmEmail: deployment.alarms.email } : {}),
    });

    this.addOutputs(config);
  }

  /** The configuration a function reads from QTV_CONFIG: the validated config, the key reference resolved. */
  private buildFunctionConfigJson(config: Config, reference: string): string {
    // deployment settings are synth-time only; the loader fills their defaults in the Lambda.
    const { deployment: _deployment, ...runtimeConfig } = config;
    const signing =
      config.signing.backend === 'kms'
        ? { ...config.signing, keyId: reference }
        : { ...config.signing, secretId: reference };
    const value = { ...runtimeConfig, signing };
    // Estimate the resolved size with a long ARN in place of the token.
    const estimate = JSON.stringify({ ...value, signing: { ...signing, secretId: 'x'.repeat(120), keyId: '' } });
    if (Buffer.byteLength(estimate) > MAX_CONFIG_ENV_BYTES) {
      throw new Error(
        `the configuration is about ${Buffer.byteLength(estimate)} bytes as JSON, and Lambda allows 4 KB of environment variables in total; shorten identity.groups.map or identity.overrides (at most ${MAX_CONFIG_ENV_BYTES} bytes)`,
      );
    }
    return Stack.of(this).toJsonString(value);
  }

  private addOutputs(config: Config): void {
    const url = this.api.url;
    new CfnOutput(this, 'QlikIdpIssuer', {
      value: config.qlik.issuer,
      description: 'Qlik JWT identity provider: Issuer',
    });
    new CfnOutput(this, 'QlikIdpKeyId', {
      value: config.qlik.keyId ?? 'see keyId in GET /qlik/idp-config (the secret kid or the key thumbprint)',
      description: 'Qlik JWT identity provider: Key ID (GET /qlik/idp-config shows the one in use)',
    });
    new CfnOutput(this, 'QlikIdpConfigUrl', {
      value: `${url}/qlik/idp-config`,
      description: 'GET this URL for issuer, key ID and certificate PEM to paste into Qlik',
    });
    new CfnOutput(this, 'QlikJwtUrl', {
      value: `${url}/qlik/jwt`,
      description: 'POST here with a caller bearer token',
    });
    if (this.signingKey.secret !== undefined) {
      new CfnOutput(this, 'SigningSecretArn', {
        value: this.signingKey.secret.secretArn,
        description: 'Put the PEM key here: npm run cli -- secret put --secret-id <this ARN> --key-file privatekey.pem',
      });
    }
    if (this.signingKey.key !== undefined) {
      new CfnOutput(this, 'SigningKeyArn', { value: this.signingKey.key.keyArn, description: 'KMS signing key' });
    }
    new CfnOutput(this, 'CallerIssuer', {
      value: this.api.callerIssuer,
      description: 'Issuer whose tokens the JWT authorizer accepts',
    });
    if (this.api.userPool !== undefined && this.api.userPoolClient !== undefined) {
      new CfnOutput(this, 'CallerUserPoolId', { value: this.api.userPool.userPoolId });
      new CfnOutput(this, 'CallerUserPoolClientId', { value: this.api.userPoolClient.userPoolClientId });
    }
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.topic.topicArn });
    if (this.keyRotation !== undefined) {
      new CfnOutput(this, 'RotationFunctionName', {
        value: this.keyRotation.function.functionName,
        description:
          'Rotates the signing key secret; rotate now with: aws secretsmanager rotate-secret --secret-id <SigningSecretArn>',
      });
    }
  }
}

/**
 * Read access to the OAuth proxy's secrets (client, sealing, impersonation and admin client secrets,
 * a PEM assertion key) and Sign/GetPublicKey on a KMS client-assertion key, for the routes that use them.
 * Secret IDs may be names or ARNs; a KMS assertion key must be given as a key ARN in a deployment.
 */
function oauthClientGrants(scope: Construct, config: Config): (grantee: IGrantable) => void {
  const oauth = config.oauth;
  if (oauth === undefined) return () => {};
  const ids = [
    oauth.clientSecretId,
    oauth.sealingSecretId,
    oauth.impersonation.clientSecretId,
    oauth.impersonation.adminClientSecretId,
    oauth.clientAssertion?.backend === 'secrets-manager' ? oauth.clientAssertion.secretId : undefined,
  ].filter((id): id is string => id !== undefined);
  const secrets: ISecret[] = [...new Set(ids)].map((id, index) => {
    const constructId = `OAuthSecret${index}`;
    if (!id.startsWith('arn:')) return Secret.fromSecretNameV2(scope, constructId, id);
    // A complete ARN ends in "-" and 6 random characters; anything else is a partial ARN.
    return /-[A-Za-z0-9]{6}$/.test(id)
      ? Secret.fromSecretCompleteArn(scope, constructId, id)
      : Secret.fromSecretPartialArn(scope, constructId, id);
  });
  const assertion = oauth.clientAssertion;
  let kmsKeyArn: string | undefined;
  if (assertion?.backend === 'kms') {
    if (!assertion.keyId.startsWith('arn:aws'))
      throw new Error(
        'oauth.clientAssertion.keyId: give the KMS key ARN in a deployed configuration, so the functions can be granted kms:Sign on exactly that key',
      );
    kmsKeyArn = Key.fromKeyArn(scope, 'OAuthAssertionKey', assertion.keyId).keyArn;
  }
  return (grantee) => {
    for (const secret of secrets) secret.grantRead(grantee);
    if (kmsKeyArn !== undefined)
      grantee.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['kms:Sign', 'kms:GetPublicKey'], resources: [kmsKeyArn] }),
      );
  };
}
