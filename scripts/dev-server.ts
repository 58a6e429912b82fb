/**
 * `npm start`: the token API on 127.0.0.1 with embedded defaults (a generated dev key, an embedded
 * dev identity provider), calling the same handler modules as the Lambdas.
 *
 *   npm start                                  # file key in .local/, dev identity provider
 *   npm start -- --secrets-manager <secret-id> # key from Secrets Manager (AWS_ENDPOINT_URL honoured)
 *   npm start -- --config config/dev.json      # your own configuration file
 *   npm start -- --tenant http://127.0.0.1:8788 # OAuth proxy against `npm run emulator` (or your config's oauth section)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { Logger } from '@aws-lambda-powertools/logger';
import { ConfigError, TokenVendingError } from '../functions/errors.js';
import { problem } from '../functions/http/lambda-http.js';
import { routesFor } from '../functions/routes.js';
import {
  type Config,
  type ConfigInput,
  loadConfigFile,
  loadDevServerSettings,
  parseConfig,
} from '../functions/runtime/config.js';
import { createRuntime, prefetchSigningKey, type Runtime, SERVICE_NAME } from '../functions/runtime/wiring.js';
import { MemorySecretStore } from '../functions/secrets/secret-source.js';
import { DEV_AUDIENCE, DevIdentityProvider, devTokenRequestSchema } from './dev/dev-identity.js';
import { ensureDevSigningKey } from './dev/dev-keys.js';
import { discoveredKeySet, type LocalAuthorizer } from './dev/jwt-authorizer.js';
import { createLocalApiGateway, type LocalHandler, type LocalRoute } from './dev/local-api-gateway.js';

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
}

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

/** Serves `/dev/identity/*`; returns false for other paths. */
function devIdentityRoutes(idp: DevIdentityProvider) {
  return async (request: IncomingMessage, response: ServerResponse, body: Buffer): Promise<boolean> => {
    const path = new URL(request.url ?? '/', 'http://local').pathname;
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
  const server = createServer();
  // Listen first: the issuer of the dev identity provider contains the real port.
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8787, host, () => resolve());
  });
  try {
    const { port } = server.address() as AddressInfo;
    const baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
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
    const runtime = createRuntime(config, {
      logger,
      ...(oauthSecretStore !== undefined ? { oauthSecretStore } : {}),
      ...options.runtimeOverrides,
    });
    prefetchSigningKey(runtime);
    const localRoutes: LocalRoute[] = await Promise.all(
      routesFor(config).map(async (route) => {
        const module = await route.load();
        return { route, handler: module.createHandler(runtime) as LocalHandler };
      }),
    );
    const callerIdp = config.callerIdp ?? { issuer: identityProvider.issuer, audience: [DEV_AUDIENCE] };
    // Keys are found as API Gateway finds them, through the issuer's OIDC discovery document (jwks_uri),
    // for the embedded dev identity provider too (it is served by this very server).
    const keySet = discoveredKeySet(callerIdp.issuer);
    server.on(
      'request',
      createLocalApiGateway({
        routes: localRoutes,
        authorizer: {
          issuer: callerIdp.issuer,
          audience: callerIdp.audience,
          keys: keySet,
          ...options.authorizer,
        },
        allowedOrigins: config.cors.allowedOrigins,
        extra: devIdentityRoutes(identityProvider),
      }),
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

/** The banner `npm start` prints: URL, Qlik IdP settings, and a copy-paste curl pair. */
export async function describeDevServer(dev: DevServer): Promise<string> {
  const key = await dev.runtime.signers.current();
  const certificate =
    key.certificatePem ?? (await key.createCertificate?.({ commonName: dev.config.qlik.issuer })) ?? '(none)';
  const issuer = key.issuer ?? dev.config.qlik.issuer;
  return [
    `qlik-token-vending dev server listening on ${dev.url}`,
    '',
    'Qlik JWT identity provider settings (Management Console > Identity providers > Create new > JWT):',
    `  Issuer:      ${issuer}`,
    `  Key ID:      ${key.kid}`,
    '  Certificate:',
    certificate.trim().replace(/^/gm, '    '),
    `  (also: curl -s ${dev.url}/qlik/idp-config)`,
    '',
    'Get a caller token from the dev identity provider, then a Qlik JWT:',
    `  ID_TOKEN=$(curl -s -X POST ${dev.url}/dev/identity/token -H 'content-type: application/json' \\`,
    `    -d ${shellQuote('{"sub":"alice","name":"Alice Example","email":"alice@example.com","groups":["Sales"]}')} | node -pe 'JSON.parse(require("fs").readFileSync(0)).id_token')`,
    `  curl -s -X POST ${dev.url}/qlik/jwt -H "authorization: Bearer $ID_TOKEN"`,
    '',
    ...(dev.runtime.oauth === undefined
      ? []
      : [
          `OAuth proxy for ${dev.runtime.oauth.tenantUrl} (${dev.runtime.oauth.config.mode} mode, docs/oauth.md):`,
          `  sign in:  ${dev.url}/oauth/login?returnTo=${encodeURIComponent(dev.runtime.oauth.config.appReturnUrls[0] ?? '')}`,
          ...(dev.runtime.oauth.config.impersonation.enabled
            ? [
                `  qlik-embed token:  curl -s -X POST ${dev.url}/qlik/access-token -H "authorization: Bearer $ID_TOKEN" -H 'accept: text/plain'`,
              ]
            : []),
          '',
        ]),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'secrets-manager': { type: 'string' },
      kms: { type: 'string' },
      config: { type: 'string' },
      tenant: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      'usage: npm start -- [--secrets-manager <secret-id> | --kms <key-id>] [--config <file.json>] [--tenant <url>]\n  --tenant  Qlik tenant URL for the OAuth proxy, e.g. http://127.0.0.1:8788 (`npm run emulator`)\n  env: PORT (8787), HOST (127.0.0.1), AWS_ENDPOINT_URL',
    );
    return;
  }
  const settings = loadDevServerSettings();
  const fileConfig = values.config === undefined ? undefined : loadConfigFile(values.config);
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
      return base;
    },
  });
  console.log(await describeDevServer(dev));
  const stop = () => void dev.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    if (error instanceof ConfigError || error instanceof TokenVendingError)
      console.error(`qtv dev server: ${error.message}`);
    else if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE')
      console.error('qtv dev server: the port is in use; set PORT to another one (e.g. PORT=8788 npm start).');
    else console.error('qtv dev server failed:', error);
    process.exit(1);
  });
}
