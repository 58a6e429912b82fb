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
 * names none). Least privilege per route (docs/security.md, "Who may touch what"):
 * - `signing-key`: the Qlik signing key (secret read, or KMS Sign + GetPublicKey): only `/qlik/jwt`.
 * - `signing-public`: the key's public material only (the public-material secret, and KMS GetPublicKey):
 *   `/qlik/idp-config`, which is public and so must hold no signing power.
 * - `oauth-sealing`: the cookie sealing secret (the client secret when no sealing secret is configured).
 * - `oauth-client`: the proxy's client credentials (client secret, or the client-assertion key).
 * - `oauth-impersonation`: the credentials of the client that asks for impersonation tokens.
 * - `oauth-admin`: the admin client secret, only when `oauth.impersonation.provisionUsers` is on.
 */
export type RouteResource =
  | 'signing-key'
  | 'signing-public'
  | 'oauth-sealing'
  | 'oauth-client'
  | 'oauth-impersonation'
  | 'oauth-admin';

/** What of the tenants' resources a route's function may read (see {@link RouteDefinition.tenantAccess}). */
export type TenantAccess = 'keys' | 'public-material' | 'oauth';

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
  /**
   * In multi-tenant mode the function resolves the caller's tenant: it reads the tenant registry and the
   * tenants' keys or OAuth secrets (granted by the TenantRegistry construct; bundled under QTV_BUNDLE_TENANCY).
   */
  readonly servesTenants?: boolean;
  /**
   * What of the tenants' resources the function may read in multi-tenant mode (infra/constructs/tenant-registry.ts):
   * `keys` the tenants' signing keys (token routes), `public-material` only their public-material secrets and
   * `kms:GetPublicKey` (the public `/qlik/idp-config`), `oauth` only the secrets under `<prefix><id>/` (OAuth
   * proxy routes). @default 'keys'
   */
  readonly tenantAccess?: TenantAccess;
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
  uses: readonly RouteResource[],
): RouteDefinition[] {
  return [
    {
      id,
      method,
      path,
      auth: 'public',
      entry: `functions/oauth/${file}.ts`,
      uses,
      requires: 'oauth',
      // Multi-tenant: the tenant's OAuth client and sealing secrets under `<prefix><id>/`, never a signing key.
      servesTenants: true,
      tenantAccess: 'oauth',
      load: async () => ({ createHandler: (await import('./oauth/handler.js'))[factory] }),
    },
  ];
}

/** What the OAuth routes that talk to Qlik's token endpoint use. */
const OAUTH_TOKEN_USES: readonly RouteResource[] = ['oauth-sealing', 'oauth-client'];

/** Every route of the token API. */
export const routes: readonly RouteDefinition[] = [
  {
    id: 'QlikJwt',
    method: 'POST',
    path: '/qlik/jwt',
    auth: 'caller',
    entry: 'functions/qlik-jwt/index.ts',
    uses: ['signing-key'],
    servesTenants: true,
    load: () => import('./qlik-jwt/handler.js'),
  },
  {
    id: 'IdpConfig',
    method: 'GET',
    path: '/qlik/idp-config',
    auth: 'public',
    entry: 'functions/idp-config/index.ts',
    // Public material only: a public route must not be able to sign (docs/security.md).
    uses: ['signing-public'],
    // `?tenant=<id>`: that tenant's public material, never its key (tenantAccess: public-material).
    servesTenants: true,
    tenantAccess: 'public-material',
    // Its core imports certificates.ts (publicKeyPem), and the dev server's file backend makes a
    // self-signed certificate when none is stored: its bundle carries the certificate code.
    makesCertificates: true,
    load: () => import('./idp-config/handler.js'),
  },
  {
    id: 'QlikAccessToken',
    method: 'POST',
    path: '/qlik/access-token',
    auth: 'caller',
    entry: 'functions/qlik-access-token/index.ts',
    uses: ['oauth-impersonation', 'oauth-admin'],
    servesTenants: true,
    requires: 'impersonation',
    load: () => import('./qlik-access-token/handler.js'),
  },
  // Login only seals the state cookie; the others also authenticate the client to Qlik.
  ...oauthRoute('OAuthLogin', 'GET', '/oauth/login', 'login', 'createLoginHandler', ['oauth-sealing']),
  ...oauthRoute('OAuthCallback', 'GET', '/oauth/callback', 'callback', 'createCallbackHandler', OAUTH_TOKEN_USES),
  ...oauthRoute(
    'OAuthCodeExchange',
    'POST',
    '/oauth/code-exchange',
    'code-exchange',
    'createCodeExchangeHandler',
    OAUTH_TOKEN_USES,
  ),
  ...oauthRoute('OAuthRefresh', 'POST', '/oauth/refresh', 'refresh', 'createRefreshHandler', OAUTH_TOKEN_USES),
  ...oauthRoute('OAuthRevoke', 'POST', '/oauth/revoke', 'revoke', 'createRevokeHandler', OAUTH_TOKEN_USES),
];

/** Whether `config` enables `feature`. */
export function featureEnabled(config: Pick<Config, 'oauth' | 'tenancy'>, feature: RouteFeature): boolean {
  // Multi-tenant mode: each tenant's registry item holds its own OAuth client (a route answers 404
  // NOT_CONFIGURED for a tenant without one), so the routes exist whenever tenants do.
  if (config.tenancy !== undefined) return true;
  if (feature === 'oauth') return config.oauth !== undefined;
  return config.oauth?.impersonation.enabled === true;
}

/** The routes `config` serves: every route whose `requires` feature (if any) is enabled. */
export function routesFor(
  config: Pick<Config, 'oauth' | 'tenancy'>,
  table: readonly RouteDefinition[] = routes,
): RouteDefinition[] {
  return table.filter((route) => route.requires === undefined || featureEnabled(config, route.requires));
}
