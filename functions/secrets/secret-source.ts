/**
 * Secret stores and the cache in front of them. The cache owns TTL, stale-on-error, one fetch
 * in flight, and "transform once per version" (so a PEM is parsed once per secret version,
 * never per request). Stores only fetch.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SigningKeyUnavailableError, TokenVendingError } from '../errors.js';
import type { Clock } from '../runtime/clock.js';

/** A fetched secret value with the version it came from. */
export interface SecretValue {
  readonly value: string;
  readonly versionId: string;
}

/** A place secrets are fetched from (Secrets Manager, a local file). */
export interface SecretStore {
  /** Human-readable name for messages; never the value. */
  readonly description: string;
  fetch(secretId: string, versionStage?: string): Promise<SecretValue>;
}

/** Secrets Manager adapter. The client is built once per container by the caller. */
export class SecretsManagerStore implements SecretStore {
  readonly description = 'AWS Secrets Manager';
  constructor(private readonly client: SecretsManagerClient) {}

  async fetch(secretId: string, versionStage = 'AWSCURRENT'): Promise<SecretValue> {
    const out = await this.client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: versionStage }));
    if (out.SecretString === undefined) {
      throw new TypeError(`secret ${secretId} (${versionStage}) has no SecretString; store the key as text`);
    }
    return { value: out.SecretString, versionId: out.VersionId ?? 'unknown' };
  }
}

/** Local file adapter for development: the secret id is a path; the version is the content hash. */
export class FileSecretStore implements SecretStore {
  readonly description = 'local file';
  async fetch(path: string): Promise<SecretValue> {
    const value = await readFile(path, 'utf8');
    return { value, versionId: createHash('sha256').update(value).digest('hex').slice(0, 16) };
  }
}

/**
 * In-memory adapter: values set by the dev server (the tenant emulator's demo secrets) or a test.
 * The version is the content hash, so `set` with a new value is a rotation.
 */
export class MemorySecretStore implements SecretStore {
  readonly description = 'in-memory secrets';
  readonly #values = new Map<string, string>();

  constructor(values: Record<string, string> = {}) {
    for (const [id, value] of Object.entries(values)) this.#values.set(id, value);
  }

  set(secretId: string, value: string): void {
    this.#values.set(secretId, value);
  }

  async fetch(secretId: string): Promise<SecretValue> {
    const value = this.#values.get(secretId);
    if (value === undefined) throw new Error(`no secret named ${secretId}`);
    return { value, versionId: createHash('sha256').update(value).digest('hex').slice(0, 16) };
  }
}

/** How a {@link CachedSecret} behaves. */
export interface CachedSecretOptions<T> {
  readonly store: SecretStore;
  readonly secretId: string;
  /** @default 'AWSCURRENT' */
  readonly versionStage?: string;
  /** How long a value is served before the store is asked again. */
  readonly ttlMs: number;
  /** After a failed refresh with a value in hand, wait this long before asking again. @default 10_000 */
  readonly retryAfterErrorMs?: number;
  readonly clock: Clock;
  /** Turns the raw value into what callers need; runs once per new version. */
  readonly transform: (value: string) => T | Promise<T>;
  /** Told about every failed refresh (for logs and alarm metrics); never given the value. */
  readonly onRefreshError?: (error: unknown, servingStale: boolean) => void;
}

interface Entry<T> {
  readonly value: T;
  readonly versionId: string;
  refreshAtMs: number;
}

/**
 * A cached, transformed secret: TTL, one fetch in flight, the same version never transformed twice,
 * and after warm-up a failing store (or a malformed new version) never fails a caller: the last good
 * value is served until the store recovers.
 */
export class CachedSecret<T> {
  private entry: Entry<T> | undefined;
  private inFlight: Promise<T> | undefined;

  constructor(private readonly options: CachedSecretOptions<T>) {}

  /** The current value, fetching it when missing or due. */
  get(): Promise<T> {
    const entry = this.entry;
    if (entry !== undefined && this.options.clock.nowMs() < entry.refreshAtMs) return Promise.resolve(entry.value);
    this.inFlight ??= this.refresh().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Marks the cached value due, so the next `get` asks the store (e.g. after a rotation finishes). */
  invalidate(): void {
    if (this.entry !== undefined) this.entry.refreshAtMs = 0;
  }

  private async refresh(): Promise<T> {
    const { store, secretId, versionStage, ttlMs, clock, transform } = this.options;
    const stale = this.entry;
    try {
      const fetched = await store.fetch(secretId, versionStage);
      const value =
        stale !== undefined && stale.versionId === fetched.versionId ? stale.value : await transform(fetched.value);
      this.entry = { value, versionId: fetched.versionId, refreshAtMs: clock.nowMs() + ttlMs };
      return value;
    } catch (error) {
      this.options.onRefreshError?.(error, stale !== undefined);
      if (stale !== undefined) {
        stale.refreshAtMs = clock.nowMs() + (this.options.retryAfterErrorMs ?? 10_000);
        return stale.value;
      }
      if (error instanceof TokenVendingError) throw error;
      throw new SigningKeyUnavailableError(`The signing key could not be fetched from ${store.description}.`, {
        cause: error,
      });
    }
  }
}

/**
 * The value `cache.get()` would answer now without asking the store (fresh within its TTL), else undefined:
 * lets a per-token path skip a promise (SignerSource.ready). A function rather than a method so that bundles
 * which never call it do not carry it; it reads the cache's private state by bracket access, TypeScript's
 * sanctioned escape hatch, from inside the module that owns it.
 */
export function freshValue<T>(cache: CachedSecret<T>): T | undefined {
  // biome-ignore lint/complexity/useLiteralKeys: private members are reachable by bracket access only
  const entry = cache['entry'];
  // biome-ignore lint/complexity/useLiteralKeys: as above
  return entry !== undefined && cache['options'].clock.nowMs() < entry.refreshAtMs ? entry.value : undefined;
}
