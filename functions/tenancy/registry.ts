/**
 * The tenant registry as the token functions see it: items cached per tenant exactly as keys are cached.
 * Each tenant's entry is a {@link CachedSecret} (TTL, one read in flight, each version parsed once, the last
 * good copy served while the store fails) over an adapter that makes the tenant store look like a secret
 * store; the entries live in an {@link LruCache}, so memory stays bounded however many tenants exist.
 *
 * An unknown tenant and an invalid item are cached answers too (for the TTL), so a caller bound to a missing
 * or broken tenant costs one registry read per TTL, not one per request.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { describeErrorForLog } from '../http/lambda-http.js';
import type { Clock } from '../runtime/clock.js';
import type { TenancyConfig } from '../runtime/config.js';
import { CachedSecret, freshValue, type SecretStore, type SecretValue } from '../secrets/secret-source.js';
import { LruCache } from '../util/lru.js';
import { TenantRegistryUnavailableError } from './errors.js';
import type { TenantRecord, TenantStore } from './store.js';
import { type Tenant, tenantFromItem, validateTenantItem } from './tenant.js';

/** What the registry knows about one tenant ID. */
export type TenantLookup =
  | { readonly state: 'active'; readonly tenant: Tenant }
  | { readonly state: 'suspended'; readonly tenantId: string }
  | { readonly state: 'unknown'; readonly tenantId: string }
  | { readonly state: 'invalid'; readonly tenantId: string; readonly problems: readonly string[] };

/** The logger the registry reports to (never given item contents). */
export type RegistryLogger = Pick<Logger, 'warn' | 'error'>;

/** Settings of {@link TenantRegistry}. */
export interface TenantRegistryOptions {
  readonly store: TenantStore;
  readonly tenancy: TenancyConfig;
  readonly clock: Clock;
  readonly logger: RegistryLogger;
  /** @default tenancy.registry.cacheTtlSeconds */
  readonly ttlMs?: number;
  /** @default tenancy.registry.maxCachedTenants */
  readonly maxEntries?: number;
}

const ABSENT = 'absent';

/**
 * Presents the tenant store through the SecretStore port so that the one cache implementation serves it:
 * the "value" is the record as JSON, the "version" the item's version and content hash (or `absent`).
 */
class RecordAsSecretStore implements SecretStore {
  readonly description: string;
  constructor(private readonly store: TenantStore) {
    this.description = store.description;
  }
  async fetch(tenantId: string): Promise<SecretValue> {
    let record: TenantRecord | undefined;
    try {
      record = await this.store.get(tenantId);
    } catch (error) {
      // Typed here, so the cache rethrows it as is (a CachedSecret wraps foreign errors as a signing-key fault).
      throw new TenantRegistryUnavailableError(`The tenant registry (${this.store.description}) could not be read.`, {
        cause: error,
      });
    }
    if (record === undefined) return { value: '', versionId: ABSENT };
    const value = JSON.stringify(record);
    // The content hash, not just `version`: a hand-edited dev file (or a write that forgot to bump the
    // version) must still be seen; one hash per read, i.e. per tenant per TTL.
    return { value, versionId: `v${record.version}-${createHash('sha256').update(value).digest('hex').slice(0, 16)}` };
  }
}

/** Cached look-ups of tenant items. One per container. */
export class TenantRegistry {
  readonly #entries: LruCache<string, CachedSecret<TenantLookup>>;
  readonly #store: SecretStore;
  readonly #options: TenantRegistryOptions;
  readonly #ttlMs: number;

  constructor(options: TenantRegistryOptions) {
    this.#options = options;
    this.#store = new RecordAsSecretStore(options.store);
    this.#ttlMs = options.ttlMs ?? options.tenancy.registry.cacheTtlSeconds * 1000;
    this.#entries = new LruCache(options.maxEntries ?? options.tenancy.registry.maxCachedTenants);
  }

  /** Most tenants kept at once. */
  get maxEntries(): number {
    return this.#entries.maxEntries;
  }

  /** Tenants cached now. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * What the registry says about `tenantId`, from the cache while fresh.
   * @throws TenantRegistryUnavailableError when the store fails and no earlier answer is cached.
   */
  lookup(tenantId: string): Promise<TenantLookup> {
    let entry = this.#entries.get(tenantId);
    if (entry === undefined) {
      entry = this.#entry(tenantId);
      this.#entries.set(tenantId, entry);
    }
    return entry.get();
  }

  /**
   * What the cache says about `tenantId` while it is fresh, without a promise (the per-token path); undefined
   * when {@link lookup} would read the store, or nothing is cached.
   */
  cached(tenantId: string): TenantLookup | undefined {
    const entry = this.#entries.get(tenantId);
    return entry === undefined ? undefined : freshValue(entry);
  }

  /** Forgets what is cached for `tenantId` (the next look-up reads the store). */
  invalidate(tenantId: string): void {
    this.#entries.get(tenantId)?.invalidate();
  }

  #entry(tenantId: string): CachedSecret<TenantLookup> {
    const { tenancy, clock, logger } = this.#options;
    return new CachedSecret<TenantLookup>({
      store: this.#store,
      secretId: tenantId,
      ttlMs: this.#ttlMs,
      clock,
      transform: (value) => {
        if (value === '') return { state: 'unknown', tenantId };
        const record = JSON.parse(value) as TenantRecord;
        const result = validateTenantItem(
          { ...(record.document as object), id: record.id, status: record.status, version: record.version },
          tenancy,
          tenantId,
        );
        if (!result.ok) {
          // The operator must see why; the caller gets a plain 503. Problems name fields, never secret values.
          logger.error('tenant registry item invalid', {
            tenant: tenantId,
            version: record.version,
            problems: result.problems,
          });
          return { state: 'invalid', tenantId, problems: result.problems };
        }
        if (result.item.status === 'suspended') return { state: 'suspended', tenantId };
        return { state: 'active', tenant: tenantFromItem(result.item) };
      },
      onRefreshError: (error, servingStale) =>
        (servingStale ? logger.warn : logger.error).call(logger, 'tenant registry read failed', {
          tenant: tenantId,
          servingStale,
          ...describeErrorForLog(error),
        }),
    });
  }
}
