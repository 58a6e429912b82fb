/**
 * TokenApi: the HTTP API in front of the token functions, its authorizer, CORS, throttling and access logs.
 */
import { CfnOutput, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CorsHttpMethod,
  DomainName,
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  HttpStage,
  type IHttpRouteAuthorizer,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import {
  AccountRecovery,
  FeaturePlan,
  Mfa,
  StandardThreatProtectionMode,
  UserPool,
  type UserPoolClient,
} from 'aws-cdk-lib/aws-cognito';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { RouteAuth } from '../../functions/routes.js';

/** The caller identity provider whose tokens the JWT authorizer accepts. */
export interface CallerIdpProps {
  /** Issuer URL (`iss`); API Gateway fetches `<issuer>/.well-known/openid-configuration`. */
  readonly issuer: string;
  /** Accepted `aud` (or Cognito `client_id`) values. */
  readonly audience: readonly string[];
}

/** Properties of {@link TokenApi}. */
export interface TokenApiProps {
  /**
   * The caller IdP. Absent: the construct creates a Cognito user pool and an app client and trusts those.
   * @default - a Cognito user pool created here
   */
  readonly callerIdp?: CallerIdpProps;
  /**
   * Exact browser origins allowed by CORS (no wildcards).
   * @default [] (no CORS headers: server-to-server callers only)
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * Stage-wide steady-state request rate (requests per second).
   * @default 50
   */
  readonly rateLimit?: number;
  /**
   * Stage-wide burst.
   * @default 100
   */
  readonly burstLimit?: number;
  /** Retention of the access log group. */
  readonly accessLogRetention: RetentionDays;
  /**
   * The stage name (also in the URL).
   * @default '$default' (URL without a stage segment)
   */
  readonly stageName?: string;
  /**
   * A custom domain, with an ACM certificate in the same region.
   * @default - the execute-api URL only
   */
  readonly customDomain?: { readonly domainName: string; readonly certificateArn: string };
}

/** One route to add: the same fields as an entry of functions/routes.ts (`entry`/`load` not needed). */
export interface TokenApiRoute {
  readonly id: string;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly auth: RouteAuth;
}

/**
 * An API Gateway HTTP API: a JWT authorizer on every `caller` route (the caller IdP from the config, or a
 * Cognito user pool made here), none on `public` routes, CORS with an exact origin allowlist, stage
 * throttling, JSON access logs with retention, optional custom domain. Other constructs add their routes
 * with {@link TokenApi.addFunctionRoute}.
 *
 * @example
 * const api = new TokenApi(this, 'Api', { callerIdp: { issuer, audience: ['my-app'] }, accessLogRetention: RetentionDays.ONE_MONTH });
 * api.addFunctionRoute({ id: 'QlikJwt', method: 'POST', path: '/qlik/jwt', auth: 'caller' }, fn);
 */
export class TokenApi extends Construct {
  /** The HTTP API. */
  public readonly httpApi: HttpApi;
  /** The one stage, with access logging and throttling. */
  public readonly stage: HttpStage;
  /** Access log group. */
  public readonly accessLogGroup: LogGroup;
  /** The JWT authorizer shared by every `caller` route. */
  public readonly authorizer: IHttpRouteAuthorizer;
  /** Issuer the authorizer trusts. */
  public readonly callerIssuer: string;
  /** Audiences the authorizer accepts. */
  public readonly callerAudience: readonly string[];
  /** The Cognito user pool, when the construct created one. */
  public readonly userPool: UserPool | undefined;
  /** The Cognito app client, when the construct created one. */
  public readonly userPoolClient: UserPoolClient | undefined;
  /** The custom domain, if configured. */
  public readonly domainName: DomainName | undefined;
  /** Base URL of the API (no trailing slash). */
  public readonly url: string;
  readonly #routes = new Map<string, TokenApiRoute>();

  constructor(scope: Construct, id: string, props: TokenApiProps) {
    super(scope, id);
    const origins = props.allowedOrigins ?? [];
    for (const origin of origins) {
      if (origin.includes('*')) {
        throw new Error(`TokenApi: CORS origin "${origin}" contains a wildcard; list exact origins`);
      }
    }

    if (props.callerIdp === undefined) {
      this.userPool = new UserPool(this, 'CallerPool', {
        selfSignUpEnabled: false,
        signInAliases: { email: true },
        passwordPolicy: {
          minLength: 12,
          requireDigits: true,
          requireLowercase: true,
          requireUppercase: true,
          requireSymbols: true,
        },
        mfa: Mfa.REQUIRED,
        mfaSecondFactor: { otp: true, sms: false },
        accountRecovery: AccountRecovery.EMAIL_ONLY,
        featurePlan: FeaturePlan.PLUS,
        standardThreatProtectionMode: StandardThreatProtectionMode.FULL_FUNCTION,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      this.userPoolClient = this.userPool.addClient('WebClient', {
        generateSecret: false,
        authFlows: { userSrp: true },
        preventUserExistenceErrors: true,
      });
      this.callerIssuer = this.userPool.userPoolProviderUrl;
      this.callerAudience = [this.userPoolClient.userPoolClientId];
    } else {
      this.userPool = undefined;
      this.userPoolClient = undefined;
      this.callerIssuer = props.callerIdp.issuer;
      this.callerAudience = [...props.callerIdp.audience];
    }
    this.authorizer = new HttpJwtAuthorizer('CallerJwt', this.callerIssuer, {
      jwtAudience: [...this.callerAudience],
      identitySource: ['$request.header.Authorization'],
    });

    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: 'Qlik token vending',
      createDefaultStage: false,
      ...(origins.length > 0
        ? {
            corsPreflight: {
              allowOrigins: [...origins],
              allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST, CorsHttpMethod.OPTIONS],
              // cache-control: the frontend snippet sends `Cache-Control: no-cache` to /qlik/access-token when
              // Qlik refused its still-valid token (docs/frontend.md); without it the browser blocks that retry.
              allowHeaders: ['authorization', 'content-type', 'cache-control'],
              // Bearer tokens travel in a header, not cookies.
              allowCredentials: false,
              maxAge: Duration.hours(1),
            },
          }
        : {}),
    });

    this.accessLogGroup = new LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention,
      // Kept after `cdk destroy` (an audit trail); it still expires by its retention.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    if (props.customDomain !== undefined) {
      this.domainName = new DomainName(this, 'Domain', {
        domainName: props.customDomain.domainName,
        certificate: Certificate.fromCertificateArn(this, 'Certificate', props.customDomain.certificateArn),
      });
    } else {
      this.domainName = undefined;
    }
    this.stage = new HttpStage(this, 'Stage', {
      httpApi: this.httpApi,
      stageName: props.stageName ?? '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.rateLimit ?? 50, burstLimit: props.burstLimit ?? 100 },
      detailedMetricsEnabled: true,
      ...(this.domainName ? { domainMapping: { domainName: this.domainName } } : {}),
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        // JSON, one object per request; no headers or bodies (they carry tokens).
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            httpMethod: '$context.httpMethod',
            routeKey: '$context.routeKey',
            status: '$context.status',
            protocol: '$context.protocol',
            responseLength: '$context.responseLength',
            integrationLatency: '$context.integrationLatency',
            responseLatency: '$context.responseLatency',
            integrationError: '$context.integrationErrorMessage',
            authorizerError: '$context.authorizer.error',
            caller: '$context.authorizer.claims.sub',
          }),
        ),
      },
    });
    this.url = this.domainName ? `https://${props.customDomain!.domainName}` : this.stage.url.replace(/\/$/, '');
    new CfnOutput(this, 'ApiUrl', { value: this.stage.url, description: 'Base URL of the token API' });
  }

  /** The routes added so far, by `METHOD path`. */
  public get routes(): readonly TokenApiRoute[] {
    return [...this.#routes.values()];
  }

  /**
   * Serves `route` with `fn`: `caller` routes get the JWT authorizer, `public` routes none. Other
   * constructs (OAuth proxy, key rotation) call this to add their routes to the same API.
   * @throws Error if the same method and path are added twice.
   */
  public addFunctionRoute(route: TokenApiRoute, fn: IFunction): void {
    const key = `${route.method} ${route.path}`;
    if (this.#routes.has(key)) throw new Error(`TokenApi: route ${key} is added twice`);
    this.#routes.set(key, route);
    const added = this.httpApi.addRoutes({
      path: route.path,
      methods: [HttpMethod[route.method]],
      integration: new HttpLambdaIntegration(`${route.id}Integration`, fn),
      authorizer: route.auth === 'caller' ? this.authorizer : new HttpNoneAuthorizer(),
    });
    if (route.auth === 'public') {
      for (const httpRoute of added) {
        Validations.of(httpRoute).acknowledge({
          id: 'AwsSolutions::AwsSolutions-APIG4',
          reason: `${key} is public by design in functions/routes.ts (auth: 'public'): it serves public data only`,
        });
      }
    }
  }
}
