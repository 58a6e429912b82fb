/**
 * A Qlik Cloud tenant emulator for tests and local runs: OAuth 2.0 (oidc-provider), users, JWT login
 * with sessions and CSRF, web integrations with CORS, the JWT identity-provider API and the tenant set-up
 * APIs (web integrations, CSP origins, OAuth clients), on one plain http server on 127.0.0.1. See docs/tenant-emulator.md for what it emulates and what it does not.
 *
 * @example
 * const tenant = await startTenantEmulator({ users: [{ subject: 'alice', name: 'Alice', email: 'a@x.io' }] });
 * const client = tenant.addClient({ secrets: ['s3cret'], redirectUris: ['http://127.0.0.1:9/cb'] });
 * // ... drive /oauth/authorize with completeAuthorization() from ./browser.js
 * await tenant.close();
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CorsOptions, qlikCorsHeaders, qlikPreflightHeaders } from './cors.js';
import { bearerToken, sendJson, sendQlikError } from './http.js';
import {
  IdentityProviderRegistry,
  identityProviderRoutes,
  type JwtIdentityProvider,
  type JwtIdpSeed,
} from './identity-providers.js';
import {
  csrfToken,
  type EmulatedSession,
  type JwtLoginContext,
  jwtSession,
  type RateLimit,
  sessionUser,
  WEB_INTEGRATION_HEADER,
  type WebIntegration,
} from './jwt-login.js';
import {
  createOAuthServer,
  DEFAULT_OAUTH_BEHAVIOUR,
  type EmulatedClient,
  type EmulatorOAuthBehaviour,
  makeClient,
  type OAuthClientSeed,
} from './oauth.js';
import { QLIK_EMBED_MAIN_PATH, serveQlikEmbedMain } from './qlik-embed.js';
import {
  type CspOrigin,
  DEFAULT_TENANT_CONFIG_BEHAVIOUR,
  type TenantConfigBehaviour,
  tenantConfigRoutes,
  trackWebIntegration,
} from './tenant-config.js';
import { type EmulatedUser, type Principal, UserDirectory, type UserSeed, userRoutes } from './users.js';

export type { CorsOptions } from './cors.js';
export type { QlikErrorBody } from './http.js';
export type { JwtIdentityProvider, JwtIdpSeed } from './identity-providers.js';
export type { EmulatedSession, RateLimit, WebIntegration } from './jwt-login.js';
export { CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, SIGNATURE_SUFFIX, WEB_INTEGRATION_HEADER } from './jwt-login.js';
export type { EmulatedClient, EmulatorOAuthBehaviour, OAuthClientSeed } from './oauth.js';
export {
  CLIENT_ASSERTION_ALGORITHMS,
  DEFAULT_OAUTH_BEHAVIOUR,
  IMPERSONATION_GRANT,
  oauthErrorBody,
  USER_SCOPE,
} from './oauth.js';
export type { CspOrigin, TenantConfigBehaviour } from './tenant-config.js';
export { CSP_DIRECTIVES, DEFAULT_TENANT_CONFIG_BEHAVIOUR } from './tenant-config.js';
export type { EmulatedUser, Principal, UserSeed } from './users.js';
export { ADMIN_SCOPE } from './users.js';

/** A web integration to configure: its ID (generated when absent) and allowed origins. */
export interface WebIntegrationSeed {
  readonly id?: string;
  readonly name?: string;
  readonly validOrigins: readonly string[];
}

/**
 * A fault for requests whose path equals `path`: wait `delayMs`, then either answer `status` with
 * `body` (a string, sent as is, so "garbage JSON" is `body: '{not json'`), or, without `status`,
 * carry on normally (a slow tenant). `times` limits how many requests it hits (default: all).
 */
export interface Fault {
  readonly path: string;
  readonly delayMs?: number;
  readonly status?: number;
  readonly body?: string;
  /** @default 'application/json' */
  readonly contentType?: string;
  times?: number;
}

/** One request the emulator received (no bodies, no credentials). */
export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  /** Non-secret headers only: origin, content-type, qlik-web-integration-id. */
  readonly headers: Readonly<Record<string, string>>;
  /** Response status; 0 until the response finished. */
  status: number;
  readonly at: Date;
}

/** How to start an emulator. Everything can also be added later through {@link TenantEmulator}. */
export interface TenantEmulatorOptions {
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 0 (a free port) */
  readonly port?: number;
  /** @default a random 32-character ID */
  readonly tenantId?: string;
  readonly users?: readonly UserSeed[];
  readonly clients?: readonly OAuthClientSeed[];
  readonly webIntegrations?: readonly WebIntegrationSeed[];
  readonly jwtIdentityProviders?: readonly JwtIdpSeed[];
  /**
   * A static admin API key (Qlik API keys are bearer tokens too): `Authorization: Bearer <key>` is
   * admin on the users and identity-provider APIs. @default a random key, exposed as `adminApiKey`
   */
  readonly adminApiKey?: string;
  /** Rate limit for `/login/jwt-session` (Qlik: 100/min). @default off */
  readonly jwtSessionRateLimit?: RateLimit;
  /** Shifts the emulator's clock for JWT login checks (ms, may be negative). @default 0 */
  readonly clockOffsetMs?: number;
  /** Switches for the CORS answers Qlik does not document (./cors.ts). @default documented behaviour */
  readonly cors?: CorsOptions;
  /** Answers Qlik does not document (see docs/tenant-emulator.md). @default DEFAULT_OAUTH_BEHAVIOUR */
  readonly oauthBehaviour?: Partial<EmulatorOAuthBehaviour>;
  /** Answers the set-up APIs (web integrations, CSP origins, OAuth clients) leave open (./tenant-config.ts). */
  readonly tenantConfigBehaviour?: Partial<TenantConfigBehaviour>;
}

/** A running tenant emulator. */
export interface TenantEmulator {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** The tenant host (`127.0.0.1:<port>`): what `qlik.tenantHost` takes; same as {@link issuer}. */
  readonly tenantHost: string;
  /** The "tenant host" (`host:port`), as the brief names it. Client assertions use aud `https://<issuer>/oauth/token`. */
  readonly issuer: string;
  readonly tenantId: string;
  /** The static admin API key (bearer). */
  readonly adminApiKey: string;
  readonly users: UserDirectory;
  readonly clients: ReadonlyMap<string, EmulatedClient>;
  readonly webIntegrations: ReadonlyMap<string, WebIntegration>;
  /** CSP entries made through `/api/v1/csp-origins`. */
  readonly cspOrigins: ReadonlyMap<string, CspOrigin>;
  /** The guessed answers of the set-up APIs (live: changes apply to the next request). */
  readonly tenantConfigBehaviour: TenantConfigBehaviour;
  readonly identityProviders: IdentityProviderRegistry;
  readonly sessions: ReadonlyMap<string, EmulatedSession>;
  /** Requests received so far, oldest first. */
  readonly requests: readonly ReceivedRequest[];
  addUser(seed: UserSeed): EmulatedUser;
  /** Registers an OAuth client; the returned object's `secrets` array may be edited to rotate. */
  addClient(seed: OAuthClientSeed): EmulatedClient;
  addWebIntegration(seed: WebIntegrationSeed): WebIntegration;
  addJwtIdentityProvider(seed: JwtIdpSeed): JwtIdentityProvider;
  /** Shifts the clock used by JWT login (not oidc-provider's, which reads the system clock). */
  setClockOffset(ms: number): void;
  setJwtSessionRateLimit(limit: RateLimit | undefined): void;
  /** Switches the CORS guesses (./cors.ts) at run time. */
  setCorsOptions(options: CorsOptions): void;
  /** The current guessed OAuth behaviour (live: changes apply to the next request). */
  readonly oauthBehaviour: Readonly<EmulatorOAuthBehaviour>;
  /** Switches one or more guessed OAuth behaviours on the running emulator. */
  setOAuthBehaviour(change: Partial<EmulatorOAuthBehaviour>): void;
  injectFault(fault: Fault): void;
  clearFaults(): void;
  clearRequests(): void;
  /** Stops listening and drops open connections (including ones a fault holds). */
  close(): Promise<void>;
}

const RECORDED_HEADERS = ['origin', 'content-type', WEB_INTEGRATION_HEADER] as const;

/** Starts a tenant emulator on 127.0.0.1 (port 0 by default). */
export async function startTenantEmulator(options: TenantEmulatorOptions = {}): Promise<TenantEmulator> {
  const host = options.host ?? '127.0.0.1';
  const tenantId = options.tenantId ?? randomBytes(16).toString('hex');
  const adminApiKey = options.adminApiKey ?? `emulator-admin-${randomBytes(24).toString('base64url')}`;
  let clockOffsetMs = options.clockOffsetMs ?? 0;
  let corsOptions: CorsOptions = options.cors ?? {};
  const nowMs = () => Date.now() + clockOffsetMs;
  const users = new UserDirectory(tenantId);
  const idps = new IdentityProviderRegistry(tenantId, () => new Date(nowMs()));
  const clients = new Map<string, EmulatedClient>();
  const webIntegrations = new Map<string, WebIntegration>();
  const cspOrigins = new Map<string, CspOrigin>();
  const tenantConfigBehaviour: TenantConfigBehaviour = {
    ...DEFAULT_TENANT_CONFIG_BEHAVIOUR,
    ...options.tenantConfigBehaviour,
  };
  const faults: Fault[] = [];
  // Pending fault delays, so close() can end a "hanging" tenant at once instead of waiting them out.
  const delays = new Set<NodeJS.Timeout>();
  const requests: ReceivedRequest[] = [];
  const login: JwtLoginContext = {
    users,
    idps,
    webIntegrations,
    sessions: new Map(),
    seenJtis: new Map(),
    nowMs,
    rateLimit: options.jwtSessionRateLimit,
    rateWindow: { start: 0, count: 0 },
  };
  let oauth: Awaited<ReturnType<typeof createOAuthServer>> | undefined;

  async function principalOf(request: IncomingMessage): Promise<Principal | undefined> {
    const token = bearerToken(request);
    if (token !== undefined) {
      if (token === adminApiKey) return { kind: 'api-key' };
      const resolved = await oauth?.resolveAccessToken(token);
      if (resolved?.kind === 'user') return { kind: 'user', user: resolved.user, via: 'access-token' };
      return resolved;
    }
    const user = sessionUser(request, login);
    return user ? { kind: 'user', user, via: 'session' } : undefined;
  }

  async function route(request: IncomingMessage, response: ServerResponse) {
    const url = new URL(request.url ?? '/', `http://${request.headers.host ?? host}`);
    const record: ReceivedRequest = {
      method: request.method ?? 'GET',
      path: url.pathname,
      query: url.search,
      headers: Object.fromEntries(
        RECORDED_HEADERS.flatMap((name) => {
          const value = request.headers[name];
          return typeof value === 'string' ? [[name, value]] : [];
        }),
      ),
      status: 0,
      at: new Date(),
    };
    requests.push(record);
    response.once('finish', () => {
      record.status = response.statusCode;
    });

    const fault = faults.find((f) => f.path === url.pathname && (f.times === undefined || f.times > 0));
    if (fault) {
      if (fault.times !== undefined) fault.times -= 1;
      if (fault.delayMs) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            delays.delete(timer);
            resolve();
          }, fault.delayMs);
          delays.add(timer);
        });
      }
      if (fault.status !== undefined) {
        response.writeHead(fault.status, { 'content-type': fault.contentType ?? 'application/json' });
        response.end(fault.body ?? '');
        return;
      }
    }

    // Qlik's browser runtime (./qlik-embed.ts): what @qlik/api and qlik-embed load their auth code from.
    if (url.pathname === QLIK_EMBED_MAIN_PATH && request.method === 'GET') return serveQlikEmbedMain(response);

    // /resources/: @qlik/api's platform probe (product-info.json) must read the emulator's 404 (./qlik-embed.ts).
    const browserFacing = ['/api/', '/login/', '/resources/'].some((prefix) => url.pathname.startsWith(prefix));
    if (browserFacing) {
      const cors = qlikCorsHeaders(request, { webIntegrations, clients }, corsOptions);
      if (request.method === 'OPTIONS') {
        response.writeHead(204, { ...cors, ...qlikPreflightHeaders(corsOptions) });
        response.end();
        return;
      }
      for (const [name, value] of Object.entries(cors)) response.setHeader(name, value);
    }

    if (await oauth!.handle(request, response, url)) return;
    if (url.pathname === '/login/jwt-session' && request.method === 'POST') return jwtSession(request, response, login);
    if (url.pathname === '/api/v1/csrf-token' && request.method === 'GET') return csrfToken(request, response, login);
    if (url.pathname.startsWith('/api/v1/')) {
      const principal = await principalOf(request);
      if (await userRoutes(request, response, url, users, principal)) return;
      if (await identityProviderRoutes(request, response, url, idps, principal, () => new Date(nowMs()))) return;
      const configState = {
        tenantId,
        webIntegrations,
        cspOrigins,
        clients,
        behaviour: tenantConfigBehaviour,
        now: () => new Date(nowMs()),
      };
      if (await tenantConfigRoutes(request, response, url, configState, principal)) return;
    }
    sendQlikError(response, 404, 'HTTP-404', 'Not Found', `${request.method} ${url.pathname} is not emulated.`);
  }

  const server = createServer((request, response) => {
    route(request, response).catch((error: unknown) => {
      if (!response.headersSent)
        sendJson(response, 500, {
          errors: [
            { code: 'EMULATOR-500', title: 'Emulator fault', detail: String((error as Error).message), status: '500' },
          ],
        });
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const tenantHost = `${host}:${port}`;
  const url = `http://${tenantHost}`;
  const behaviour: EmulatorOAuthBehaviour = { ...DEFAULT_OAUTH_BEHAVIOUR, ...options.oauthBehaviour };
  oauth = await createOAuthServer(url, { users, tenantHost, clients, assertionJtis: new Set(), behaviour });

  const emulator: TenantEmulator = {
    url,
    tenantHost,
    issuer: tenantHost,
    tenantId,
    adminApiKey,
    users,
    clients,
    webIntegrations,
    cspOrigins,
    tenantConfigBehaviour,
    identityProviders: idps,
    sessions: login.sessions,
    requests,
    addUser: (seed) => users.add(seed),
    addClient(seed) {
      const client = makeClient(seed);
      clients.set(client.clientId, client);
      return client;
    },
    addWebIntegration(seed) {
      const integration: WebIntegration = {
        id: seed.id ?? randomBytes(12).toString('base64url'),
        name: seed.name ?? 'emulated web integration',
        validOrigins: [...seed.validOrigins],
      };
      webIntegrations.set(integration.id, integration);
      trackWebIntegration({ now: () => new Date(nowMs()) }, integration);
      return integration;
    },
    addJwtIdentityProvider: (seed) => idps.add(seed),
    setClockOffset(ms) {
      clockOffsetMs = ms;
    },
    setCorsOptions(next) {
      corsOptions = next;
    },
    setJwtSessionRateLimit(limit) {
      login.rateLimit = limit;
      login.rateWindow.start = 0;
      login.rateWindow.count = 0;
    },
    oauthBehaviour: behaviour,
    setOAuthBehaviour(change) {
      Object.assign(behaviour, change);
    },
    injectFault: (fault) => faults.push(fault),
    clearFaults: () => {
      faults.length = 0;
    },
    clearRequests: () => {
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of delays) clearTimeout(timer);
        delays.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  for (const seed of options.users ?? []) emulator.addUser(seed);
  for (const seed of options.clients ?? []) emulator.addClient(seed);
  for (const seed of options.webIntegrations ?? []) emulator.addWebIntegration(seed);
  for (const seed of options.jwtIdentityProviders ?? []) emulator.addJwtIdentityProvider(seed);
  return emulator;
}
