/**
 * The tenant set-up APIs `qtv tenant add` drives besides identity providers: web integrations, CSP origins
 * and OAuth clients, each under `/api/v1/`, admin only. Shapes and status codes follow qlik.dev:
 * - web integrations, https://qlik.dev/apis/rest/web-integrations/ : `GET` (list, `data[]` + `links`),
 *   `POST` `{name, validOrigins}` -> 201, `GET`/`PATCH` (JSON Patch `op: replace` on `/name` or
 *   `/validOrigins`) -> 204, `DELETE` -> 204 on `/{id}`. The origins feed the CORS and JWT-login checks of
 *   ./cors.ts and ./jwt-login.ts, which read the same map.
 * - CSP origins, https://qlik.dev/apis/rest/csp-origins/ : `GET` (filters `origin`, `name` "wildcard and case
 *   insensitive", and one per directive), `POST` `{origin, name, description, <directive>: boolean}` -> 201,
 *   `GET`/`PUT` -> 200 and `DELETE` -> 204 on `/{id}`, `GET /actions/generate-header` -> the header.
 * - OAuth clients, https://qlik.dev/apis/rest/oauth-clients/ and the guide "Manage OAuth clients via API"
 *   (https://qlik.dev/authenticate/oauth/oauth-clients-api/): `POST` -> 201 with `clientSecret` (shown once),
 *   `GET` with an RFC 7644 `filter` on clientId, clientName, appType, `GET`/`PATCH` (JSON Patch; 204) and
 *   `DELETE` (204) on `/{id}`, `POST /{id}/client-secrets` -> 201 with a new secret. "Requires TenantAdmin".
 * What Qlik leaves open is switchable ({@link TenantConfigBehaviour}) and listed as guessed in
 * docs/tenant-emulator.md. Only `appType: "web"` clients are emulated (the kind this service uses).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { parseJson, readBody, sendJson, sendQlikError } from './http.js';
import type { WebIntegration } from './jwt-login.js';
import { type EmulatedClient, IMPERSONATION_GRANT, makeClient } from './oauth.js';
import { type Principal, requireAdmin } from './users.js';

/** Answers qlik.dev leaves open (docs/tenant-emulator.md, "guessed"). */
export interface TenantConfigBehaviour {
  /**
   * `POST /api/v1/oauth-clients` documents `allowedOrigins` as "only available with SPA application type";
   * what a `web` client's create does with it is not documented: `reject` (400), `ignore` (drops it) or
   * `accept` (keeps it). `PATCH /allowedOrigins` works on every client in all three. @default 'reject'
   */
  webClientOriginsOnCreate: 'reject' | 'ignore' | 'accept';
}

/** The defaults of {@link TenantConfigBehaviour}. */
export const DEFAULT_TENANT_CONFIG_BEHAVIOUR: Readonly<TenantConfigBehaviour> = { webClientOriginsOnCreate: 'reject' };

/** One CSP entry, as `GET /api/v1/csp-origins/{id}` returns it. */
export interface CspOrigin {
  readonly id: string;
  origin: string;
  name: string;
  description: string;
  readonly createdDate: string;
  modifiedDate: string;
  /** The directives (`frameAncestors`, `connectSrc` ...), each on or off. */
  directives: Record<CspDirective, boolean>;
}

/** The directives qlik.dev lists for a CSP entry. */
export const CSP_DIRECTIVES = [
  'childSrc',
  'connectSrc',
  'connectSrcWSS',
  'fontSrc',
  'formAction',
  'frameAncestors',
  'frameSrc',
  'imgSrc',
  'mediaSrc',
  'objectSrc',
  'scriptSrc',
  'styleSrc',
  'workerSrc',
] as const;
export type CspDirective = (typeof CSP_DIRECTIVES)[number];

/** CSP header names of the directives (generate-header). */
const CSP_HEADER_NAMES: Record<CspDirective, string> = {
  childSrc: 'child-src',
  connectSrc: 'connect-src',
  connectSrcWSS: 'connect-src',
  fontSrc: 'font-src',
  formAction: 'form-action',
  frameAncestors: 'frame-ancestors',
  frameSrc: 'frame-src',
  imgSrc: 'img-src',
  mediaSrc: 'media-src',
  objectSrc: 'object-src',
  scriptSrc: 'script-src',
  styleSrc: 'style-src',
  workerSrc: 'worker-src',
};

/** What the emulator keeps about an OAuth client beyond what the OAuth server reads. */
interface ClientRecord {
  readonly appType: 'web';
  description: string;
  readonly createdAt: string;
  updatedAt: string;
  readonly allowedGrantTypes: string[];
  readonly consentMethod: 'required' | 'trusted';
  readonly secretHints: { hint: string; createdAt: string }[];
}

/** The state these routes work on (the emulator's own maps). */
export interface TenantConfigState {
  readonly tenantId: string;
  readonly webIntegrations: Map<string, WebIntegration>;
  readonly cspOrigins: Map<string, CspOrigin>;
  readonly clients: Map<string, EmulatedClient>;
  readonly behaviour: TenantConfigBehaviour;
  readonly now: () => Date;
}

const webIntegrationMeta = new WeakMap<WebIntegration, { created: string; lastUpdated: string }>();
const clientRecords = new WeakMap<EmulatedClient, ClientRecord>();

/** Qlik's hint for a secret: its last 4 characters (the exact hint format is not documented; guessed). */
const hintOf = (secret: string) => secret.slice(-4);

const origin = z.string().min(1).max(2048);
const webIntegrationCreate = z.strictObject({
  name: z.string().min(1).max(256),
  validOrigins: z.array(origin).max(100).optional(),
});
const cspBody = z.strictObject({
  origin,
  name: z.string().max(256).optional(),
  description: z.string().max(1024).optional(),
  ...Object.fromEntries(CSP_DIRECTIVES.map((d) => [d, z.boolean().optional()])),
  // Read-only fields a client may echo back on PUT.
  id: z.string().optional(),
  createdDate: z.string().optional(),
  modifiedDate: z.string().optional(),
});
const oauthClientCreate = z.strictObject({
  appType: z.enum(['web', 'native', 'spa', 'anonymous-embed']),
  clientName: z.string().min(1).max(256),
  description: z.string().max(1024).optional(),
  allowedScopes: z.array(z.string().min(1)).optional(),
  allowedGrantTypes: z.array(z.enum(['client_credentials', IMPERSONATION_GRANT])).optional(),
  allowedOrigins: z.array(origin).max(5).optional(),
  allowedAuthMethods: z.array(z.enum(['client_secret', 'private_key_jwt'])).optional(),
  redirectUris: z.array(z.url()).max(5).optional(),
  connectionConfig: z.strictObject({ consentMethod: z.literal('trusted').optional() }).optional(),
  clientUri: z.string().optional(),
  logoUri: z.string().optional(),
});

function webIntegrationView(state: TenantConfigState, integration: WebIntegration) {
  const meta = webIntegrationMeta.get(integration);
  const at = state.now().toISOString();
  return {
    id: integration.id,
    name: integration.name,
    validOrigins: [...integration.validOrigins],
    tenantId: state.tenantId,
    created: meta?.created ?? at,
    lastUpdated: meta?.lastUpdated ?? at,
    createdBy: 'emulator-admin',
  };
}

function cspView(entry: CspOrigin) {
  return {
    id: entry.id,
    origin: entry.origin,
    name: entry.name,
    description: entry.description,
    createdDate: entry.createdDate,
    modifiedDate: entry.modifiedDate,
    ...entry.directives,
  };
}

function clientView(client: EmulatedClient) {
  const record = clientRecords.get(client);
  return {
    clientId: client.clientId,
    clientName: client.name,
    appType: record?.appType ?? 'web',
    description: record?.description ?? '',
    allowedScopes: [...client.scopes],
    allowedGrantTypes: record?.allowedGrantTypes ?? client.grantTypes.filter((g) => g !== 'authorization_code'),
    redirectUris: [...client.redirectUris],
    allowedOrigins: [...client.allowedOrigins],
    connectionConfig: { consentMethod: client.trusted ? 'trusted' : 'required' },
    clientSecrets: (record?.secretHints ?? client.secrets.map((s) => ({ hint: hintOf(s), createdAt: '' }))).map(
      (h) => ({ hint: h.hint, createdAt: h.createdAt }),
    ),
    createdAt: record?.createdAt ?? '',
    updatedAt: record?.updatedAt ?? '',
  };
}

/** Registers a web integration made through the API (or a test seed) with its timestamps. */
export function trackWebIntegration(state: Pick<TenantConfigState, 'now'>, integration: WebIntegration): void {
  const at = state.now().toISOString();
  webIntegrationMeta.set(integration, { created: at, lastUpdated: at });
}

const issues = (error: z.ZodError) => error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');

/** Applies an RFC 7644 filter of `attr eq "value"` terms joined by `and` (case-insensitive values, as RFC 7644's default). */
function clientFilter(filter: string): ((view: ReturnType<typeof clientView>) => boolean) | undefined {
  const terms = filter.split(/\s+and\s+/i);
  const tests: Array<(view: ReturnType<typeof clientView>) => boolean> = [];
  for (const term of terms) {
    const match = /^\s*(clientId|clientName|appType|tenantId|createdByType)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$/i.exec(term);
    if (!match) return undefined;
    const attribute = match[1]!;
    const value = match[2]!.replace(/\\(.)/g, '$1').toLowerCase();
    tests.push((view) => {
      const actual = (view as unknown as Record<string, unknown>)[attribute];
      return typeof actual === 'string' && actual.toLowerCase() === value;
    });
  }
  return (view) => tests.every((t) => t(view));
}

/** Matches qlik.dev's "wildcard and case insensitive" filter (`*` any run of characters). */
function wildcard(pattern: string): (value: string) => boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  const regex = new RegExp(`^${source}$`, 'i');
  return (value) => regex.test(value);
}

const WEB_INTEGRATIONS = /^\/api\/v1\/web-integrations(?:\/([^/]+))?$/;
const CSP_ORIGINS = /^\/api\/v1\/csp-origins(?:\/([^/]+))?(?:\/(actions\/generate-header))?$/;
const OAUTH_CLIENTS = /^\/api\/v1\/oauth-clients(?:\/([^/]+))?(\/client-secrets)?$/;

/** Serves web integrations, CSP origins and OAuth clients; returns false for other paths. */
export async function tenantConfigRoutes(
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
  state: TenantConfigState,
  principal: Principal | undefined,
): Promise<boolean> {
  const method = request.method ?? 'GET';
  const web = WEB_INTEGRATIONS.exec(url.pathname);
  if (web) {
    if (requireAdmin(response, principal)) await webIntegrationRoute(request, response, method, web[1], state);
    return true;
  }
  if (url.pathname === '/api/v1/csp-origins/actions/generate-header') {
    if (!requireAdmin(response, principal)) return true;
    const sources = new Map<string, string[]>();
    for (const entry of state.cspOrigins.values())
      for (const directive of CSP_DIRECTIVES) {
        if (!entry.directives[directive]) continue;
        const name = CSP_HEADER_NAMES[directive];
        const value =
          directive === 'connectSrcWSS' ? `wss://${entry.origin.replace(/^[a-z]+:\/\//i, '')}` : entry.origin;
        sources.set(name, [...(sources.get(name) ?? []), value]);
      }
    const header = [...sources].map(([name, values]) => `${name} 'self' ${values.join(' ')}`).join('; ');
    sendJson(response, 200, { 'Content-Security-Policy': header });
    return true;
  }
  const csp = CSP_ORIGINS.exec(url.pathname);
  if (csp) {
    if (requireAdmin(response, principal)) await cspRoute(request, response, method, url, csp[1], state);
    return true;
  }
  const oauth = OAUTH_CLIENTS.exec(url.pathname);
  if (oauth) {
    if (requireAdmin(response, principal))
      await oauthClientRoute(request, response, method, url, oauth[1], oauth[2] !== undefined, state);
    return true;
  }
  return false;
}

async function webIntegrationRoute(
  request: IncomingMessage,
  response: ServerResponse,
  method: string,
  id: string | undefined,
  state: TenantConfigState,
): Promise<void> {
  const bad = (detail: string) => sendQlikError(response, 400, 'WEB-INTEGRATIONS-400', 'Bad Request', detail);
  if (id === undefined) {
    if (method === 'GET')
      return sendJson(response, 200, {
        data: [...state.webIntegrations.values()].map((w) => webIntegrationView(state, w)),
        links: { self: { href: '/api/v1/web-integrations' } },
      });
    if (method === 'POST') {
      const parsed = webIntegrationCreate.safeParse(parseJson(await readBody(request)));
      if (!parsed.success) return bad(issues(parsed.error));
      const integration: WebIntegration = {
        id: randomBytes(12).toString('base64url'),
        name: parsed.data.name,
        validOrigins: [...(parsed.data.validOrigins ?? [])],
      };
      state.webIntegrations.set(integration.id, integration);
      trackWebIntegration(state, integration);
      return sendJson(response, 201, {
        ...webIntegrationView(state, integration),
        links: { self: { href: `/api/v1/web-integrations/${integration.id}` } },
      });
    }
    return sendQlikError(response, 405, 'HTTP-405', 'Method Not Allowed', 'Use GET or POST.');
  }
  const integration = state.webIntegrations.get(id);
  if (!integration)
    return sendQlikError(response, 404, 'WEB-INTEGRATIONS-404', 'Not Found', 'No such web integration.');
  if (method === 'GET') return sendJson(response, 200, webIntegrationView(state, integration));
  if (method === 'DELETE') {
    state.webIntegrations.delete(id);
    response.writeHead(204).end();
    return;
  }
  if (method === 'PATCH') {
    const ops = parseJson(await readBody(request));
    if (!Array.isArray(ops)) return bad('Send a JSON Patch array.');
    for (const op of ops as Array<{ op?: unknown; path?: unknown; value?: unknown }>) {
      if (op.op !== 'replace') return bad(`Unsupported op ${String(op.op)}: only replace.`);
      if (op.path === '/name' && typeof op.value === 'string') (integration as { name: string }).name = op.value;
      else if (op.path === '/validOrigins' && Array.isArray(op.value) && op.value.every((v) => typeof v === 'string'))
        integration.validOrigins.splice(0, integration.validOrigins.length, ...(op.value as string[]));
      else return bad(`Unsupported patch of ${String(op.path)}.`);
    }
    const meta = webIntegrationMeta.get(integration);
    if (meta) meta.lastUpdated = state.now().toISOString();
    response.writeHead(204).end();
    return;
  }
  sendQlikError(response, 405, 'HTTP-405', 'Method Not Allowed', 'Use GET, PATCH or DELETE.');
}

async function cspRoute(
  request: IncomingMessage,
  response: ServerResponse,
  method: string,
  url: URL,
  id: string | undefined,
  state: TenantConfigState,
): Promise<void> {
  const bad = (detail: string) => sendQlikError(response, 400, 'CSP-ORIGINS-400', 'Bad Request', detail);
  const directivesOf = (body: Record<string, unknown>) =>
    Object.fromEntries(CSP_DIRECTIVES.map((d) => [d, body[d] === true])) as Record<CspDirective, boolean>;
  if (id === undefined) {
    if (method === 'GET') {
      const q = url.searchParams;
      const originMatch = q.get('origin') === null ? undefined : wildcard(q.get('origin')!);
      const nameMatch = q.get('name') === null ? undefined : wildcard(q.get('name')!);
      const data = [...state.cspOrigins.values()].filter(
        (entry) =>
          (originMatch === undefined || originMatch(entry.origin)) &&
          (nameMatch === undefined || nameMatch(entry.name)) &&
          CSP_DIRECTIVES.every((d) => q.get(d) === null || String(entry.directives[d]) === q.get(d)),
      );
      return sendJson(response, 200, { data: data.map(cspView), links: { self: { href: '/api/v1/csp-origins' } } });
    }
    if (method === 'POST') {
      const parsed = cspBody.safeParse(parseJson(await readBody(request)));
      if (!parsed.success) return bad(issues(parsed.error));
      const at = state.now().toISOString();
      const entry: CspOrigin = {
        id: randomBytes(12).toString('hex'),
        origin: parsed.data.origin,
        name: parsed.data.name ?? '',
        description: parsed.data.description ?? '',
        createdDate: at,
        modifiedDate: at,
        directives: directivesOf(parsed.data),
      };
      state.cspOrigins.set(entry.id, entry);
      return sendJson(response, 201, cspView(entry));
    }
    return sendQlikError(response, 405, 'HTTP-405', 'Method Not Allowed', 'Use GET or POST.');
  }
  const entry = state.cspOrigins.get(id);
  if (!entry) return sendQlikError(response, 404, 'CSP-ORIGINS-404', 'Not Found', 'No such CSP entry.');
  if (method === 'GET') return sendJson(response, 200, cspView(entry));
  if (method === 'DELETE') {
    state.cspOrigins.delete(id);
    response.writeHead(204).end();
    return;
  }
  if (method === 'PUT') {
    const parsed = cspBody.safeParse(parseJson(await readBody(request)));
    if (!parsed.success) return bad(issues(parsed.error));
    entry.origin = parsed.data.origin;
    entry.name = parsed.data.name ?? '';
    entry.description = parsed.data.description ?? '';
    entry.directives = directivesOf(parsed.data);
    entry.modifiedDate = state.now().toISOString();
    return sendJson(response, 200, cspView(entry));
  }
  sendQlikError(response, 405, 'HTTP-405', 'Method Not Allowed', 'Use GET, PUT or DELETE.');
}

async function oauthClientRoute(
  request: IncomingMessage,
  response: ServerResponse,
  method: string,
  url: URL,
  id: string | undefined,
  secrets: boolean,
  state: TenantConfigState,
): Promise<void> {
  const bad = (detail: string) => sendQlikError(response, 400, 'OAUTH-CLIENTS-400', 'Bad Request', detail);
  if (id === undefined) {
    if (method === 'GET') {
      const filter = url.searchParams.get('filter');
      const test = filter === null ? () => true : clientFilter(filter);
      if (test === undefined) return bad(`Unsupported filter: ${filter}`);
      const data = [...state.clients.values()].map(clientView).filter(test);
      return sendJson(response, 200, { data, links: { self: { href: '/api/v1/oauth-clients' } } });
    }
    if (method === 'POST') {
      const parsed = oauthClientCreate.safeParse(parseJson(await readBody(request)));
      if (!parsed.success) return bad(issues(parsed.error));
      const body = parsed.data;
      if (body.appType !== 'web') return bad(`appType ${body.appType} is not emulated (only web).`);
      let allowedOrigins = body.allowedOrigins ?? [];
      if (allowedOrigins.length > 0) {
        const rule = state.behaviour.webClientOriginsOnCreate;
        if (rule === 'reject') return bad('allowedOrigins: only available with SPA application type.');
        if (rule === 'ignore') allowedOrigins = [];
      }
      const clientSecret = randomBytes(32).toString('base64url');
      const grants = body.allowedGrantTypes ?? [];
      const client = makeClient({
        name: body.clientName,
        secrets: [clientSecret],
        redirectUris: body.redirectUris ?? [],
        scopes: body.allowedScopes ?? ['user_default'],
        trusted: body.connectionConfig?.consentMethod === 'trusted',
        impersonation: grants.includes(IMPERSONATION_GRANT),
        clientCredentials: grants.includes('client_credentials'),
        allowedOrigins,
      });
      const at = state.now().toISOString();
      clientRecords.set(client, {
        appType: 'web',
        description: body.description ?? '',
        createdAt: at,
        updatedAt: at,
        allowedGrantTypes: [...grants],
        consentMethod: client.trusted ? 'trusted' : 'required',
        secretHints: [{ hint: hintOf(clientSecret), createdAt: at }],
      });
      state.clients.set(client.clientId, client);
      return sendJson(response, 201, { ...clientView(client), clientSecret });
    }
    return sendQlikError(response, 405, 'HTTP-405', 'Method Not Allowed', 'Use GET or POST.');
  }
  const client = state.clients.get(id);
  if (!client) return sendQlikError(response, 404, 'OAUTH-CLIENTS-404', 'Not Found', 'No such OAuth client.');
  if (secrets) {
    if (method !== 'POST') return sendQlikError(response, 405, 'HTTP-405', 'Method Not Allowed', 'Use POST.');
    // qlik-auth.md: "A client may hold up to 5 secrets at once"; the API lists 409 for this call.
    if (client.secrets.length >= 5)
      return sendQlikError(response, 409, 'OAUTH-CLIENTS-409', 'Conflict', 'The client already holds 5 secrets.');
    const clientSecret = randomBytes(32).toString('base64url');
    client.secrets.push(clientSecret);
    const at = state.now().toISOString();
    clientRecords.get(client)?.secretHints.push({ hint: hintOf(clientSecret), createdAt: at });
    return sendJson(response, 201, {
      clientId: client.clientId,
      clientSecret,
      hint: hintOf(clientSecret),
      createdAt: at,
    });
  }
  if (method === 'GET') return sendJson(response, 200, clientView(client));
  if (method === 'DELETE') {
    state.clients.delete(id);
    response.writeHead(204).end();
    return;
  }
  if (method === 'PATCH') {
    const ops = parseJson(await readBody(request));
    if (!Array.isArray(ops)) return bad('Send a JSON Patch array.');
    for (const op of ops as Array<{ op?: unknown; path?: unknown; value?: unknown }>) {
      const list = Array.isArray(op.value) ? op.value : typeof op.value === 'string' ? [op.value] : undefined;
      if (op.path === '/allowedOrigins' && list !== undefined && list.every((v) => typeof v === 'string')) {
        let next: string[];
        if (op.op === 'replace') next = [...list];
        else if (op.op === 'add')
          next = [...client.allowedOrigins, ...list.filter((o) => !client.allowedOrigins.includes(o))];
        else return bad(`Unsupported op ${String(op.op)} on /allowedOrigins.`);
        // qlik-auth.md: a client holds at most 5 origins.
        if (next.length > 5) return bad('allowedOrigins: at most 5 origins.');
        client.allowedOrigins.splice(0, client.allowedOrigins.length, ...next);
      } else if (op.path === '/description' && op.op === 'replace' && typeof op.value === 'string') {
        const record = clientRecords.get(client);
        if (record) record.description = op.value;
      } else return bad(`Unsupported patch: ${String(op.op)} ${String(op.path)} (not emulated).`);
    }
    const record = clientRecords.get(client);
    if (record) record.updatedAt = state.now().toISOString();
    response.writeHead(204).end();
    return;
  }
  sendQlikError(response, 405, 'HTTP-405', 'Method Not Allowed', 'Use GET, PATCH or DELETE.');
}
