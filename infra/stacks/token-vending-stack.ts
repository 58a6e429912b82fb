/**
 * The token vending stack of this repository's CDK app: the QlikTokenVending construct built from one validated
 * configuration file, plus the outputs a tenant admin needs to configure Qlik. No logic of its own.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { RouteDefinition } from '../../functions/routes.js';
import type { Config } from '../../functions/runtime/config.js';
import type { KeyRotation } from '../constructs/key-rotation.js';
import type { Monitoring } from '../constructs/monitoring.js';
import { QlikTokenVending } from '../constructs/qlik-token-vending.js';
import type { RefreshGraceTable } from '../constructs/refresh-grace-table.js';
import type { SigningKey } from '../constructs/signing-key.js';
import type { TenantRegistry } from '../constructs/tenant-registry.js';
import type { TokenApi } from '../constructs/token-api.js';
import type { TokenFunction } from '../constructs/token-function.js';

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
 * The token API as its own stack: {@link QlikTokenVending} and the outputs.
 *
 * @example
 * new TokenVendingStack(app, 'QlikTokenVending-dev', { config: loadConfigFile('config/dev.json') });
 */
export class TokenVendingStack extends Stack {
  /** The construct with everything in it. */
  public readonly vending: QlikTokenVending;
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
  /** The tenant registry table and its grants, when `tenancy` is configured (multi-tenant mode). */
  public readonly tenantRegistry: TenantRegistry | undefined;
  /** The configuration every function reads from `QTV_CONFIG` (see {@link QlikTokenVending.functionConfigJson}). */
  public readonly functionConfigJson: string;

  constructor(scope: Construct, id: string, props: TokenVendingStackProps) {
    super(scope, id, props);
    // The ID "Default" adds nothing to logical IDs, so the resources keep the IDs they had when they sat directly
    // in this stack: an update after the move replaces nothing (the retained secret keeps its name and ARN).
    this.vending = new QlikTokenVending(
      this,
      'Default',
      props.config,
      props.routes !== undefined ? { routes: props.routes } : {},
    );
    this.signingKey = this.vending.signingKey;
    this.api = this.vending.api;
    this.functions = this.vending.tokenFunctions;
    this.monitoring = this.vending.monitoring;
    this.keyRotation = this.vending.keyRotation;
    this.refreshGrace = this.vending.refreshGrace;
    this.tenantRegistry = this.vending.tenantRegistry;
    this.functionConfigJson = this.vending.functionConfigJson;
    this.addOutputs(this.vending.config);
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
          this.tenantRegistry !== undefined
            ? 'Rotates tenant key secrets (attach: qtv tenant rotation <id> --function <this name>) and, with rotation.enabled, the signing key secret'
            : 'Rotates the signing key secret; rotate now with: aws secretsmanager rotate-secret --secret-id <SigningSecretArn>',
      });
    }
  }
}
