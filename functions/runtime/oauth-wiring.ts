/**
 * Builds the OAuth proxy's long-lived ports once per container: the Qlik OAuth client(s) with their
 * client authentication (secret(s) from Secrets Manager, or a private-key JWT through the Signer port),
 * the cookie sealer, and the per-user impersonation token cache. No secret is fetched here: secrets are
 * read on first use and cached (CachedSecret: TTL, stale-on-error, one fetch in flight).
 */
import { createPublicKey } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConfigError, TokenVendingError } from '../errors.js';
import { describeErrorForLog } from '../http/lambda-http.js';
import { deriveSealingKeys, Sealer } from '../http/sealing.js';
import { DynamoDbGraceStore, MemoryGraceStore, type RefreshGrace } from '../oauth/refresh-grace.js';
import {
  assertionAuthenticator,
  type ClientAuthenticator,
  type FetchLike,
  QlikOAuthClient,
  secretAuthenticator,
  type TokenSet,
  type UpstreamLogger,
} from '../qlik/oauth-client.js';
import { CachedSecret, type SecretStore } from '../secrets/secret-source.js';
import { createKeyObjectSigner, type Signer } from '../signing/signer.js';
import { keyThumbprint, parseRsaPrivateKey } from '../signing/signing-key.js';
import { LruCache } from '../util/lru.js';
import type { Clock } from './clock.js';
import type { Config, OAuthConfig } from './config.js';

/** The client secret could not be fetched or is unusable (503: retry later). */
export class OAuthCredentialsUnavailableError extends TokenVendingError {
  constructor(message: string, options?: ErrorOptions) {
    super('OAUTH_CLIENT_CREDENTIALS_UNAVAILABLE', 503, message, { retryAfterSeconds: 5, ...options });
  }
}

/**
 * Reads client secrets from a secret value: a plain string, JSON `{"clientSecrets": [...]}`, or JSON
 * `{"clientSecret": "...", "previousClientSecret": "..."}`. Order is preference order.
 */
export function parseClientSecrets(value: string): string[] {
  const text = value.trim();
  if (!text.startsWith('{')) {
    if (text === '') throw new TypeError('the client secret is empty');
    return [text];
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new TypeError('the client secret looks like JSON but does not parse');
  }
  const list: unknown[] = Array.isArray(parsed.clientSecrets)
    ? parsed.clientSecrets
    : [parsed.clientSecret, parsed.previousClientSecret];
  const secrets = list.filter((s): s is string => typeof s === 'string' && s.trim() !== '');
  if (secrets.length === 0)
    throw new TypeError('the client secret JSON holds no "clientSecrets" array or "clientSecret" string');
  // Qlik holds at most 5 secrets per client; more here is a mistake.
  return [...new Set(secrets)].slice(0, 5);
}

/** Reads sealing key material: a string of ≥ 32 characters, or JSON `{"sealingKeys": [...]}` (first seals). */
export function parseSealingMaterials(value: string): string[] {
  const text = value.trim();
  let materials: unknown[] = [text];
  if (text.startsWith('{')) {
    try {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      materials = Array.isArray(parsed.sealingKeys) ? parsed.sealingKeys : [];
    } catch {
      throw new TypeError('the sealing secret looks like JSON but does not parse');
    }
  }
  const usable = materials.filter((m): m is string => typeof m === 'string' && m.length >= 32);
  if (usable.length === 0 || usable.length !== materials.length)
    throw new TypeError('every sealing key must be a string of at least 32 characters');
  return usable;
}

/** A cached impersonation token. */
export interface CachedAccessToken {
  readonly accessToken: string;
  readonly expiresAtMs: number;
}

/** What the OAuth handlers use. */
export interface OAuthRuntime {
  readonly config: OAuthConfig;
  /** `https://<tenant>` or the configured tenantUrl, no trailing slash. */
  readonly tenantUrl: string;
  /** The client the proxy acts as (authorization code, refresh, revoke, impersonation). */
  readonly client: QlikOAuthClient;
  /** The client that asks for impersonation tokens (the main client unless one is configured). */
  readonly impersonationClient: QlikOAuthClient;
  /** The admin-scoped client for user look-up and creation, when configured. */
  readonly adminClient: QlikOAuthClient | undefined;
  /** The cookie sealer (keys from the sealing secret or the client secret). */
  sealer(): Promise<Sealer>;
  /** Impersonation tokens by mapped Qlik subject. */
  readonly accessTokens: LruCache<string, CachedAccessToken>;
  /** In-flight impersonation requests by subject, so concurrent calls for one user make one upstream call. */
  readonly inFlight: Map<string, Promise<CachedAccessToken>>;
  /** The admin token, reused until shortly before it expires. */
  adminToken: TokenSet | undefined;
  /** Cookie mode's refresh grace window (shared DynamoDB table, or in-process). */
  readonly grace: RefreshGrace;
}

/** Ports the OAuth runtime needs or a test/dev server supplies. */
export interface OAuthRuntimeDeps {
  readonly clock: Clock;
  readonly logger: UpstreamLogger & { error(message: string, extra: Record<string, unknown>): void };
  readonly fetch?: FetchLike;
  /** Where secret IDs are read (Secrets Manager in AWS, files in dev, memory in tests). */
  readonly secretStore: SecretStore;
  /** Signs client assertions (the KMS adapter plugs in here); built from `oauth.clientAssertion` otherwise. */
  readonly clientAssertionSigner?: () => Promise<Signer>;
  /** DynamoDB client for the refresh grace table (tests point it at moto). @default a client from the environment */
  readonly dynamodb?: DynamoDBClient;
}

function cachedSecret<T>(
  deps: OAuthRuntimeDeps,
  secretId: string,
  ttlMs: number,
  what: string,
  transform: (value: string) => T | Promise<T>,
): CachedSecret<T> {
  return new CachedSecret<T>({
    store: deps.secretStore,
    secretId,
    ttlMs,
    clock: deps.clock,
    transform: async (value) => {
      try {
        return await transform(value);
      } catch (error) {
        // The TypeError messages above name the shape problem, never the value.
        throw new OAuthCredentialsUnavailableError(`The ${what} is unusable: ${(error as Error).message}.`);
      }
    },
    onRefreshError: (error, servingStale) =>
      (servingStale ? deps.logger.warn : deps.logger.error).call(deps.logger, `${what} refresh failed`, {
        servingStale,
        store: deps.secretStore.description,
        ...describeErrorForLog(error),
      }),
  });
}

/** Fetches a cached secret, turning a store failure into a 503 that names no secret. */
async function read<T>(secret: CachedSecret<T>, what: string): Promise<T> {
  try {
    return await secret.get();
  } catch (error) {
    if (error instanceof OAuthCredentialsUnavailableError) throw error;
    throw new OAuthCredentialsUnavailableError(`The ${what} could not be fetched.`, { cause: error });
  }
}

/** Assertion signer over an RSA PEM secret (JSON `{privateKey, kid?}` or bare PEM). */
function pemAssertionSigner(
  deps: OAuthRuntimeDeps,
  assertion: Extract<NonNullable<OAuthConfig['clientAssertion']>, { backend: 'secrets-manager' }>,
): () => Promise<Signer> {
  const cache = cachedSecret(
    deps,
    assertion.secretId,
    assertion.cacheTtlSeconds * 1000,
    'client assertion key',
    async (value) => {
      let pem = value;
      let kid = assertion.kid;
      if (value.trim().startsWith('{')) {
        const parsed = JSON.parse(value) as { privateKey?: unknown; kid?: unknown };
        if (typeof parsed.privateKey !== 'string') throw new TypeError('the key JSON has no "privateKey" string');
        pem = parsed.privateKey;
        if (typeof parsed.kid === 'string' && parsed.kid !== '') kid = parsed.kid;
      }
      const key = parseRsaPrivateKey(pem);
      return createKeyObjectSigner(key, kid ?? (await keyThumbprint(createPublicKey(key))), assertion.alg);
    },
  );
  return () => read(cache, 'client assertion key');
}

/** Builds the OAuth runtime for `config` (which must have an `oauth` section). */
export function createOAuthRuntime(config: Config, deps: OAuthRuntimeDeps): OAuthRuntime {
  const oauth = config.oauth;
  if (oauth === undefined) throw new TypeError('createOAuthRuntime needs config.oauth');
  const tenantUrl = (oauth.tenantUrl ?? `https://${config.qlik.tenantHost}`).replace(/\/+$/, '');
  // Qlik's documented audience for client assertions is the https token URL of the tenant host.
  const assertionAudience = `https://${config.qlik.tenantHost ?? new URL(tenantUrl).host}/oauth/token`;
  const ttlMs = oauth.secretCacheTtlSeconds * 1000;
  const fetchPort: FetchLike = deps.fetch ?? ((input, init) => fetch(input, init));
  const common = {
    baseUrl: tenantUrl,
    fetch: fetchPort,
    clock: deps.clock,
    logger: deps.logger,
    timeoutMs: oauth.upstream.timeoutMs,
    retries: oauth.upstream.retries,
  };

  const clientSecrets =
    oauth.clientSecretId === undefined
      ? undefined
      : cachedSecret(deps, oauth.clientSecretId, ttlMs, 'OAuth client secret', parseClientSecrets);

  let authenticator: ClientAuthenticator;
  if (oauth.clientAuth === 'secret') {
    authenticator = secretAuthenticator(oauth.clientId, () => read(clientSecrets!, 'OAuth client secret'));
  } else {
    let signer = deps.clientAssertionSigner;
    const assertion = oauth.clientAssertion!;
    if (signer === undefined) {
      if (assertion.backend === 'kms')
        throw new ConfigError(
          ['oauth.clientAssertion.backend: "kms" needs a KMS signer (createRuntime builds one from the configuration)'],
          'configuration',
        );
      signer = pemAssertionSigner(deps, assertion);
    }
    authenticator = assertionAuthenticator({
      clientId: oauth.clientId,
      audience: assertionAudience,
      signer,
      clock: deps.clock,
    });
  }

  const sealing =
    oauth.sealingSecretId !== undefined
      ? cachedSecret(
          deps,
          oauth.sealingSecretId,
          ttlMs,
          'sealing secret',
          (value) => new Sealer(deriveSealingKeys(parseSealingMaterials(value))),
        )
      : cachedSecret(
          deps,
          oauth.clientSecretId!,
          ttlMs,
          'OAuth client secret',
          (value) => new Sealer(deriveSealingKeys(parseClientSecrets(value))),
        );

  const imp = oauth.impersonation;
  let adminClient: QlikOAuthClient | undefined;
  if (imp.adminClientId !== undefined && imp.adminClientSecretId !== undefined) {
    const adminSecrets = cachedSecret(deps, imp.adminClientSecretId, ttlMs, 'admin client secret', parseClientSecrets);
    adminClient = new QlikOAuthClient({
      ...common,
      authenticator: secretAuthenticator(imp.adminClientId, () => read(adminSecrets, 'admin client secret')),
    });
  }

  const client = new QlikOAuthClient({ ...common, authenticator });
  let impersonationClient = client;
  if (imp.clientId !== undefined && imp.clientSecretId !== undefined) {
    const secrets = cachedSecret(deps, imp.clientSecretId, ttlMs, 'impersonation client secret', parseClientSecrets);
    impersonationClient = new QlikOAuthClient({
      ...common,
      authenticator: secretAuthenticator(imp.clientId, () => read(secrets, 'impersonation client secret')),
    });
  }

  // The longest one refresh can take: every attempt's timeout, the retry pauses, and a margin.
  const leaseMs = oauth.upstream.timeoutMs * (oauth.upstream.retries + 1) + 1000 * (oauth.upstream.retries + 1);
  const grace: RefreshGrace = {
    store:
      oauth.refreshGrace.tableName !== undefined
        ? new DynamoDbGraceStore(deps.dynamodb ?? new DynamoDBClient({}), oauth.refreshGrace.tableName)
        : new MemoryGraceStore(),
    settings: { windowSeconds: oauth.refreshGrace.windowSeconds, waitMs: oauth.refreshGrace.waitMs, leaseMs },
  };

  return {
    config: oauth,
    tenantUrl,
    client,
    impersonationClient,
    adminClient,
    sealer: () => read(sealing, 'sealing secret'),
    accessTokens: new LruCache(imp.cacheMaxEntries),
    inFlight: new Map(),
    adminToken: undefined,
    grace,
  };
}
