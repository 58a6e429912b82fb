/**
 * Qlik Cloud's OAuth 2.0 authorization server, played by a real one: oidc-provider 9, mounted at
 * `/oauth/authorize`, `/oauth/token` and `/oauth/revoke`. Rules from qlik-auth.md ("OAuth 2.0 with
 * Qlik Cloud", citing https://qlik.dev/authenticate/oauth/):
 * - web (confidential) clients, `client_secret_post`; `/oauth/token` takes form or JSON bodies;
 * - PKCE required, S256 only, `code_verifier` 43–128 characters (oidc-provider enforces both);
 * - up to 5 client secrets valid at once (rotation): checked here, in front of oidc-provider;
 * - `client_assertion` (private-key JWT): RS256, RS512 or ES384, RSA ≥ 2048, `kid` required,
 *   `iss` = `sub` = client_id, `aud` = `https://<tenant>/oauth/token`, `jti`, `exp` ≤ 5 min after `iat`;
 * - grants `authorization_code`, `refresh_token`, `client_credentials`, `urn:qlik:oauth:user-impersonation`
 *   (body `{grant_type, client_id, client_secret, scope: "user_default", user_lookup: {field, value}}`,
 *   field `subject` or `userId`; the user must already exist);
 * - response `access_token` (opaque), `token_type`, `expires_at` (ISO), `scope`, `refresh_token`: no `expires_in`,
 *   which https://qlik.dev/apis/rest/oauth does not document for `/oauth/token`;
 * - errors ONLY in Qlik's documented shape `{"errors":[{code,title,detail,status}]}` (no RFC 6749 `error`
 *   member): 401 for an invalid login, a code or refresh token used/deleted/expired, or bad client credentials;
 *   403 for a disabled user; 400 for a malformed request (documented for /oauth/authorize and /oauth/revoke;
 *   guessed for /oauth/token). Qlik's own `code` values for these cases are not documented: the emulator's are
 *   opaque (`OAUTH-<status>`), so nothing can key on them;
 * - `GET /.well-known/oauth-authorization-server` (RFC 8414 metadata; https://qlik.dev/apis/rest/.well-known).
 *
 * Where Qlik is silent the behaviour is switchable ({@link EmulatorOAuthBehaviour}); docs/tenant-emulator.md
 * lists each switch as "guessed".
 *
 * Client authentication is done HERE, not by oidc-provider: every client is registered in oidc-provider
 * with one internal secret, and this layer swaps a valid Qlik credential (any of the client's secrets,
 * or a valid client assertion) for it. That keeps several secrets, Qlik's assertion rules and the
 * Qlik error shape in one readable place.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import type { KoaContextWithOIDC, OidcClient, default as ProviderClass, UnknownObject } from 'oidc-provider';
import { type Params, parseParams, qlikError, readBody, sendJson } from './http.js';
import { ADMIN_SCOPE, type EmulatedUser, type UserDirectory } from './users.js';

/** Qlik's impersonation grant type. */
export const IMPERSONATION_GRANT = 'urn:qlik:oauth:user-impersonation';
/** The scope Qlik gives user tokens (impersonation requires it). */
export const USER_SCOPE = 'user_default';
/** Algorithms Qlik accepts for client assertions (qlik-auth.md). */
export const CLIENT_ASSERTION_ALGORITHMS = ['RS256', 'RS512', 'ES384'] as const;
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Qlik allows up to 5 secrets per client at once (qlik-auth.md). */
export const MAX_CLIENT_SECRETS = 5;

/** What a test gives to register an OAuth client. */
export interface OAuthClientSeed {
  readonly clientId?: string;
  readonly name?: string;
  /** Valid client secrets (1–5). A client needs secrets or `publicKeys`. */
  readonly secrets?: readonly string[];
  /** Public keys for `private_key_jwt` client assertions (PEM public key/certificate or KeyObject). */
  readonly publicKeys?: readonly { readonly kid: string; readonly key: KeyObject | string }[];
  /** Exact redirect URIs; non-empty enables authorization_code (+ refresh_token). */
  readonly redirectUris?: readonly string[];
  /** Scopes the client may get. @default openid profile email offline_access user_default (+ admin_classic for admin clients) */
  readonly scopes?: readonly string[];
  /** Consent "trusted": no consent prompt. @default true */
  readonly trusted?: boolean;
  /** "Machine-to-machine impersonation": may use the impersonation grant. @default false */
  readonly impersonation?: boolean;
  /** May use client_credentials. @default false (true for admin clients) */
  readonly clientCredentials?: boolean;
  /** Admin M2M client: client_credentials with scope admin_classic (user look-up/creation, IdP API). @default false */
  readonly admin?: boolean;
  /** "Allowed origins": browser origins that may use this client's tokens (CORS, ./cors.ts). @default [] */
  readonly allowedOrigins?: readonly string[];
}

/** A registered client, as the emulator keeps it. */
export interface EmulatedClient {
  readonly clientId: string;
  readonly name: string;
  /** Mutable so tests can rotate: push a new secret, drop the old one. */
  secrets: string[];
  readonly publicKeys: { kid: string; key: KeyObject }[];
  readonly redirectUris: string[];
  readonly scopes: string[];
  readonly trusted: boolean;
  readonly grantTypes: string[];
  /** "Allowed origins" (CORS for browser use of this client's tokens; ./cors.ts). */
  readonly allowedOrigins: string[];
  /** The secret oidc-provider knows; never leaves the emulator. */
  readonly internalSecret: string;
}

/**
 * Answers Qlik does not document, switchable so the proxy can be tested against each (qlik-auth.md,
 * "Documented vs. guessed").
 */
export interface EmulatorOAuthBehaviour {
  /** HTTP status (Qlik's error shape) of the impersonation grant for a user that does not exist. @default 401 */
  impersonationUnknownUserStatus: 400 | 401 | 403 | 404;
  /** Whether `/oauth/revoke` needs client authentication. @default 'required' */
  revokeClientAuthentication: 'required' | 'optional';
  /**
   * A refresh token presented again after it was used: `revoke-grant` refuses it and revokes every token of
   * the grant (RFC 9700 §4.14.2 reuse detection, oidc-provider's default); `reject` refuses it and keeps the
   * rest; `no-rotation` issues no new refresh token, so the same one stays valid. @default 'revoke-grant'
   */
  refreshTokenReuse: 'revoke-grant' | 'reject' | 'no-rotation';
}

/** The defaults of {@link EmulatorOAuthBehaviour}. */
export const DEFAULT_OAUTH_BEHAVIOUR: Readonly<EmulatorOAuthBehaviour> = {
  impersonationUnknownUserStatus: 401,
  revokeClientAuthentication: 'required',
  refreshTokenReuse: 'revoke-grant',
};

/** The emulator state the OAuth server reads: users, clients, the tenant host (client assertion audience). */
export interface OAuthEmulatorHooks {
  /** Read on every request, so tests can switch it on a running emulator. */
  readonly behaviour: EmulatorOAuthBehaviour;
  readonly users: UserDirectory;
  readonly tenantHost: string;
  readonly clients: Map<string, EmulatedClient>;
  /** Client assertion jti values seen (replay refusal). */
  readonly assertionJtis: Set<string>;
}

let providerModule: Promise<typeof import('oidc-provider')> | undefined;

/**
 * Imports oidc-provider once. It prints "Unsupported runtime" on Node 20 (it wants ≥ 22; toolchain.md
 * says 9.x works on 20) and a notice when a pre-parsed body reaches it (which this layer does on
 * purpose); both are dropped, every other console line passes through.
 */
function loadProvider(): Promise<typeof import('oidc-provider')> {
  if (!providerModule) {
    const original = console.warn;
    console.warn = (...args: unknown[]) => {
      const first = String(args[0] ?? '');
      if (
        first.includes('oidc-provider WARNING: Unsupported runtime') ||
        first.includes('oidc-provider WARNING: already parsed request body')
      )
        return;
      original.apply(console, args);
    };
    providerModule = import('oidc-provider');
  }
  return providerModule;
}

/** Registers a client from a seed (validates secrets, key sizes). */
export function makeClient(seed: OAuthClientSeed): EmulatedClient {
  const secrets = [...(seed.secrets ?? [])];
  if (secrets.length > MAX_CLIENT_SECRETS) throw new TypeError(`a client holds at most ${MAX_CLIENT_SECRETS} secrets`);
  const publicKeys = (seed.publicKeys ?? []).map(({ kid, key }) => {
    const keyObject = typeof key === 'string' ? createPublicKey(key) : key;
    const bits = keyObject.asymmetricKeyDetails?.modulusLength;
    // Qlik: "RSA ≥ 2048" for client assertions.
    if (keyObject.asymmetricKeyType === 'rsa' && (bits ?? 0) < 2048)
      throw new TypeError('RSA keys must be ≥ 2048 bits');
    return { kid, key: keyObject.type === 'private' ? createPublicKey(keyObject) : keyObject };
  });
  if (secrets.length === 0 && publicKeys.length === 0) throw new TypeError('a client needs secrets or publicKeys');
  const redirectUris = [...(seed.redirectUris ?? [])];
  const admin = seed.admin ?? false;
  const grantTypes: string[] = [];
  if (redirectUris.length > 0) grantTypes.push('authorization_code', 'refresh_token');
  if (seed.clientCredentials || admin) grantTypes.push('client_credentials');
  if (seed.impersonation) grantTypes.push(IMPERSONATION_GRANT);
  const scopes = [
    ...(seed.scopes ?? ['openid', 'profile', 'email', 'offline_access', USER_SCOPE]),
    ...(admin ? [ADMIN_SCOPE] : []),
  ];
  return {
    clientId: seed.clientId ?? randomBytes(16).toString('hex'),
    name: seed.name ?? 'emulated client',
    secrets,
    publicKeys,
    redirectUris,
    scopes: [...new Set(scopes)],
    trusted: seed.trusted ?? true,
    grantTypes,
    allowedOrigins: [...(seed.allowedOrigins ?? [])],
    internalSecret: randomBytes(32).toString('base64url'),
  };
}

/** oidc-provider client metadata for a client. */
function clientMetadata(client: EmulatedClient) {
  return {
    client_id: client.clientId,
    client_secret: client.internalSecret,
    client_name: client.name,
    token_endpoint_auth_method: 'client_secret_post',
    redirect_uris: client.redirectUris,
    response_types: client.redirectUris.length > 0 ? ['code'] : [],
    grant_types: client.grantTypes,
    scope: client.scopes.join(' '),
  };
}

/** A minimal in-memory oidc-provider adapter; `Client` reads the emulator's registry, so clients added later work at once. */
function adapterFactory(clients: Map<string, EmulatedClient>) {
  const store = new Map<string, { payload: UnknownObject; expiresAt: number }>();
  const grants = new Map<string, Set<string>>();
  const uids = new Map<string, string>();
  return class EmulatorAdapter {
    constructor(private readonly model: string) {}
    #key(id: string) {
      return `${this.model}:${id}`;
    }
    async upsert(id: string, payload: UnknownObject, expiresIn?: number) {
      const key = this.#key(id);
      store.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY });
      if (typeof payload.grantId === 'string') {
        const members = grants.get(payload.grantId) ?? new Set();
        members.add(key);
        grants.set(payload.grantId, members);
      }
      if (this.model === 'Session' && typeof payload.uid === 'string') uids.set(payload.uid, id);
    }
    async find(id: string) {
      if (this.model === 'Client') {
        const client = clients.get(id);
        return client ? clientMetadata(client) : undefined;
      }
      const entry = store.get(this.#key(id));
      if (!entry) return undefined;
      if (entry.expiresAt <= Date.now()) {
        store.delete(this.#key(id));
        return undefined;
      }
      return entry.payload;
    }
    async findByUid(uid: string) {
      const id = uids.get(uid);
      return id === undefined ? undefined : this.find(id);
    }
    async findByUserCode() {
      return undefined;
    }
    async consume(id: string) {
      const entry = store.get(this.#key(id));
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      store.delete(this.#key(id));
    }
    async revokeByGrantId(grantId: string) {
      for (const key of grants.get(grantId) ?? []) store.delete(key);
      grants.delete(grantId);
    }
  };
}

/** The parts of the OAuth server the rest of the emulator uses. */
export interface OAuthServer {
  readonly provider: ProviderClass;
  /** Handles `/oauth/*` and `/interaction/*`; returns false for other paths. */
  handle(request: IncomingMessage, response: ServerResponse, url: URL): Promise<boolean>;
  /** Resolves an opaque access token to its user or client (undefined when unknown, expired or revoked). */
  resolveAccessToken(
    token: string,
  ): Promise<
    { kind: 'user'; user: EmulatedUser } | { kind: 'client'; clientId: string; scopes: Set<string> } | undefined
  >;
}

const OAUTH_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
};

/**
 * The HTTP status Qlik documents for each failure (https://qlik.dev/apis/rest/oauth): 401 for bad client
 * credentials and for a code/refresh token used, deleted or expired (oidc-provider's `invalid_grant`);
 * 400 for the rest (a malformed request: documented for /oauth/authorize and /oauth/revoke, guessed here).
 */
const STATUS_OF_RFC_ERROR: Record<string, number> = { invalid_client: 401, invalid_grant: 401 };

/** Qlik's error body for an OAuth failure: `errors[]` only, with an opaque code (Qlik's own are undocumented). */
export function oauthErrorBody(status: number, description: string) {
  return qlikError(status, `OAUTH-${status}`, OAUTH_TITLES[status] ?? 'Error', description);
}

/** The status Qlik documents for an RFC 6749 error code raised by oidc-provider. */
export function qlikStatusOf(rfcError: string): number {
  return STATUS_OF_RFC_ERROR[rfcError] ?? 400;
}

function sendOAuthError(response: ServerResponse, status: number, description: string) {
  sendJson(response, status, oauthErrorBody(status, description));
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Authenticates the client of a token/revoke request the way Qlik does; on success rewrites the
 * params to carry the internal secret oidc-provider knows.
 * @returns an error description, or undefined on success.
 */
async function authenticateClient(params: Params, hooks: OAuthEmulatorHooks, tokenUrls: string[]) {
  const assertion = params.client_assertion;
  if (typeof assertion === 'string') {
    if (params.client_assertion_type !== CLIENT_ASSERTION_TYPE) return 'client_assertion_type must be jwt-bearer';
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(assertion);
    } catch {
      return 'client_assertion is not a JWT';
    }
    if (typeof header.kid !== 'string' || header.kid === '') return 'client_assertion needs a kid header';
    if (!CLIENT_ASSERTION_ALGORITHMS.includes(header.alg as never))
      return `client_assertion alg must be one of ${CLIENT_ASSERTION_ALGORITHMS.join(', ')}`;
    let claimedId: unknown;
    try {
      claimedId = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString()).iss;
    } catch {
      return 'client_assertion is not a JWT';
    }
    const clientId = typeof params.client_id === 'string' ? params.client_id : claimedId;
    const client = typeof clientId === 'string' ? hooks.clients.get(clientId) : undefined;
    const key = client?.publicKeys.find((k) => k.kid === header.kid)?.key;
    if (!client || !key) return 'unknown client or key';
    try {
      const { payload } = await jwtVerify(assertion, key, {
        algorithms: [...CLIENT_ASSERTION_ALGORITHMS],
        issuer: client.clientId,
        subject: client.clientId,
        audience: tokenUrls,
        requiredClaims: ['jti', 'exp', 'iat'],
      });
      // Qlik: exp at most 5 minutes after iat.
      if ((payload.exp ?? 0) - (payload.iat ?? 0) > 300) return 'client_assertion exp must be ≤ 5 minutes after iat';
      const jti = `${client.clientId}:${payload.jti}`;
      if (hooks.assertionJtis.has(jti)) return 'client_assertion jti was already used';
      hooks.assertionJtis.add(jti);
    } catch (error) {
      return `client_assertion rejected (${(error as { code?: string }).code ?? 'invalid'})`;
    }
    delete params.client_assertion;
    delete params.client_assertion_type;
    params.client_id = client.clientId;
    params.client_secret = client.internalSecret;
    return undefined;
  }
  const client = typeof params.client_id === 'string' ? hooks.clients.get(params.client_id) : undefined;
  const secret = params.client_secret;
  if (!client || typeof secret !== 'string' || !client.secrets.some((s) => safeEqual(s, secret)))
    return 'client authentication failed';
  params.client_secret = client.internalSecret;
  return undefined;
}

/** The login/consent page at the interaction URL: a test (fetch) or a headless browser picks a user. */
function loginPage(uid: string, users: EmulatedUser[], prompt: string, clientName: string): string {
  const htmlEscape = (s: string) =>
    s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
  if (prompt === 'consent') {
    return `<!doctype html><title>Consent</title><h1>Allow ${htmlEscape(clientName)}?</h1>
<form method="post" action="/interaction/${uid}/confirm"><button type="submit" id="allow">Allow</button></form>`;
  }
  const options = users
    .map((u) => `<button type="submit" name="subject" value="${htmlEscape(u.subject)}">${htmlEscape(u.name)}</button>`)
    .join('\n');
  return `<!doctype html><title>Sign in</title><h1>Qlik Cloud tenant emulator: sign in</h1>
<form method="post" action="/interaction/${uid}/login">
<label>Subject <input name="subject" id="subject"></label> <button type="submit" id="sign-in">Sign in</button>
${options}</form>`;
}

/** Creates the OAuth server for one emulated tenant. */
export async function createOAuthServer(issuer: string, hooks: OAuthEmulatorHooks): Promise<OAuthServer> {
  const { default: Provider, errors } = await loadProvider();
  const { users, clients } = hooks;
  // Accept Qlik's documented audience and, for a plain-http emulator, the URL actually called.
  const tokenUrls = [`https://${hooks.tenantHost}/oauth/token`, `${issuer}/oauth/token`];
  const idTokenKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

  const Adapter = adapterFactory(clients);
  const provider = new Provider(issuer, {
    adapter: Adapter as never,
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    jwks: { keys: [{ ...idTokenKey, kid: 'emulator-id-token', use: 'sig', alg: 'RS256' }] as never },
    findAccount: async (_ctx: unknown, id: string) => {
      const user = users.byId(id);
      if (!user) return undefined;
      return {
        accountId: user.id,
        claims: async () => ({ sub: user.id, name: user.name, email: user.email, email_verified: true }),
      };
    },
    claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
    scopes: ['openid', 'profile', 'email', 'offline_access', USER_SCOPE, ADMIN_SCOPE],
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true, allowedPolicy: async () => true },
      clientCredentials: { enabled: true },
      // Access tokens stay opaque ("do not parse", qlik-auth.md): no resource server, no JWT format.
      resourceIndicators: { enabled: false },
    },
    // Qlik: PKCE required, S256 only; oidc-provider 9 supports S256 only and checks the 43–128 length.
    pkce: { required: () => true },
    routes: {
      authorization: '/oauth/authorize',
      token: '/oauth/token',
      revocation: '/oauth/revoke',
      userinfo: '/oauth/userinfo',
      jwks: '/oauth/jwks',
      end_session: '/oauth/logout',
    },
    // Qlik: access tokens ~6 h (expires_in e.g. 21600), refresh tokens ~30 days.
    ttl: {
      AccessToken: 21_600,
      ClientCredentials: 21_600,
      AuthorizationCode: 60,
      RefreshToken: 30 * 86_400,
      IdToken: 3600,
      Grant: 30 * 86_400,
      Interaction: 600,
      Session: 86_400,
    },
    // Qlik issues refresh tokens to confidential clients; every emulated client is confidential.
    issueRefreshToken: async (_ctx: unknown, client: OidcClient) => client.grantTypeAllowed('refresh_token'),
    // Rotation on use, unless the (guessed) behaviour says Qlik keeps the refresh token.
    rotateRefreshToken: () => hooks.behaviour.refreshTokenReuse !== 'no-rotation',
    interactions: { url: async (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    // Consent "trusted" skips the prompt: grant every requested scope the client may have.
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const { client, session, params, result } = ctx.oidc;
      if (!client || !session?.accountId) return undefined;
      const grantId = result?.consent?.grantId ?? session.grantIdFor(client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      if (!clients.get(client.clientId)?.trusted) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
      grant.addOIDCScope(String(params?.scope ?? ''));
      await grant.save();
      session.grantIdFor(client.clientId, grant.jti);
      return grant;
    },
    renderError: async (ctx: KoaContextWithOIDC, out: Record<string, unknown>) => {
      ctx.type = 'json';
      ctx.body = oauthErrorBody(ctx.status, String(out.error_description ?? out.error ?? ''));
    },
  });
  provider.proxy = false;

  // Impersonation: a custom grant. The user must exist (Qlik's reference backend creates it first).
  provider.registerGrantType(
    IMPERSONATION_GRANT,
    async (ctx: KoaContextWithOIDC) => {
      const client = ctx.oidc.client!;
      const scope = String(ctx.oidc.params?.scope ?? USER_SCOPE);
      if (scope !== USER_SCOPE) throw new errors.InvalidScope(`impersonation needs scope ${USER_SCOPE}`, scope);
      let lookup: { field?: unknown; value?: unknown };
      try {
        lookup = JSON.parse(String(ctx.oidc.params?.user_lookup ?? ''));
      } catch {
        throw new errors.InvalidRequest('user_lookup must be an object {field, value}');
      }
      if ((lookup.field !== 'subject' && lookup.field !== 'userId') || typeof lookup.value !== 'string')
        throw new errors.InvalidRequest('user_lookup.field must be "subject" or "userId", with a string value');
      const user = lookup.field === 'subject' ? users.bySubject(lookup.value) : users.byId(lookup.value);
      if (user === undefined) {
        // Qlik does not document this answer: the status is switchable (hooks.behaviour), the shape is Qlik's.
        const status = hooks.behaviour.impersonationUnknownUserStatus;
        ctx.status = status;
        ctx.body = oauthErrorBody(status, 'user not found');
        return;
      }
      if (user.status !== 'active') {
        // Qlik: 403 when the user is disabled.
        ctx.status = 403;
        ctx.body = oauthErrorBody(403, 'user is not active');
        return;
      }
      const grant = new provider.Grant({ clientId: client.clientId, accountId: user.id });
      grant.addOIDCScope(scope);
      const grantId = await grant.save();
      const token = new provider.AccessToken({ accountId: user.id, client, grantId, scope, gty: IMPERSONATION_GRANT });
      ctx.oidc.entity('AccessToken', token);
      const value = await token.save();
      // expires_in is turned into Qlik's expires_at by the middleware below.
      ctx.body = { access_token: value, token_type: 'Bearer', expires_in: token.expiration, scope };
    },
    ['scope', 'user_lookup'],
  );

  // Qlik's success body (`expires_at`, no `expires_in`) and Qlik's error shape and statuses on failure.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/oauth/authorize') {
      // Qlik: an error redirect follows RFC 6749 §4.1.2.1 "with an additional error_code parameter with the
      // internal error code" (https://qlik.dev/apis/rest/oauth). The internal codes are not listed: opaque here.
      const location = (ctx as unknown as { response: { get(name: string): string; set(n: string, v: string): void } })
        .response;
      const target = location.get('location');
      if (target) {
        // Relative locations (the interaction pages) carry no error.
        const url = new URL(target, issuer);
        if (url.searchParams.has('error') && !url.searchParams.has('error_code')) {
          url.searchParams.set('error_code', 'OAUTH-AUTHORIZE');
          location.set('location', url.href);
        }
      }
      return;
    }
    if (ctx.path !== '/oauth/token' && ctx.path !== '/oauth/revoke') return;
    const body = ctx.body as Record<string, unknown> | undefined;
    if (ctx.status >= 400 && body && typeof body.error === 'string') {
      const status = qlikStatusOf(body.error);
      ctx.status = status;
      ctx.body = oauthErrorBody(status, String(body.error_description ?? ''));
    } else if (ctx.status === 200 && body && typeof body.expires_in === 'number') {
      const { expires_in: expiresIn, ...rest } = body;
      ctx.body = { ...rest, expires_at: new Date(Date.now() + (expiresIn as number) * 1000).toISOString() };
    }
  });

  const callback = provider.callback();

  async function interaction(request: IncomingMessage, response: ServerResponse, url: URL) {
    const match = /^\/interaction\/([^/]+)(?:\/(login|confirm))?$/.exec(url.pathname);
    if (!match) return false;
    try {
      const details = await provider.interactionDetails(request, response);
      if (match[2] === undefined && request.method === 'GET') {
        const client = clients.get(String(details.params.client_id));
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        response.end(loginPage(details.uid, users.list(), details.prompt.name, client?.name ?? ''));
        return true;
      }
      if (request.method !== 'POST') return false;
      const form = parseParams(request.headers['content-type'], await readBody(request)) ?? {};
      if (match[2] === 'login') {
        const subject = typeof form.subject === 'string' ? form.subject : undefined;
        const user = subject === undefined ? undefined : (users.bySubject(subject) ?? users.byId(subject));
        if (!user) {
          await provider.interactionFinished(request, response, {
            error: 'access_denied',
            error_description: 'unknown user',
          });
          return true;
        }
        await provider.interactionFinished(
          request,
          response,
          { login: { accountId: user.id } },
          { mergeWithLastSubmission: false },
        );
        return true;
      }
      // Consent for a client that is not trusted: grant what was asked.
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({
            accountId: String(details.session?.accountId),
            clientId: String(details.params.client_id),
          });
      grant!.addOIDCScope(String(details.params.scope ?? ''));
      const grantId = await grant!.save();
      await provider.interactionFinished(
        request,
        response,
        { consent: { grantId } },
        { mergeWithLastSubmission: true },
      );
      return true;
    } catch (error) {
      sendOAuthError(response, 400, `interaction failed: ${(error as Error).message}`);
      return true;
    }
  }

  /** RFC 8414 metadata at Qlik's documented discovery path (https://qlik.dev/apis/rest/.well-known). */
  function metadata() {
    return {
      issuer,
      authorization_endpoint: `${issuer}/oauth/authorize`,
      token_endpoint: `${issuer}/oauth/token`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials', IMPERSONATION_GRANT],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: [...CLIENT_ASSERTION_ALGORITHMS],
      scopes_supported: [USER_SCOPE, 'offline_access'],
    };
  }

  /** Revocation without client authentication (the "optional" guess): the token alone identifies itself. */
  async function revokeUnauthenticated(params: Params, response: ServerResponse) {
    const token = typeof params.token === 'string' ? params.token : undefined;
    if (token === undefined) {
      sendOAuthError(response, 400, 'token is required');
      return;
    }
    const found = (await provider.AccessToken.find(token)) ?? (await provider.RefreshToken.find(token));
    // RFC 7009 §2.1: revoking a refresh token may revoke the whole grant; revoking either here does.
    if (typeof found?.grantId === 'string') await new Adapter('Grant').revokeByGrantId(found.grantId);
    sendJson(response, 200, {});
  }

  async function handle(request: IncomingMessage, response: ServerResponse, url: URL): Promise<boolean> {
    if (url.pathname === '/.well-known/oauth-authorization-server' && request.method === 'GET') {
      sendJson(response, 200, metadata());
      return true;
    }
    if (url.pathname.startsWith('/interaction/')) return interaction(request, response, url);
    if (!url.pathname.startsWith('/oauth/')) return false;
    if (request.method === 'POST' && (url.pathname === '/oauth/token' || url.pathname === '/oauth/revoke')) {
      const params = parseParams(request.headers['content-type'], await readBody(request));
      if (!params) {
        sendOAuthError(response, 400, 'send application/x-www-form-urlencoded or application/json');
        return true;
      }
      const anonymous = params.client_id === undefined && params.client_assertion === undefined;
      if (url.pathname === '/oauth/revoke' && anonymous && hooks.behaviour.revokeClientAuthentication === 'optional') {
        await revokeUnauthenticated(params, response);
        return true;
      }
      const failure = await authenticateClient(params, hooks, tokenUrls);
      if (failure !== undefined) {
        sendOAuthError(response, 401, failure);
        return true;
      }
      if (
        params.grant_type === 'refresh_token' &&
        typeof params.refresh_token === 'string' &&
        hooks.behaviour.refreshTokenReuse === 'reject'
      ) {
        // Refuse a used refresh token WITHOUT revoking its grant (oidc-provider alone would revoke it).
        const used = await provider.RefreshToken.find(params.refresh_token);
        if (used?.consumed) {
          sendOAuthError(response, 401, 'refresh token already used');
          return true;
        }
      }
      // Hand oidc-provider a form body (it parses form only at these endpoints); objects such as
      // the impersonation grant's user_lookup travel as JSON strings.
      const form: Record<string, string> = {};
      for (const [key, value] of Object.entries(params))
        if (value !== undefined && value !== null)
          form[key] = typeof value === 'string' ? value : JSON.stringify(value);
      (request as IncomingMessage & { body?: unknown }).body = form;
      request.headers['content-type'] = 'application/x-www-form-urlencoded';
      // koa's type check needs a body length; the body itself is read from request.body.
      request.headers['content-length'] = String(Buffer.byteLength(new URLSearchParams(form).toString()));
      delete request.headers['transfer-encoding'];
    }
    await callback(request, response);
    return true;
  }

  async function resolveAccessToken(token: string) {
    const access = await provider.AccessToken.find(token);
    if (access?.accountId) {
      const user = users.byId(access.accountId);
      return user && user.status === 'active' ? { kind: 'user' as const, user } : undefined;
    }
    const credentials = await provider.ClientCredentials.find(token);
    if (credentials?.clientId) {
      return {
        kind: 'client' as const,
        clientId: credentials.clientId,
        scopes: new Set(
          String(credentials.scope ?? '')
            .split(' ')
            .filter(Boolean),
        ),
      };
    }
    return undefined;
  }

  return { provider, handle, resolveAccessToken };
}
