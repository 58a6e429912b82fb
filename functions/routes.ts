/**
 * The one route table: the CDK TokenApi and the local dev server both read it, so a route
 * cannot exist in one and not the other.
 */

import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { Config } from './runtime/config.js';
import type { Runtime } from './runtime/wiring.js';

/** The shape of every handler: a payload-2.0 event in, a structured result out. */
export type LambdaHandlerLike = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** Who may call a route. `caller`: a bearer token verified by the JWT authorizer. */
export type RouteAuth = 'caller' | 'public';

/**
 * AWS resources a route's function uses; the CDK stack grants exactly these (and nothing for a route that
 * names none). `signing-key`: the Qlik signing key (secret read, or KMS Sign + GetPublicKey). `oauth-client`:
 * the OAuth proxy's secrets (client, sealing, impersonation and admin client secrets; the client-assertion key).
 */
export type RouteResource = 'signing-key' | 'oauth-client';

/** A configuration feature a route exists for; without it, the route is not deployed or served. */
export type RouteFeature = 'oauth' | 'impersonation';

/** One HTTP route served by one Lambda function. */
export interface RouteDefinition {
  /** Stable identifier; used for construct IDs and function names. */
  readonly id: string;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly auth: RouteAuth;
  /** Lambda entry file, relative to the repository root. */
  readonly entry: string;
  /** What the function needs in AWS; absent means nothing beyond logging and tracing. */
  readonly uses?: readonly RouteResource[];
  /** The function makes X.509 certificates (its bundle carries @peculiar/x509; see runtime/bundle-flags.ts). */
  readonly makesCertificates?: boolean;
  /** Served only when the configuration enables this feature (see {@link routesFor}). */
  readonly requires?: RouteFeature;
  /** Loads the module exporting `createHandler(runtime)` (the dev server calls it; Lambdas use `entry`). */
  readonly load: () => Promise<{ createHandler: (runtime: Runtime) => LambdaHandlerLike }>;
}

type OAuthHandlerFactory =
  | 'createLoginHandler'
  | 'createCallbackHandler'
  | 'createCodeExchangeHandler'
  | 'createRefreshHandler'
  | 'createRevokeHandler';

/** An OAuth proxy route: public (the browser or SPA calls it without a caller token), one entry file each. */
function oauthRoute(
  id: string,
  method: 'GET' | 'POST',
  path: string,
  file: string,
  factory: OAuthHandlerFactory,
): RouteDefinition[] {
  return [
    {
      id,
      method,
      path,
      auth: 'public',
      entry: `functions/oauth/${file}.ts`,
      uses: ['oauth-client'],
      requires: 'oauth',
      load: async () => ({ createHandler: (await import('./oauth/handler.js'))[factory] }),
    },
  ];
}

/** Every route of the token API. */
export const routes: readonly RouteDefinition[] = [
  {
    id: 'QlikJwt',
    method: 'POST',
    path: '/qlik/jwt',
    auth: 'caller',
    entry: 'functions/qlik-jwt/index.ts',
    uses: ['signing-key'],
    load: () => import('./qlik-jwt/handler.js'),
  },
  {
    id: 'IdpConfig',
    method: 'GET',
    path: '/qlik/idp-config',
    auth: 'public',
    entry: 'functions/idp-config/index.ts',
    // Derives the public key and certificate from the key (KMS: GetPublicKey, and Sign to self-sign).
    uses: ['signing-key'],
    // Without a stored certificate it makes a self-signed one for the key.
    makesCertificates: true,
    load: () => import('./idp-config/handler.js'),
  },
  {
    id: 'QlikAccessToken',
    method: 'POST',
    path: '/qlik/access-token',
    auth: 'caller',
    entry: 'functions/qlik-access-token/index.ts',
    uses: ['oauth-client'],
    requires: 'impersonation',
    load: () => import('./qlik-access-token/handler.js'),
  },
  ...oauthRoute('OAuthLogin', 'GET', '/oauth/login', 'login', 'createLoginHandler'),
  ...oauthRoute('OAuthCallback', 'GET', '/oauth/callback', 'callback', 'createCallbackHandler'),
  ...oauthRoute('OAuthCodeExchange', 'POST', '/oauth/code-exchange', 'code-exchange', 'createCodeExchangeHandler'),
  ...oauthRoute('OAuthRefresh', 'POST', '/oauth/refresh', 'refresh', 'createRefreshHandler'),
  ...oauthRoute('OAuthRevoke', 'POST', '/oauth/revoke', 'revoke', 'createRevokeHandler'),
];

/** Whether `config` enables `feature`. */
export function featureEnabled(config: Pick<Config, 'oauth'>, feature: RouteFeature): boolean {
  if (feature === 'oauth') return config.oauth !== undefined;
  return config.oauth?.impersonation.enabled === true;
}

/** The routes `config` serves: every route whose `requires` feature (if any) is enabled. */
export function routesFor(
  config: Pick<Config, 'oauth'>,
  table: readonly RouteDefinition[] = routes,
): RouteDefinition[] {
  return table.filter((route) => route.requires === undefined || featureEnabled(config, route.requires));
}
