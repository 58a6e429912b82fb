/**
 * `npm start`: the token API on 127.0.0.1 with embedded defaults (a generated dev key, an embedded
 * dev identity provider), calling the same handler modules as the Lambdas.
 *
 *   npm start                                  # file key in .local/, dev identity provider
 *   npm start -- --secrets-manager <secret-id> # key from Secrets Manager (AWS_ENDPOINT_URL honoured)
 *   npm start -- --config config/dev.json      # your own configuration file
 *   npm start -- --tenant http://127.0.0.1:8788 # OAuth proxy against `npm run emulator` (or your config's oauth section)
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Logger } from '@aws-lambda-powertools/logger';
import { ConfigError, TokenVendingError } from '../functions/errors.js';
import { problem } from '../functions/http/lambda-http.js';
import { routes as allRoutes, type RouteDefinition, routesFor } from '../functions/routes.js';
import {
  type Config,
  type ConfigInput,
  loadConfigFile,
  loadDevServerSettings,
  loadEmulatorSettings,
  parseConfig,
} from '../functions/runtime/config.js';
import { createRuntime, prefetchSigningKey, type Runtime, SERVICE_NAME } from '../functions/runtime/wiring.js';
import { MemorySecretStore } from '../functions/secrets/secret-source.js';
import { DEV_AUDIENCE, DevIdentityProvider, devTokenRequestSchema } from './dev/dev-identity.js';
import { ensureDevSigningKey } from './dev/dev-keys.js';
import { ensureDevTenants, withDevTenants } from './dev/dev-tenants.js';
import { discoveredKeySet, type LocalAuthorizer } from './dev/jwt-authorizer.js';
import {
  createClientErrorHandler,
  createLocalApiGateway,
  guardRequestListener,
  type LocalHandler,
  type LocalRoute,
} from './dev/local-api-gateway.js';

/** The issuer the dev configuration uses for Qlik tokens. */
export const DEV_QLIK_ISSUER = 'https://qlik-token-vending.local/dev';
/** The key ID the dev configuration uses. */
export const DEV_KEY_ID = 'qtv-dev';

/** How to start a dev server. */
export interface DevServerOptions {
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  /** Folder for generated dev keys. @default '.local' */
  readonly localDir?: string;
  /** Use this configuration instead of the embedded default (the dev IdP is still served). */
  readonly config?: (baseUrl: string) => ConfigInput;
  /** Overrides for the runtime (tests inject clocks, loggers, signers). */
  readonly runtimeOverrides?: Parameters<typeof createRuntime>[1];
  /**
   * Qlik tenant URL for the OAuth proxy (`--tenant`), e.g. the tenant emulator's. Without an `oauth`
   * section in the configuration, the emulator's demo clients are used (see {@link withTenant}).
   */
  readonly tenantUrl?: string;
  /** Log level of the handlers' logger. @default 'WARN' */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  /** The guessed, switchable rules of the local JWT authorizer (scripts/dev/jwt-authorizer.ts). */
  readonly authorizer?: Pick<LocalAuthorizer, 'bearerPrefix' | 'algorithms'>;
  /**
   * Awaited once the port listens and before the routes are wired (tests use it to send a request
   * while the server is still starting).
   */
  readonly onListening?: (url: string) => Promise<void> | void;
}

/** Seconds a client is told to wait while the dev server is still starting. */
const STARTING_RETRY_AFTER_SECONDS = 1;

/**
 * Answers every request that arrives between `listen` and the routes being ready: 503 problem+json
 * with Retry-After, as API Gateway answers while a Lambda cannot serve yet, so a script polling for
 * readiness gets an answer instead of a hanging connection.
 */
const startingListener: RequestListener = (request, response) => {
  request.resume();
  sendProblem(
    response,
    problem(503, 'UPSTREAM_UNAVAILABLE', 'The dev server is starting: retry in a moment.', {
      'retry-after': String(STARTING_RETRY_AFTER_SECONDS),
    }),
  );
};

/** A running dev server. */
export interface DevServer {
  readonly url: string;
  readonly config: Config;
  readonly runtime: Runtime;
  readonly identityProvider: DevIdentityProvider;
  readonly server: Server;
  close(): Promise<void>;
}

function sendJson(response: ServerResponse, status: number, body: unknown) {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  response.end(JSON.stringify(body));
}

function sendProblem(response: ServerResponse, result: ReturnType<typeof problem>) {
  response.writeHead(result.statusCode ?? 500, result.headers as Record<string, string>);
  response.end(result.body);
}

/**
 * Serves `/dev/identity/*`, and answers a route this configuration leaves out (the OAuth proxy and
 * `/qlik/access-token` without an `oauth` section) with 404 NOT_CONFIGURED and how to turn it on, where
 * plain routing would say only NOT_FOUND. Returns false for other paths.
 */
function devIdentityRoutes(idp: DevIdentityProvider, disabled: readonly RouteDefinition[] = []) {
  return async (request: IncomingMessage, response: ServerResponse, body: Buffer): Promise<boolean> => {
    const path = new URL(request.url ?? '/', 'http://local').pathname;
    const off = disabled.find((route) => route.path === path);
    if (off !== undefined) {
      sendProblem(
        response,
        problem(
          404,
          'NOT_CONFIGURED',
          `${off.path} needs the ${off.requires === 'impersonation' ? 'OAuth impersonation' : 'OAuth proxy'} configuration: start the dev server with --tenant <Qlik tenant URL> (e.g. \`npm run emulator\`, then \`npm start -- --tenant http://127.0.0.1:8788\`), or add an "oauth" section to --config.`,
        ),
      );
      return true;
    }
    if (request.method === 'GET' && path === '/dev/app') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      response.end(DEV_APP_PAGE);
      return true;
    }
    if (!path.startsWith('/dev/identity/')) return false;
    if (request.method === 'GET' && path === '/dev/identity/.well-known/openid-configuration')
      sendJson(response, 200, idp.discovery());
    else if (request.method === 'GET' && path === '/dev/identity/jwks.json') sendJson(response, 200, await idp.jwks());
    else if (request.method === 'POST' && path === '/dev/identity/token') {
      if (!/^application\/json\b/i.test(request.headers['content-type'] ?? '')) {
        sendProblem(response, problem(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send {"sub": "..."} as application/json.'));
        return true;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        sendProblem(response, problem(400, 'INVALID_REQUEST', 'The request body is not valid JSON.'));
        return true;
      }
      const result = devTokenRequestSchema.safeParse(parsed);
      if (!result.success) {
        sendProblem(
          response,
          problem(
            400,
            'INVALID_REQUEST',
            result.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
          ),
        );
        return true;
      }
      sendJson(response, 200, { id_token: await idp.mint(result.data), token_type: 'Bearer', expires_in: 3600 });
    } else sendProblem(response, problem(404, 'NOT_FOUND', `No route ${request.method} ${path}.`));
    return true;
  };
}

/** The embedded default configuration: file key, dev identity provider, generic claim mapping. */
export function defaultDevConfig(
  baseUrl: string,
  keys: { privateKeyPath: string; certificatePath: string },
): ConfigInput {
  return {
    qlik: { issuer: DEV_QLIK_ISSUER, keyId: DEV_KEY_ID },
    identity: { preset: 'generic' },
    signing: { backend: 'file', privateKeyPath: keys.privateKeyPath, certificatePath: keys.certificatePath },
    callerIdp: { issuer: `${baseUrl}/dev/identity`, audience: [DEV_AUDIENCE] },
    cors: { allowedOrigins: [baseUrl, 'http://localhost:5173', 'http://127.0.0.1:5173'] },
  };
}

/**
 * The demo clients `npm run emulator` seeds (docs/tenant-emulator.md). `--tenant` without an `oauth`
 * section in the configuration wires the OAuth proxy to them; their secrets are the emulator's public
 * demo values, served from memory, never real ones.
 */
export const EMULATOR_DEMO_CLIENTS = {
  web: { clientId: 'demo-web-client', secret: 'demo-web-secret' },
  impersonation: { clientId: 'demo-m2m-client', secret: 'demo-m2m-secret' },
  admin: { clientId: 'demo-admin-client', secret: 'demo-admin-secret' },
} as const;

/**
 * Points a configuration at a tenant URL (e.g. the emulator's `http://127.0.0.1:8788`): sets
 * `qlik.tenantHost` and `oauth.tenantUrl`; adds an OAuth section for the emulator's demo clients when
 * the configuration has none. Returns the secret store those demo clients need (or undefined).
 */
export function withTenant(
  base: ConfigInput,
  tenantUrl: string,
  baseUrl: string,
): { config: ConfigInput; secretStore: MemorySecretStore | undefined } {
  const tenantHost = new URL(tenantUrl).host;
  const qlik = { ...base.qlik, tenantHost };
  if (base.oauth !== undefined)
    return { config: { ...base, qlik, oauth: { ...base.oauth, tenantUrl } }, secretStore: undefined };
  const demo = EMULATOR_DEMO_CLIENTS;
  const secretStore = new MemorySecretStore({
    'emulator/web-client': demo.web.secret,
    'emulator/impersonation-client': demo.impersonation.secret,
    'emulator/admin-client': demo.admin.secret,
  });
  return {
    secretStore,
    config: {
      ...base,
      qlik,
      oauth: {
        tenantUrl,
        clientId: demo.web.clientId,
        clientSecretId: 'emulator/web-client',
        redirectUris: [`${baseUrl}/oauth/callback`],
        appReturnUrls: [`${baseUrl}/dev/app`],
        mode: 'cookie',
        impersonation: {
          enabled: true,
          clientId: demo.impersonation.clientId,
          clientSecretId: 'emulator/impersonation-client',
          provisionUsers: true,
          adminClientId: demo.admin.clientId,
          adminClientSecretId: 'emulator/admin-client',
        },
      },
    },
  };
}

/** A page standing in for "the app" after an OAuth login in cookie mode (dev server only). */
const DEV_APP_PAGE = `<!doctype html><meta charset="utf-8"><title>qlik-token-vending dev app</title>
<h1>Dev app</h1><p id="status">Checking the session...</p>
<script>
fetch('/oauth/refresh', { method: 'POST', headers: { accept: 'application/json' } })
  .then((r) => r.json().then((body) => ({ ok: r.ok, body })))
  .then(({ ok, body }) => {
    document.getElementById('status').textContent = ok
      ? 'Signed in; Qlik access token valid until ' + body.expiresAt
      : 'Not signed in (' + (body.code || body.error) + '). Go to /oauth/login?returnTo=' + location.href;
    document.body.dataset.session = ok ? 'active' : 'none';
  });
</script>`;

/** Starts a dev server; resolves once it listens. */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
  const host = options.host ?? '127.0.0.1';
  // The listener is attached before listening, so no accepted connection is ever left unanswered:
  // until the routes are wired it is startingListener (503 + Retry-After), then the local API Gateway.
  let listener: RequestListener = startingListener;
  const server = createServer((request, response) => listener(request, response));
  // A request Node's HTTP parser refuses (bad chunk size, body cut short): 400 and close, logged once.
  let log = (message: string) => console.warn(message);
  server.on(
    'clientError',
    createClientErrorHandler((message) => log(message)),
  );
  // Listen first: the issuer of the dev identity provider contains the real port.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8787, host, () => resolve());
  });
  try {
    const { port } = server.address() as AddressInfo;
    const baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    await options.onListening?.(baseUrl);
    const identityProvider = new DevIdentityProvider(`${baseUrl}/dev/identity`);
    const keys = await ensureDevSigningKey(options.localDir ?? '.local');
    let input = options.config ? options.config(baseUrl) : defaultDevConfig(baseUrl, keys);
    let oauthSecretStore: MemorySecretStore | undefined;
    if (options.tenantUrl !== undefined) {
      const pointed = withTenant(input, options.tenantUrl, baseUrl);
      input = pointed.config;
      oauthSecretStore = pointed.secretStore;
    }
    const config = parseConfig(input, 'dev server configuration');
    const logger = new Logger({ serviceName: SERVICE_NAME, logLevel: options.logLevel ?? 'WARN' });
    log = (message) => logger.warn(message);
    const runtime = createRuntime(config, {
      logger,
      ...(oauthSecretStore !== undefined ? { oauthSecretStore } : {}),
      ...options.runtimeOverrides,
    });
    prefetchSigningKey(runtime);
    const enabledRoutes = routesFor(config);
    const disabledRoutes = allRoutes.filter((route) => !enabledRoutes.includes(route));
    const localRoutes: LocalRoute[] = await Promise.all(
      enabledRoutes.map(async (route) => {
        const module = await route.load();
        return { route, handler: module.createHandler(runtime) as LocalHandler };
      }),
    );
    const callerIdp = config.callerIdp ?? { issuer: identityProvider.issuer, audience: [DEV_AUDIENCE] };
    // Keys are found as API Gateway finds them, through the issuer's OIDC discovery document (jwks_uri),
    // for the embedded dev identity provider too (it is served by this very server).
    const keySet = discoveredKeySet(callerIdp.issuer);
    listener = guardRequestListener(
      createLocalApiGateway({
        routes: localRoutes,
        authorizer: {
          issuer: callerIdp.issuer,
          audience: callerIdp.audience,
          keys: keySet,
          ...options.authorizer,
        },
        allowedOrigins: config.cors.allowedOrigins,
        extra: devIdentityRoutes(identityProvider, disabledRoutes),
      }),
      (message) => log(message),
    );
    return {
      url: baseUrl,
      config,
      runtime,
      identityProvider,
      server,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  } catch (error) {
    server.close();
    throw error;
  }
}

function shellQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/** The tenant emulator's port (`EMULATOR_PORT`, default 8788); 8788 when that setting is unusable. */
function emulatorPort(): number {
  try {
    return loadEmulatorSettings().port;
  } catch {
    return 8788;
  }
}

/** The first line of an error's cause chain that names what went wrong (no values, no stack). */
export function errorReason(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 4; depth++) {
    const e = current as { name?: string; code?: string; message?: string; cause?: unknown };
    if (depth > 0) parts.push(`${e.code ?? e.name ?? 'Error'}: ${String(e.message ?? '').split('\n')[0]}`);
    current = e.cause;
  }
  return parts.length > 0 ? parts.join(' <- ') : (String((error as Error)?.message ?? error).split('\n')[0] ?? '');
}

/** What to do when the configured signing key cannot be fetched, by backend. */
function signingKeyFix(config: Config): string {
  if (config.signing.backend === 'secrets-manager')
    return `store a key with \`qtv secret put --secret-id ${config.signing.secretId} --key-file privatekey.pem --issuer ${config.qlik.issuer}\`; set AWS_REGION and credentials (AWS_PROFILE), or AWS_ENDPOINT_URL for moto/LocalStack; or run \`npm start\` without --config/--secrets-manager to use the embedded dev key`;
  if (config.signing.backend === 'kms')
    return 'check the key ID, AWS_REGION and credentials (or AWS_ENDPOINT_URL); or run `npm start` without --kms to use the embedded dev key';
  return 'check signing.privateKeyPath in the configuration';
}

/**
 * Where the emulator and the example pages must point for this dev server: derived from its URL, so a
 * non-default PORT needs no hand-edited setting (loadEmulatorSettings derives the emulator's redirect
 * URIs and origins from the same PORT).
 */
export function derivedSettings(devUrl: string, tenantUrl: string) {
  return {
    emulator: `PORT=${new URL(devUrl).port} EMULATOR_PORT=${new URL(tenantUrl).port} npm run emulator`,
    jwtPage: `examples/web/index.html?api=${encodeURIComponent(devUrl)}&tenant=${encodeURIComponent(tenantUrl)}&webIntegrationId=demo-web-integration`,
  };
}

/** The banner `npm start` prints: URL, Qlik IdP settings, and a copy-paste curl pair. */
export async function describeDevServer(dev: DevServer): Promise<string> {
  let settings: string[];
  try {
    const key = await dev.runtime.signers.current();
    const certificate =
      key.certificatePem ?? (await key.createCertificate?.({ commonName: dev.config.qlik.issuer })) ?? '(none)';
    const issuer = key.issuer ?? dev.config.qlik.issuer;
    settings = [
      'Qlik JWT identity provider settings (Management Console > Identity providers > Create new > JWT):',
      `  Issuer:      ${issuer}`,
      `  Key ID:      ${key.kid}`,
      '  Certificate:',
      certificate.trim().replace(/^/gm, '    '),
      `  (also: curl -s ${dev.url}/qlik/idp-config)`,
    ];
  } catch (error) {
    // A key that can never sign for Qlik (wrong type or size) is a configuration error: refuse at start.
    if (!(error instanceof TokenVendingError && error.status === 503)) throw error;
    // The store is down or empty: keep serving (POST /qlik/jwt answers 503 with Retry-After until the
    // store answers, as the Lambda does), and say why and what to do.
    settings = [
      `The signing key is not available yet: ${String((error as Error).message).split('\n')[0]}`,
      `  reason: ${errorReason(error)}`,
      `  fix:    ${signingKeyFix(dev.config)}`,
      '  Meanwhile POST /qlik/jwt answers 503 with Retry-After; it works as soon as the store answers.',
    ];
  }
  const tenantUrl = dev.runtime.oauth?.tenantUrl ?? `http://127.0.0.1:${emulatorPort()}`;
  const derived = derivedSettings(dev.url, tenantUrl);
  return [
    `qlik-token-vending dev server listening on ${dev.url}`,
    '',
    ...settings,
    '',
    'Get a caller token from the dev identity provider, then a Qlik JWT:',
    `  ID_TOKEN=$(curl -s -X POST ${dev.url}/dev/identity/token -H 'content-type: application/json' \\`,
    `    -d ${shellQuote('{"sub":"alice","name":"Alice Example","email":"alice@example.com","groups":["Sales"]}')} | node -pe 'JSON.parse(require("fs").readFileSync(0)).id_token')`,
    `  curl -s -X POST ${dev.url}/qlik/jwt -H "authorization: Bearer $ID_TOKEN"`,
    '',
    ...(dev.runtime.tenancy === undefined
      ? []
      : [
          `Multi-tenant mode: tenants from ${dev.config.tenancy?.registry.backend === 'file' ? dev.config.tenancy.registry.path : 'the registry'}; the caller's "${dev.config.tenancy?.tenantClaim}" claim names its tenant(s):`,
          `  add  "claims":{"${dev.config.tenancy?.tenantClaim}":"acme"}  to the dev identity token request above (docs/multi-tenant.md)`,
          '',
        ]),
    ...(dev.runtime.oauth === undefined
      ? [
          `OAuth proxy and POST /qlik/access-token: off (they answer 404 NOT_CONFIGURED); start with --tenant, e.g.`,
          `  ${derived.emulator}     # the tenant emulator, its demo client allowing ${dev.url}`,
          `  npm start -- --tenant ${tenantUrl}`,
          '',
        ]
      : [
          `OAuth proxy for ${dev.runtime.oauth.tenantUrl} (${dev.runtime.oauth.config.mode} mode, docs/oauth.md):`,
          `  sign in:  ${dev.url}/oauth/login?returnTo=${encodeURIComponent(dev.runtime.oauth.config.appReturnUrls[0] ?? '')}`,
          ...(dev.runtime.oauth.config.impersonation.enabled
            ? [
                `  qlik-embed token:  curl -s -X POST ${dev.url}/qlik/access-token -H "authorization: Bearer $ID_TOKEN" -H 'accept: text/plain'`,
              ]
            : []),
          `  tenant emulator for this port:  ${derived.emulator}`,
          `  example page:  ${derived.jwtPage}  (served from an origin in the CORS list, docs/frontend.md)`,
          '',
        ]),
  ].join('\n');
}

/**
 * A port to suggest when `port` is taken: the next free one, skipping the tenant emulator's port
 * (suggesting it would only move the clash to `npm run emulator`).
 */
export async function suggestFreePort(
  host: string,
  port: number,
  avoid: readonly number[],
): Promise<number | undefined> {
  for (let candidate = port + 1; candidate < Math.min(port + 50, 65_536); candidate++) {
    if (avoid.includes(candidate)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(candidate, host, () => probe.close(() => resolve(true)));
    });
    if (free) return candidate;
  }
  return undefined;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'secrets-manager': { type: 'string' },
      kms: { type: 'string' },
      config: { type: 'string' },
      tenant: { type: 'string' },
      tenants: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      'usage: npm start -- [--secrets-manager <secret-id> | --kms <key-id>] [--config <file.json>] [--tenant <url>] [--tenants]\n  --tenant  Qlik tenant URL for the OAuth proxy, e.g. http://127.0.0.1:8788 (`npm run emulator`)\n  --tenants multi-tenant mode with the embedded registry .local/tenants.json (docs/multi-tenant.md)\n  env: PORT (8787), HOST (127.0.0.1), AWS_ENDPOINT_URL',
    );
    return;
  }
  const settings = loadDevServerSettings();
  const fileConfig = values.config === undefined ? undefined : loadConfigFile(values.config);
  portHint = { host: settings.host, port: settings.port };
  const tenantsFile = values.tenants ? await ensureDevTenants('.local') : undefined;
  const dev = await startDevServer({
    host: settings.host,
    port: settings.port,
    logLevel: 'INFO',
    ...(values.tenant !== undefined ? { tenantUrl: values.tenant } : {}),
    config: (baseUrl) => {
      const keysDir = '.local';
      const base: ConfigInput =
        fileConfig ??
        defaultDevConfig(baseUrl, {
          privateKeyPath: `${keysDir}/dev-signing-key.pem`,
          certificatePath: `${keysDir}/dev-signing-cert.pem`,
        });
      if (values['secrets-manager'] !== undefined)
        return { ...base, signing: { backend: 'secrets-manager', secretId: values['secrets-manager'] } };
      if (values.kms !== undefined) return { ...base, signing: { backend: 'kms', keyId: values.kms } };
      return tenantsFile === undefined ? base : withDevTenants(base, tenantsFile);
    },
  });
  console.log(await describeDevServer(dev));
  const stop = () => void dev.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

/** Where main() tried to listen, for the port-in-use hint. */
let portHint: { host: string; port: number } | undefined;

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch(async (error: unknown) => {
    if (error instanceof ConfigError || error instanceof TokenVendingError)
      console.error(`qtv dev server: ${error.message}`);
    else if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE' && portHint !== undefined) {
      const free = await suggestFreePort(portHint.host, portHint.port, [emulatorPort(), 8788]);
      console.error(
        `qtv dev server: port ${portHint.port} is in use (another npm start?); stop that process or pick another port${free === undefined ? '' : `, e.g. PORT=${free} npm start`}.`,
      );
    } else console.error('qtv dev server failed:', error);
    process.exit(1);
  });
}
