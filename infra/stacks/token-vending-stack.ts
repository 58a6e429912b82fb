/**
 * The token vending stack: composes the constructs from one validated configuration. No logic of its own.
 */
import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { type RouteDefinition, type RouteResource, routesFor } from '../../functions/routes.js';
import { bundleFlagsFor } from '../../functions/runtime/bundle-flags.js';
import type { Config } from '../../functions/runtime/config.js';
import { KeyRotation } from '../constructs/key-rotation.js';
import { Monitoring } from '../constructs/monitoring.js';
import { RefreshGraceTable } from '../constructs/refresh-grace-table.js';
import { SigningKey } from '../constructs/signing-key.js';
import { TenantRegistry } from '../constructs/tenant-registry.js';
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
  /** The tenant registry table and its grants, when `tenancy` is configured with a DynamoDB registry. */
  public readonly tenantRegistry: TenantRegistry | undefined;
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
      ...(signing.publicSecretId?.startsWith('arn:') ? { publicSecretArn: signing.publicSecretId } : {}),
    });

    this.api = new TokenApi(this, 'Api', {
      ...(config.callerIdp !== undefined ? { callerIdp: config.callerIdp } : {}),
      allowedOrigins: config.cors.allowedOrigins,
      rateLimit: config.throttling.rateLimit,
      burstLimit: config.throttling.burstLimit,
      accessLogRetention: retention,
      ...(deployment.customDomain !== undefined ? { customDomain: deployment.customDomain } : {}),
    });

    const tenancy = config.tenancy;
    if (tenancy?.registry.backend === 'file')
      throw new Error(
        'tenancy.registry.backend "file" works only with the local dev server; to deploy, use "dynamodb"',
      );
    this.tenantRegistry =
      tenancy === undefined
        ? undefined
        : new TenantRegistry(this, 'TenantRegistry', {
            ...(tenancy.registry.backend === 'dynamodb' ? { tableName: tenancy.registry.tableName } : {}),
            secretPrefix: tenancy.keys.secretPrefix,
            kmsAliasPrefix: tenancy.keys.kmsAliasPrefix,
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
    this.functionConfigJson = this.buildFunctionConfigJson(
      functionConfig,
      this.signingKey.arn,
      this.signingKey.publicSecret.secretArn,
    );
    const functions: Record<string, TokenFunction> = {};
    const grantOAuth = oauthGrants(this, config);
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
        // Only what this route runs under this configuration goes into its bundle.
        bundleFlags: bundleFlagsFor(route, config),
      });
      // Grants follow the route's declared needs (functions/routes.ts `uses`), nothing more.
      for (const resource of route.uses ?? []) {
        if (resource === 'signing-key') this.signingKey.bind(fn.function);
        else if (resource === 'signing-public') this.signingKey.bindPublic(fn.function);
        else grantOAuth(resource, fn.function);
      }
      // Routes that resolve a caller's tenant (functions/routes.ts `servesTenants`) read the registry and tenant keys.
      if (this.tenantRegistry !== undefined && route.servesTenants === true)
        this.tenantRegistry.grantTokenRead(fn.function);
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
            publicSecret: this.signingKey.publicSecret,
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

    this.tenantRegistry?.addAlarms(this.monitoring.topic);

    this.addOutputs(config);
  }

  /** The configuration a function reads from QTV_CONFIG: the validated config, the key reference resolved. */
  private buildFunctionConfigJson(config: Config, reference: string, publicSecretArn: string): string {
    // deployment settings are synth-time only; the loader fills their defaults in the Lambda.
    const { deployment: _deployment, ...runtimeConfig } = config;
    const signing =
      config.signing.backend === 'kms'
        ? { ...config.signing, keyId: reference, publicSecretId: publicSecretArn }
        : { ...config.signing, secretId: reference, publicSecretId: publicSecretArn };
    const value = { ...runtimeConfig, signing };
    // Estimate the resolved size with a long ARN in place of the token.
    const estimate = JSON.stringify({
      ...value,
      signing: { ...signing, secretId: 'x'.repeat(120), keyId: '', publicSecretId: 'x'.repeat(120) },
    });
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
    new CfnOutput(this, 'SigningPublicSecretArn', {
      value: this.signingKey.publicSecret.secretArn,
      description:
        'Public material for /qlik/idp-config: npm run cli -- secret put ... --public-secret-id <this ARN> (docs/deploy.md)',
    });
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
    if (this.tenantRegistry !== undefined)
      new CfnOutput(this, 'TenantRegistryTableName', {
        value: this.tenantRegistry.table.tableName,
        description: 'The tenant registry: qtv tenant add|list|show|suspend|remove --table <this name>',
      });
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
 * Grants for the OAuth proxy's resources, one route resource at a time (functions/routes.ts `uses`), so a
 * function can read only the secrets its route uses: the sealing secret, the proxy's client credentials
 * (client secret, or the client-assertion key: a PEM secret or KMS Sign/GetPublicKey), the impersonation
 * client's, and the admin client secret only when user provisioning is on.
 * Secret IDs may be names or ARNs; a KMS assertion key must be given as a key ARN in a deployment.
 */
function oauthGrants(scope: Construct, config: Config): (resource: RouteResource, grantee: IGrantable) => void {
  const oauth = config.oauth;
  if (oauth === undefined) return () => {};
  const imported = new Map<string, ISecret>();
  const secret = (id: string): ISecret => {
    let found = imported.get(id);
    if (found === undefined) {
      const constructId = `OAuthSecret${imported.size}`;
      // A complete ARN ends in "-" and 6 random characters; anything else is a partial ARN.
      found = !id.startsWith('arn:')
        ? Secret.fromSecretNameV2(scope, constructId, id)
        : /-[A-Za-z0-9]{6}$/.test(id)
          ? Secret.fromSecretCompleteArn(scope, constructId, id)
          : Secret.fromSecretPartialArn(scope, constructId, id);
      imported.set(id, found);
    }
    return found;
  };
  const assertion = oauth.clientAuth === 'private-key-jwt' ? oauth.clientAssertion : undefined;
  let kmsKeyArn: string | undefined;
  if (assertion?.backend === 'kms') {
    if (!assertion.keyId.startsWith('arn:aws'))
      throw new Error(
        'oauth.clientAssertion.keyId: give the KMS key ARN in a deployed configuration, so the functions can be granted kms:Sign on exactly that key',
      );
    kmsKeyArn = Key.fromKeyArn(scope, 'OAuthAssertionKey', assertion.keyId).keyArn;
  }
  const read = (grantee: IGrantable, id: string | undefined) => {
    if (id !== undefined) secret(id).grantRead(grantee);
  };
  const clientCredentials = (grantee: IGrantable) => {
    if (assertion === undefined) read(grantee, oauth.clientSecretId);
    else if (assertion.backend === 'secrets-manager') read(grantee, assertion.secretId);
    else
      grantee.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['kms:Sign', 'kms:GetPublicKey'], resources: [kmsKeyArn!] }),
      );
  };
  const imp = oauth.impersonation;
  return (resource, grantee) => {
    switch (resource) {
      case 'oauth-sealing':
        // Without a sealing secret the sealing keys are derived from the client secret (oauth-wiring.ts).
        read(grantee, oauth.sealingSecretId ?? oauth.clientSecretId);
        break;
      case 'oauth-client':
        clientCredentials(grantee);
        break;
      case 'oauth-impersonation':
        if (imp.clientId !== undefined && imp.clientSecretId !== undefined) read(grantee, imp.clientSecretId);
        else clientCredentials(grantee);
        break;
      case 'oauth-admin':
        if (imp.provisionUsers) read(grantee, imp.adminClientSecretId);
        break;
    }
  };
}
