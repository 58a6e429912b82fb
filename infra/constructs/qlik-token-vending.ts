/**
 * QlikTokenVending: the whole token vending service as one construct for your own CDK app. Its props are the
 * configuration file's schema (functions/runtime/config.ts), validated when the construct is created with every
 * problem listed at once; its public attributes let you add a custom domain, a WAF, alarms or outputs.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ConfigError } from '../../functions/errors.js';
import { type RouteDefinition, type RouteResource, routesFor } from '../../functions/routes.js';
import {
  bundleFlagsFor,
  type FunctionConfig,
  functionConfigFor,
  rotationBundleFlags,
} from '../../functions/runtime/bundle-flags.js';
import { type Config, type ConfigInput, parseConfig } from '../../functions/runtime/config.js';
import { KeyRotation } from './key-rotation.js';
import { Monitoring } from './monitoring.js';
import { RefreshGraceTable } from './refresh-grace-table.js';
import { SigningKey } from './signing-key.js';
import { TenantRegistry } from './tenant-registry.js';
import { TokenApi } from './token-api.js';
import { TokenFunction } from './token-function.js';

/** Lambda environment variables are capped at 4 KB in total; keep room for ARNs resolved at deploy time. */
const MAX_CONFIG_ENV_BYTES = 3_500;

/**
 * Properties of {@link QlikTokenVending}: the same settings as a configuration file (config/example*.json, docs/config.md),
 * typed by the one configuration schema. Defaults are the schema's.
 */
export interface QlikTokenVendingProps {
  /**
   * The Qlik side: `issuer` and `keyId` as configured on the tenant's JWT identity provider, `tenantHost`
   * (needed by OAuth and rotation), and the token lifetime policy.
   */
  readonly qlik: ConfigInput['qlik'];
  /**
   * How the caller's verified claims become the Qlik identity (`sub`, `name`, `email`, `groups`): a provider
   * preset (cognito, entra-id, okta, auth0, keycloak, onelogin, generic) and overrides.
   * @default - the `generic` preset
   */
  readonly identity?: ConfigInput['identity'];
  /**
   * Where the signing key lives: `secrets-manager` (a secret name is created holding a placeholder, an ARN is
   * imported) or `kms` (an `alias/...` is created as an RSA SIGN_VERIFY key, an ARN is imported).
   */
  readonly signing: ConfigInput['signing'];
  /**
   * The identity provider whose tokens callers present (issuer and audience for API Gateway's JWT authorizer).
   * @default - a Cognito user pool created by the construct
   */
  readonly callerIdp?: ConfigInput['callerIdp'];
  /**
   * Browser origins allowed to call the API (CORS).
   * @default - none
   */
  readonly cors?: ConfigInput['cors'];
  /**
   * API Gateway throttling (steady requests per second and burst).
   * @default - 50 per second, burst 100
   */
  readonly throttling?: ConfigInput['throttling'];
  /**
   * Scheduled rotation of a Secrets Manager signing key, with the Qlik IdP switch (docs/rotation.md).
   * @default - off
   */
  readonly rotation?: ConfigInput['rotation'];
  /**
   * The OAuth proxy in front of Qlik's /oauth/* (login, callback, code exchange, refresh, revoke) and, with
   * `impersonation.enabled`, `POST /qlik/access-token` (docs/oauth.md).
   * @default - no OAuth routes
   */
  readonly oauth?: ConfigInput['oauth'];
  /**
   * Multi-tenant mode (docs/multi-tenant.md): each caller is bound to a Qlik tenant by a claim of its verified
   * token, and that tenant's settings come from a DynamoDB tenant registry the construct creates
   * (`registry.backend` must be `dynamodb` to deploy); tenant keys are read by name or alias prefix.
   * @default - single-tenant: `qlik`, `identity` and `signing` serve every caller
   */
  readonly tenancy?: ConfigInput['tenancy'];
  /**
   * Synth-time settings: Lambda memory, timeout and concurrency, log retention, KMS key spec, secret encryption,
   * custom domain, alarm thresholds and X-Ray tracing (`tracing: false` leaves the tracer out of every bundle).
   * @default - 512 MB, 10 s, 30 days of logs, RSA_2048, AWS-managed secret encryption, no custom domain, tracing on
   */
  readonly deployment?: ConfigInput['deployment'];
}

/**
 * Compile-time guard: the props name every top-level section of the configuration schema and nothing else, so a
 * section added to the schema cannot be forgotten here (tsc fails on this line).
 */
const propsMatchSchema: [
  Exclude<keyof ConfigInput, keyof QlikTokenVendingProps>,
  Exclude<keyof QlikTokenVendingProps, keyof ConfigInput>,
] extends [never, never]
  ? true
  : never = true;
void propsMatchSchema;

/** Construction options that are not configuration (tests). */
export interface QlikTokenVendingOptions {
  /**
   * The routes to serve.
   * @default the routes of functions/routes.ts that the configuration enables (OAuth routes need `oauth`)
   */
  readonly routes?: readonly RouteDefinition[];
}

/** What a configuration asks of a deployment that the schema alone cannot check. */
function deploymentProblems(config: Config): string[] {
  const problems: string[] = [];
  if (config.signing.backend === 'file')
    problems.push(
      'signing.backend "file" works only with the local dev server; to deploy, use "secrets-manager" (secretId) or "kms" (keyId)',
    );
  if (
    config.signing.backend === 'kms' &&
    !config.signing.keyId.startsWith('arn:') &&
    !config.signing.keyId.startsWith('alias/')
  )
    problems.push(
      `signing.keyId: a KMS key the stack creates needs an alias such as "alias/qlik-token-vending", got "${config.signing.keyId}"; to use an existing key, give its ARN`,
    );
  if (config.tenancy?.registry.backend === 'file')
    problems.push('tenancy.registry.backend "file" works only with the local dev server; to deploy, use "dynamodb"');
  if (config.deployment.secretKmsKeyArn !== undefined && config.signing.backend !== 'secrets-manager')
    problems.push('deployment.secretKmsKeyArn applies only to signing.backend "secrets-manager"; remove it');
  // The assertion key is used (and granted) only with private_key_jwt client authentication.
  const assertion = config.oauth?.clientAuth === 'private-key-jwt' ? config.oauth.clientAssertion : undefined;
  if (assertion?.backend === 'kms' && !assertion.keyId.startsWith('arn:aws'))
    problems.push(
      'oauth.clientAssertion.keyId: give the KMS key ARN in a deployed configuration, so the functions can be granted kms:Sign on exactly that key',
    );
  return problems;
}

/**
 * The Qlik token vending service: signing key, HTTP API with a JWT authorizer, one Lambda function per route
 * (POST /qlik/jwt, GET /qlik/idp-config, the OAuth proxy routes when `oauth` is set), key rotation when
 * `rotation.enabled`, and monitoring (alarms on an encrypted SNS topic, a dashboard).
 *
 * @example
 * import { App, Stack } from 'aws-cdk-lib';
 * import { QlikTokenVending } from 'qlik-token-vending';
 *
 * const app = new App();
 * const stack = new Stack(app, 'Analytics');
 * const vending = new QlikTokenVending(stack, 'QlikTokens', {
 *   qlik: { tenantHost: 'example.eu.qlikcloud.com', issuer: 'https://tokens.example.com', keyId: 'qtv-1' },
 *   identity: { preset: 'okta' },
 *   signing: { backend: 'secrets-manager', secretId: 'analytics/qlik-signing-key' },
 *   callerIdp: { issuer: 'https://example.okta.com/oauth2/default', audience: ['api://analytics'] },
 *   cors: { allowedOrigins: ['https://app.example.com'] },
 * });
 * // vending.httpApi, vending.functions, vending.signingKey, vending.alarmTopic are yours to extend.
 */
export class QlikTokenVending extends Construct {
  /** The validated configuration, defaults applied. */
  public readonly config: Config;
  /** The HTTP API (API Gateway v2): add a domain, a WAF in front of CloudFront, routes of your own. */
  public readonly httpApi: HttpApi;
  /** The API construct: stage, authorizer, access logs, the optional Cognito pool and domain, `url`. */
  public readonly api: TokenApi;
  /** The URL of the API (the custom domain when one is set). */
  public readonly url: string;
  /** The Lambda function of each route, by route ID (`QlikJwt`, `IdpConfig`, `OAuthLogin`, ...). */
  public readonly functions: Readonly<Record<string, IFunction>>;
  /** The route functions with their roles and log groups, by route ID. */
  public readonly tokenFunctions: Readonly<Record<string, TokenFunction>>;
  /**
   * The signing key: `secret` (Secrets Manager) or `key` (KMS); `publicSecret`, the public-material secret that
   * `/qlik/idp-config` serves (kid, public key, certificate; written by `qtv secret put --public-secret-id`, by
   * `qtv keys cert --public-secret-id` and by the rotation); `bind()` grants another function what signing needs,
   * `bindPublic()` only the public material.
   */
  public readonly signingKey: SigningKey;
  /** The SNS topic every alarm notifies (KMS-encrypted): subscribe your pager. */
  public readonly alarmTopic: ITopic;
  /** Alarms, topic and dashboard. */
  public readonly monitoring: Monitoring;
  /** The signing key rotation (function and schedule), when `rotation.enabled`. */
  public readonly keyRotation: KeyRotation | undefined;
  /** The OAuth proxy's refresh grace table, when the proxy runs in cookie mode. */
  public readonly refreshGrace: RefreshGraceTable | undefined;
  /** The tenant registry table and its grants, when `tenancy` is configured (multi-tenant mode). */
  public readonly tenantRegistry: TenantRegistry | undefined;
  /**
   * The whole configuration a function can read from `QTV_CONFIG`: the validated config without `deployment`,
   * the key reference replaced by the key's ARN. Functions you add with {@link TokenFunction} take it. The
   * functions of the route table get their own subset (`functionConfigFor` in functions/runtime/bundle-flags.ts:
   * `oauth` only where the bundle holds the OAuth wiring).
   */
  public readonly functionConfigJson: string;

  /**
   * @throws ConfigError listing every problem of `props` at once (the same messages as for a configuration file).
   */
  constructor(scope: Construct, id: string, props: QlikTokenVendingProps, options: QlikTokenVendingOptions = {}) {
    super(scope, id);
    const config = parseConfig(props, `QlikTokenVending ${this.node.path}`);
    const problems = deploymentProblems(config);
    if (problems.length > 0) throw new ConfigError(problems, `QlikTokenVending ${this.node.path}`);
    this.config = config;
    const deployment = config.deployment;
    const signing = config.signing as Exclude<Config['signing'], { backend: 'file' }>;
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
    this.httpApi = this.api.httpApi;
    this.url = this.api.url;

    // Multi-tenant mode (deploymentProblems refuses the dev server's file registry).
    const tenancy = config.tenancy;
    this.tenantRegistry =
      tenancy === undefined
        ? undefined
        : new TenantRegistry(this, 'TenantRegistry', {
            ...(tenancy.registry.backend === 'dynamodb' ? { tableName: tenancy.registry.tableName } : {}),
            secretPrefix: tenancy.keys.secretPrefix,
            kmsAliasPrefix: tenancy.keys.kmsAliasPrefix,
          });

    // Cookie mode: parallel refreshes across containers share one upstream refresh (docs/oauth.md).
    // Multi-tenant mode: any tenant's item may choose cookie mode, so the table exists whenever tenants do; its
    // keys carry the tenant (functions/oauth/refresh-grace.ts graceKey).
    this.refreshGrace =
      config.oauth?.mode === 'cookie' || config.tenancy !== undefined
        ? new RefreshGraceTable(this, 'RefreshGrace')
        : undefined;
    const graceTableName = this.refreshGrace?.table.tableName;
    const functionConfig: Config = {
      ...config,
      ...(graceTableName !== undefined && config.oauth?.mode === 'cookie'
        ? { oauth: { ...config.oauth, refreshGrace: { ...config.oauth.refreshGrace, tableName: graceTableName } } }
        : {}),
      ...(graceTableName !== undefined && config.tenancy !== undefined
        ? { tenancy: { ...config.tenancy, refreshGraceTableName: graceTableName } }
        : {}),
    };
    // Each function's QTV_CONFIG (functionConfigFor): no `deployment`, and `oauth` only where the bundle holds
    // the OAuth wiring. The whole one (`functionConfigJson`) is for functions added outside the route table.
    const configJsonFor = (flags?: Parameters<typeof functionConfigFor>[1]) =>
      this.buildFunctionConfigJson(
        functionConfigFor(functionConfig, flags),
        this.signingKey.arn,
        this.signingKey.publicSecret.secretArn,
      );
    this.functionConfigJson = configJsonFor();
    // Bundle for the configuration the functions read: QTV_CONFIG always names the public-material secret
    // (buildFunctionConfigJson), so GET /qlik/idp-config reads it with either backend and needs its client.
    const bundleConfig: Config = {
      ...config,
      signing: { ...signing, publicSecretId: this.signingKey.publicSecret.secretArn },
    };
    const tokenFunctions: Record<string, TokenFunction> = {};
    const grantOAuth = oauthGrants(this, config);
    for (const route of options.routes ?? routesFor(config)) {
      // Only what this route runs under this configuration goes into its bundle (a prebuilt bundle holds it all).
      const bundleFlags = bundleFlagsFor(route, bundleConfig);
      const fn = new TokenFunction(this, route.id, {
        entry: route.entry,
        configJson: configJsonFor(bundleFlags),
        logRetention: retention,
        memorySize: deployment.lambda.memoryMb,
        timeout: Duration.seconds(deployment.lambda.timeoutSeconds),
        ...(deployment.lambda.reservedConcurrency !== undefined
          ? { reservedConcurrentExecutions: deployment.lambda.reservedConcurrency }
          : {}),
        description: `${route.method} ${route.path}`,
        bundleFlags,
      });
      // Grants follow the route's declared needs (functions/routes.ts `uses`), nothing more.
      for (const resource of route.uses ?? []) {
        if (resource === 'signing-key') this.signingKey.bind(fn.function);
        else if (resource === 'signing-public') this.signingKey.bindPublic(fn.function);
        else grantOAuth(resource, fn.function);
      }
      // Routes that resolve a caller's tenant (functions/routes.ts `servesTenants`) read the registry and tenant keys.
      if (this.tenantRegistry !== undefined && route.servesTenants === true) {
        const access = route.tenantAccess ?? 'keys';
        if (access === 'public-material') this.tenantRegistry.grantPublicMaterialRead(fn.function);
        else if (access === 'oauth') this.tenantRegistry.grantOAuthRead(fn.function);
        else this.tenantRegistry.grantTokenRead(fn.function);
      }
      this.api.addFunctionRoute(route, fn.function);
      tokenFunctions[route.id] = fn;
    }
    this.tokenFunctions = tokenFunctions;
    // Only the refresh function (claim, read, release) and the revoke function (mark a logout) touch the table.
    const { OAuthRefresh: refresh, OAuthRevoke: revoke } = tokenFunctions;
    if (this.refreshGrace !== undefined && refresh !== undefined) this.refreshGrace.grantRefresh(refresh.function);
    if (this.refreshGrace !== undefined && revoke !== undefined) this.refreshGrace.grantLogout(revoke.function);
    this.functions = Object.fromEntries(Object.entries(tokenFunctions).map(([routeId, fn]) => [routeId, fn.function]));

    // Rotation of the key secret (docs/rotation.md). The config schema already refuses rotation.enabled with
    // any backend but secrets-manager, so a secret exists here whenever rotation is on.
    // Multi-tenant mode: the same function rotates tenants' key secrets (attached per tenant, docs/multi-tenant.md).
    const rotatedSecret = config.rotation.enabled ? this.signingKey.secret : undefined;
    this.keyRotation =
      rotatedSecret !== undefined || this.tenantRegistry !== undefined
        ? new KeyRotation(this, 'KeyRotation', {
            ...(rotatedSecret !== undefined
              ? { secret: rotatedSecret, publicSecret: this.signingKey.publicSecret }
              : {}),
            ...(this.tenantRegistry !== undefined && tenancy !== undefined
              ? { tenants: { secretPrefix: tenancy.keys.secretPrefix, registryTable: this.tenantRegistry.table } }
              : {}),
            config,
            configJson: configJsonFor(rotationBundleFlags(config)),
            logRetention: retention,
          })
        : undefined;

    this.monitoring = new Monitoring(this, 'Monitoring', {
      stage: this.api.stage,
      functions: Object.entries(tokenFunctions).map(([routeId, fn]) => ({
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
    this.alarmTopic = this.monitoring.topic;
    this.tenantRegistry?.addAlarms(this.monitoring.topic);
  }

  /** The JSON of a function's QTV_CONFIG (see functionConfigFor), the key reference resolved; at most 4 KB. */
  private buildFunctionConfigJson(config: FunctionConfig, reference: string, publicSecretArn: string): string {
    const signing =
      config.signing.backend === 'kms'
        ? { ...config.signing, keyId: reference, publicSecretId: publicSecretArn }
        : { ...config.signing, secretId: reference, publicSecretId: publicSecretArn };
    const value = { ...config, signing };
    // Estimate the resolved size with a long ARN in place of the token.
    const estimate = JSON.stringify({
      ...value,
      signing: { ...signing, secretId: 'x'.repeat(120), keyId: '', publicSecretId: 'x'.repeat(120) },
    });
    if (Buffer.byteLength(estimate) > MAX_CONFIG_ENV_BYTES) {
      throw new ConfigError(
        [
          `the configuration is about ${Buffer.byteLength(estimate)} bytes as JSON, and Lambda allows 4 KB of environment variables in total; shorten identity.groups.map or identity.overrides (at most ${MAX_CONFIG_ENV_BYTES} bytes)`,
        ],
        `QlikTokenVending ${this.node.path}`,
      );
    }
    return Stack.of(this).toJsonString(value);
  }
}

/**
 * Grants for the OAuth proxy's resources, one route resource at a time (functions/routes.ts `uses`), so a
 * function can read only the secrets its route uses: the sealing secret, the proxy's client credentials
 * (client secret, or the client-assertion key: a PEM secret or KMS Sign/GetPublicKey), the impersonation
 * client's, and the admin client secret only when user provisioning is on.
 * Secret IDs may be names or ARNs; a KMS assertion key is a key ARN (checked by deploymentProblems).
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
  const kmsKeyArn =
    assertion?.backend === 'kms' ? Key.fromKeyArn(scope, 'OAuthAssertionKey', assertion.keyId).keyArn : undefined;
  const read = (grantee: IGrantable, id: string | undefined) => {
    if (id !== undefined) secret(id).grantRead(grantee);
  };
  const clientCredentials = (grantee: IGrantable) => {
    if (assertion === undefined) read(grantee, oauth.clientSecretId);
    else if (assertion.backend === 'secrets-manager') read(grantee, assertion.secretId);
    else if (kmsKeyArn !== undefined)
      grantee.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['kms:Sign', 'kms:GetPublicKey'], resources: [kmsKeyArn] }),
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
