/**
 * Builds the long-lived ports a function needs from a validated configuration, once per container
 * (Lambda cold start) or once per process (dev server). Handlers receive a Runtime; they never
 * construct SDK clients or read configuration themselves.
 */
import { readFileSync } from 'node:fs';
import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { describeErrorForLog } from '../http/lambda-http.js';
import { type ResolvedIdentityMapping, resolveIdentityMapping } from '../identity/mapping.js';
import {
  kmsPublicMaterialSource,
  type PublicMaterialSource,
  secretPublicMaterialSource,
} from '../idp-config/public-material-source.js';
import type { FetchLike } from '../qlik/oauth-client.js';
import {
  CachedSecret,
  FileSecretStore,
  freshValue,
  type SecretStore,
  SecretsManagerStore,
} from '../secrets/secret-source.js';
import { kmsSignerSource } from '../signing/kms-signer.js';
import type { ActiveSigningKey, Signer, SignerSource } from '../signing/signer.js';
import { signingKeyFromSecret } from '../signing/signing-key.js';
import { TenantOAuthRuntimes } from '../tenancy/oauth.js';
import { TenantPublicMaterial } from '../tenancy/public-material.js';
import { createTenancyRuntime, type TenancyRuntime } from '../tenancy/runtime.js';
import { missingFromBundle } from './bundle-flags.js';
import { type Clock, systemClock } from './clock.js';
import type { Config } from './config.js';
import { createOAuthRuntime, type OAuthRuntime } from './oauth-wiring.js';
import { tracing } from './tracing.js';

/** The service name in every log line and metric. */
export const SERVICE_NAME = 'qlik-token-vending';

/** Everything a handler may use. */
export interface Runtime {
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
  /**
   * X-Ray tracing through Powertools; switches itself off outside Lambda (no AWS_EXECUTION_ENV).
   * Undefined in a bundle built with `deployment.tracing: false` (no tracer code in it).
   */
  readonly tracer: Tracer | undefined;
  readonly signers: SignerSource;
  /** The AWSPENDING key during a rotation (secrets-manager backend only); shown by `/qlik/idp-config`. */
  readonly pendingSigners?: PendingSignerSource;
  readonly identity: ResolvedIdentityMapping;
  /** The key's public material apart from the private key (`signing.publicSecretId`); read by /qlik/idp-config. */
  readonly publicMaterial?: PublicMaterialSource;
  /** The OAuth proxy's ports; undefined when `oauth` is not configured. */
  readonly oauth: OAuthRuntime | undefined;
  /** Multi-tenant mode's registry and per-tenant signers; undefined when `tenancy` is not configured. */
  readonly tenancy?: TenancyRuntime;
}

/** Yields the key a running rotation has staged as AWSPENDING, or `undefined` when no rotation is in progress. */
export interface PendingSignerSource {
  pending(): Promise<ActiveSigningKey | undefined>;
}

const NO_VERSION = 'none';

/**
 * Wraps a store so "no version with this stage" is a value (empty), not an error: outside a rotation
 * AWSPENDING does not exist, and that answer is cached for the TTL like any other.
 */
export class OptionalStageStore implements SecretStore {
  readonly description: string;
  constructor(private readonly store: SecretStore) {
    this.description = store.description;
  }
  async fetch(secretId: string, versionStage?: string) {
    try {
      return await this.store.fetch(secretId, versionStage);
    } catch (error) {
      const name = (error as Error).name;
      // GetSecretValue answers ResourceNotFoundException when no version has the stage (or it has no value yet).
      if (name === 'ResourceNotFoundException' || name === 'SecretStageVersionMismatchException')
        return { value: '', versionId: NO_VERSION };
      throw error;
    }
  }
}

/** Ports a test or the dev server may supply instead of the defaults. */
export interface RuntimeOverrides {
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly signers?: SignerSource;
  readonly pendingSigners?: PendingSignerSource | null;
  readonly secretsManager?: SecretsManagerClient;
  /** `fetch` towards Qlik (tests point it at the tenant emulator or inject faults). */
  readonly fetch?: FetchLike;
  /** Where the OAuth secrets are read instead of `oauth.secretStore`. */
  readonly oauthSecretStore?: SecretStore;
  /** Signs OAuth client assertions (the KMS adapter plugs in here). */
  readonly clientAssertionSigner?: () => Promise<Signer>;
  /** KMS client for the `kms` signing backend (tests point it at moto or a fault proxy). */
  readonly kms?: KMSClient;
  /** DynamoDB client for the OAuth refresh grace table and the tenant registry (tests point it at moto). */
  readonly dynamodb?: DynamoDBClient;
  /** Multi-tenant mode: the registry store, key secret store and DynamoDB client (tests: memory or moto). */
  readonly tenancy?: Pick<Parameters<typeof createTenancyRuntime>[1], 'store'> & {
    readonly dynamoDb?: DynamoDBClient;
    readonly secretStore?: SecretStore;
  };
}

/** Options of a signer source over a key secret. */
export interface SecretSignerSourceOptions {
  readonly store: SecretStore;
  readonly secretId: string;
  readonly ttlMs: number;
  readonly clock: Clock;
  readonly logger: Pick<Logger, 'warn' | 'error'>;
  readonly jsonField?: string;
  readonly fallbackKid?: string;
  readonly versionStage?: string;
  /** Extra step after parsing, e.g. attaching a certificate read from a file. */
  readonly enrich?: (key: ActiveSigningKey) => ActiveSigningKey;
}

/** A rotation-aware signer source over a key secret: re-reads it every `ttlMs`, parses each version once. */
export function secretSignerSource(
  options: SecretSignerSourceOptions,
): SignerSource & { readonly cache: CachedSecret<ActiveSigningKey> } {
  const cache = new CachedSecret<ActiveSigningKey>({
    store: options.store,
    secretId: options.secretId,
    ...(options.versionStage !== undefined ? { versionStage: options.versionStage } : {}),
    ttlMs: options.ttlMs,
    clock: options.clock,
    transform: async (value) => {
      const key = await signingKeyFromSecret(value, {
        ...(options.jsonField !== undefined ? { jsonField: options.jsonField } : {}),
        ...(options.fallbackKid !== undefined ? { fallbackKid: options.fallbackKid } : {}),
      });
      return options.enrich ? options.enrich(key) : key;
    },
    onRefreshError: (error, servingStale) =>
      (servingStale ? options.logger.warn : options.logger.error).call(options.logger, 'signing key refresh failed', {
        servingStale,
        store: options.store.description,
        ...describeErrorForLog(error),
      }),
  });
  return { cache, current: () => cache.get(), ready: () => freshValue(cache) };
}

/** The AWS SDK clients of one container: built on first use, once each, traced. */
interface AwsClients {
  secretsManager(): SecretsManagerClient;
  kms(): KMSClient;
  /** The tenant registry's client (multi-tenant mode only). */
  tenantRegistryDynamoDb(): DynamoDBClient;
}

function awsClients(overrides: RuntimeOverrides, tracer: Tracer | undefined): AwsClients {
  let secretsManager: SecretsManagerClient | undefined;
  let kms: KMSClient | undefined;
  let dynamoDb: DynamoDBClient | undefined;
  const traced = <T>(client: T): T => (tracer === undefined ? client : tracer.captureAWSv3Client(client));
  // Each client exists in the bundle only when synth said the function needs it (runtime/bundle-flags.ts).
  return {
    // (The guarded code sits inside the `if`: esbuild drops a constant-false branch, not code after a throw.)
    secretsManager: () => {
      if (typeof QTV_BUNDLE_SECRETS_MANAGER === 'undefined' || QTV_BUNDLE_SECRETS_MANAGER) {
        secretsManager ??= traced(overrides.secretsManager ?? new SecretsManagerClient({}));
        return secretsManager;
      }
      throw missingFromBundle('the Secrets Manager client');
    },
    // The SDK's own retries are off (maxAttempts 1) so that our jittered retry inside
    // signing.retry.budgetMs is the only retry layer.
    kms: () => {
      if (typeof QTV_BUNDLE_KMS === 'undefined' || QTV_BUNDLE_KMS) {
        kms ??= traced(overrides.kms ?? new KMSClient({ maxAttempts: 1 }));
        return kms;
      }
      throw missingFromBundle('the KMS client');
    },
    // The SDK's default retries (3 attempts) stay on: a registry GetItem is idempotent and cheap.
    tenantRegistryDynamoDb: () => {
      if (typeof QTV_BUNDLE_TENANCY === 'undefined' || QTV_BUNDLE_TENANCY) {
        dynamoDb ??= traced(overrides.tenancy?.dynamoDb ?? overrides.dynamodb ?? new DynamoDBClient({}));
        return dynamoDb;
      }
      throw missingFromBundle('the DynamoDB client of the tenant registry');
    },
  };
}

/** A Secrets Manager store; in a bundle without Secrets Manager the branch (and the client) is gone. */
function secretsManagerStore(clients: AwsClients): SecretStore {
  if (typeof QTV_BUNDLE_SECRETS_MANAGER === 'undefined' || QTV_BUNDLE_SECRETS_MANAGER)
    return new SecretsManagerStore(clients.secretsManager());
  throw missingFromBundle('the Secrets Manager client');
}

/** The KMS signer source; in a bundle without KMS the branch (and the KMS client) is gone. */
function kmsSigners(client: () => KMSClient, options: Parameters<typeof kmsSignerSource>[1]): SignerSource {
  if (typeof QTV_BUNDLE_KMS === 'undefined' || QTV_BUNDLE_KMS) return kmsSignerSource(client(), options);
  throw missingFromBundle('the KMS signer');
}

function defaultSigners(config: Config, clock: Clock, logger: Logger, clients: AwsClients): SignerSource {
  const signing = config.signing;
  switch (signing.backend) {
    case 'secrets-manager':
      return secretSignerSource({
        store: secretsManagerStore(clients),
        secretId: signing.secretId,
        ttlMs: signing.cacheTtlSeconds * 1000,
        clock,
        logger,
        jsonField: signing.jsonField,
        ...(config.qlik.keyId !== undefined ? { fallbackKid: config.qlik.keyId } : {}),
      });
    case 'file': {
      const certificatePath = signing.certificatePath;
      return secretSignerSource({
        store: new FileSecretStore(),
        secretId: signing.privateKeyPath,
        // Short: a developer who replaces the key file sees it used within seconds.
        ttlMs: 5_000,
        clock,
        logger,
        ...(config.qlik.keyId !== undefined ? { fallbackKid: config.qlik.keyId } : {}),
        enrich: (key) =>
          certificatePath === undefined ? key : { ...key, certificatePem: readFileSync(certificatePath, 'utf8') },
      });
    }
    case 'kms':
      return kmsSigners(clients.kms, {
        keyId: signing.keyId,
        algorithm: 'RS256',
        purpose: 'qlik-jwt',
        ...(config.qlik.keyId !== undefined ? { kid: config.qlik.keyId } : {}),
        retry: signing.retry,
        clock,
        logger,
      });
  }
}

/** The AWSPENDING reader for the secrets-manager backend; same TTL as the signer, never on the token path. */
function defaultPendingSigners(
  config: Config,
  clock: Clock,
  logger: Logger,
  clients: AwsClients,
): PendingSignerSource | undefined {
  const signing = config.signing;
  if (signing.backend !== 'secrets-manager') return undefined;
  const cache = new CachedSecret<ActiveSigningKey | undefined>({
    store: new OptionalStageStore(secretsManagerStore(clients)),
    secretId: signing.secretId,
    versionStage: 'AWSPENDING',
    ttlMs: signing.cacheTtlSeconds * 1000,
    clock,
    transform: async (value) =>
      value === ''
        ? undefined
        : signingKeyFromSecret(value, {
            jsonField: signing.jsonField,
            ...(config.qlik.keyId !== undefined ? { fallbackKid: config.qlik.keyId } : {}),
          }),
    onRefreshError: (error, servingStale) =>
      logger.warn('pending signing key refresh failed', { servingStale, ...describeErrorForLog(error) }),
  });
  return { pending: () => cache.get() };
}

/** The public-material reader, when the configuration keeps public material apart (signing.publicSecretId). */
function defaultPublicMaterial(
  config: Config,
  clock: Clock,
  logger: Logger,
  clients: AwsClients,
): PublicMaterialSource | undefined {
  const signing = config.signing;
  if (signing.backend === 'file' || signing.publicSecretId === undefined) return undefined;
  // Only `GET /qlik/idp-config` reads public material; other bundles leave this out (runtime/bundle-flags.ts).
  // (The guarded code sits inside the `if`: esbuild drops a constant-false branch, not code after a return.)
  if (typeof QTV_BUNDLE_PUBLIC_MATERIAL === 'undefined' || QTV_BUNDLE_PUBLIC_MATERIAL) {
    const stored = secretPublicMaterialSource({
      store: secretsManagerStore(clients),
      secretId: signing.publicSecretId,
      ttlMs: (signing.backend === 'secrets-manager' ? signing.cacheTtlSeconds : 300) * 1000,
      clock,
      logger,
    });
    if (signing.backend === 'secrets-manager') return stored;
    if (typeof QTV_BUNDLE_KMS === 'undefined' || QTV_BUNDLE_KMS)
      return kmsPublicMaterialSource(
        clients.kms(),
        {
          keyId: signing.keyId,
          retry: signing.retry,
          ...(config.qlik.keyId !== undefined ? { kid: config.qlik.keyId } : {}),
        },
        stored,
      );
    throw missingFromBundle('the KMS client');
  }
  return undefined;
}

/** The client-assertion signer: an override, or a KMS key (`oauth.clientAssertion.backend: kms`). */
function clientAssertionSigner(
  config: Config,
  clock: Clock,
  logger: Logger,
  overrides: RuntimeOverrides,
  clients: AwsClients,
): { clientAssertionSigner?: () => Promise<Signer> } {
  if (overrides.clientAssertionSigner !== undefined) return { clientAssertionSigner: overrides.clientAssertionSigner };
  const assertion = config.oauth?.clientAssertion;
  if (config.oauth?.clientAuth !== 'private-key-jwt' || assertion?.backend !== 'kms') return {};
  // The KMS key signs client assertions: no client secret exists anywhere (qlik-auth.md, private-key JWT).
  const source = kmsSigners(clients.kms, {
    keyId: assertion.keyId,
    algorithm: assertion.alg,
    purpose: 'client-assertion',
    kid: assertion.kid,
    clock,
    logger,
  });
  return { clientAssertionSigner: () => source.current() };
}

/**
 * Multi-tenant mode: the registry (DynamoDB, or the dev server's file) and per-tenant signers. Only bundles of
 * routes that serve tenants under a `tenancy` configuration hold this (runtime/bundle-flags.ts): elsewhere the
 * branch, the tenancy modules and the DynamoDB client are gone.
 */
function createTenancy(
  config: Config,
  clock: Clock,
  logger: Logger,
  overrides: RuntimeOverrides,
  clients: AwsClients,
  sharedSigners: SignerSource,
  sharedPublicMaterial: PublicMaterialSource | undefined,
): TenancyRuntime | undefined {
  const tenancy = config.tenancy;
  if (tenancy === undefined) return undefined;
  // (The guarded code sits inside the `if`: esbuild drops a constant-false branch, not code after a return.)
  if (typeof QTV_BUNDLE_TENANCY === 'undefined' || QTV_BUNDLE_TENANCY) {
    const fileRegistry = tenancy.registry.backend === 'file';
    const secretStore =
      overrides.tenancy?.secretStore ??
      // The dev server's file registry names key files; a deployment's registry names Secrets Manager secrets.
      (fileRegistry ? new FileSecretStore() : secretsManagerStore(clients));
    return createTenancyRuntime(tenancy, {
      clock,
      logger,
      // Tenants' OAuth client secrets live under their own prefix, in the same store as their keys. Only the
      // OAuth routes' bundles (`POST /qlik/access-token`) hold the OAuth wiring; `POST /qlik/jwt` never uses it.
      ...(typeof QTV_BUNDLE_OAUTH === 'undefined' || QTV_BUNDLE_OAUTH
        ? {
            oauth: new TenantOAuthRuntimes(
              config,
              {
                clock,
                logger,
                secretStore: overrides.oauthSecretStore ?? secretStore,
                ...(overrides.fetch !== undefined ? { fetch: overrides.fetch } : {}),
                // One client for every tenant's refresh grace store (the container's registry client).
                ...(tenancy.refreshGraceTableName !== undefined
                  ? { dynamodb: overrides.dynamodb ?? clients.tenantRegistryDynamoDb() }
                  : {}),
              },
              tenancy.registry.maxCachedTenants,
            ),
          }
        : {}),
      // Only `GET /qlik/idp-config` reads public material (QTV_BUNDLE_PUBLIC_MATERIAL); the dev server's file
      // registry has no public-material secrets: its route derives the material from the tenant's key file.
      ...((typeof QTV_BUNDLE_PUBLIC_MATERIAL === 'undefined' || QTV_BUNDLE_PUBLIC_MATERIAL) && !fileRegistry
        ? {
            publicMaterial: new TenantPublicMaterial({
              tenancy,
              clock,
              logger,
              secretStore: () => secretStore,
              kms: () => clients.kms(),
              ...(sharedPublicMaterial !== undefined ? { shared: sharedPublicMaterial } : {}),
            }),
          }
        : {}),
      secretStore: () => secretStore,
      kms: () => clients.kms(),
      sharedSigners,
      ...(overrides.tenancy?.store !== undefined ? { store: overrides.tenancy.store } : {}),
      // The container's one (traced) DynamoDB client, made on first use.
      dynamoDb: () => clients.tenantRegistryDynamoDb(),
    });
  }
  // A route bundled without multi-tenant mode never serves tenants (it is not one of `servesTenants`).
  return undefined;
}

/** Creates the runtime for `config`. Call once per container. */
export function createRuntime(config: Config, overrides: RuntimeOverrides = {}): Runtime {
  const clock = overrides.clock ?? systemClock;
  const logger = overrides.logger ?? new Logger({ serviceName: SERVICE_NAME });
  const tracer = tracing === undefined ? undefined : new tracing.Tracer({ serviceName: SERVICE_NAME });
  const clients = awsClients(overrides, tracer);
  const signers = overrides.signers ?? defaultSigners(config, clock, logger, clients);
  // A route bundled without the OAuth wiring never serves OAuth, whatever the configuration holds.
  const oauth =
    config.oauth === undefined || !(typeof QTV_BUNDLE_OAUTH === 'undefined' || QTV_BUNDLE_OAUTH)
      ? undefined
      : createOAuthRuntime(config, {
          clock,
          logger,
          secretStore:
            overrides.oauthSecretStore ??
            (config.oauth.secretStore === 'file' ? new FileSecretStore() : secretsManagerStore(clients)),
          ...(overrides.fetch !== undefined ? { fetch: overrides.fetch } : {}),
          ...(overrides.dynamodb !== undefined ? { dynamodb: overrides.dynamodb } : {}),
          ...clientAssertionSigner(config, clock, logger, overrides, clients),
        });
  // A test that injects its own signers gets no pending source unless it injects one too (null: none).
  const pendingSigners =
    overrides.pendingSigners === null
      ? undefined
      : (overrides.pendingSigners ??
        (overrides.signers === undefined ? defaultPendingSigners(config, clock, logger, clients) : undefined));
  const publicMaterial = defaultPublicMaterial(config, clock, logger, clients);
  const tenancy = createTenancy(config, clock, logger, overrides, clients, signers, publicMaterial);
  return {
    config,
    clock,
    logger,
    tracer,
    signers,
    ...(tenancy !== undefined ? { tenancy } : {}),
    ...(publicMaterial !== undefined ? { publicMaterial } : {}),
    ...(pendingSigners !== undefined ? { pendingSigners } : {}),
    identity: resolveIdentityMapping(config.identity),
    oauth,
  };
}

/**
 * Starts fetching the signing key without waiting, so the first request finds it warm.
 * A failure here is logged by the source and retried by the first request.
 */
export function prefetchSigningKey(runtime: Runtime): void {
  runtime.signers.current().catch(() => {});
}

/**
 * The observability middleware every handler starts with: an X-Ray segment per invocation (Powertools
 * tracer; off outside Lambda) and the Lambda context in every log line.
 */
export function observe<TEvent = APIGatewayProxyEventV2, TResult = APIGatewayProxyStructuredResultV2>(runtime: {
  readonly logger: Logger;
  readonly tracer?: Tracer;
}): MiddlewareObj<TEvent, TResult>[] {
  // Responses are not attached to traces: they hold tokens.
  return [
    ...(tracing !== undefined && runtime.tracer !== undefined
      ? [tracing.captureLambdaHandler(runtime.tracer, { captureResponse: false })]
      : []),
    injectLambdaContext(runtime.logger, { resetKeys: true }),
  ] as unknown as MiddlewareObj<TEvent, TResult>[];
}
