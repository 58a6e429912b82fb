/**
 * Per-tenant signer selection. Each tenant signs with its own key secret (`<secretPrefix><id>`, cached and
 * rotation aware like the single-tenant key), its own KMS key (`<kmsAliasPrefix><id>`), or the deployment's
 * shared key under the tenant's own issuer and key ID. Sources are built once per tenant and kept in an LRU
 * (bounded like the registry cache); a tenant whose signing reference changes gets a new source.
 *
 * Whatever the key, the token carries the tenant's issuer from its registry item, never an issuer stored
 * beside a key: the item is the one place a tenant's Qlik IdP settings are kept.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { KMSClient } from '@aws-sdk/client-kms';
import { missingFromBundle } from '../runtime/bundle-flags.js';
import type { Clock } from '../runtime/clock.js';
import type { TenancyConfig } from '../runtime/config.js';
import { secretSignerSource } from '../runtime/wiring.js';
import type { SecretStore } from '../secrets/secret-source.js';
import { kmsSignerSource } from '../signing/kms-signer.js';
import type { ActiveSigningKey, SignerSource } from '../signing/signer.js';
import { LruCache } from '../util/lru.js';
import type { Tenant } from './tenant.js';

/** What {@link TenantSigners} needs. */
export interface TenantSignersOptions {
  readonly tenancy: TenancyConfig;
  readonly clock: Clock;
  readonly logger: Pick<Logger, 'warn' | 'error'>;
  /** Reads tenants' key secrets (Secrets Manager in a deployment, files or memory locally). */
  readonly secretStore: () => SecretStore;
  /** KMS client for tenants on their own KMS key. */
  readonly kms: () => KMSClient;
  /** The deployment's own key, for tenants with `signing.backend: "shared"`. */
  readonly sharedSigners?: SignerSource;
  /** @default tenancy.registry.maxCachedTenants */
  readonly maxEntries?: number;
}

interface Entry {
  /** The item fields the source was built from; a change rebuilds it. */
  readonly fingerprint: string;
  /** The tenant object last seen (one per registry item version). */
  tenant: Tenant;
  readonly source: SignerSource;
  /** The last key the source gave, and the tenant's view of it (its issuer and, on the shared key, its kid). */
  view: { readonly from: ActiveSigningKey; readonly to: ActiveSigningKey } | undefined;
  /** The entry's SignerSource for {@link TenantSigners.forTenant}, made once per entry rather than per token. */
  bound: SignerSource | undefined;
}

/** The signer sources of every tenant a container has served lately. */
export class TenantSigners {
  readonly #entries: LruCache<string, Entry>;

  constructor(private readonly options: TenantSignersOptions) {
    this.#entries = new LruCache(options.maxEntries ?? options.tenancy.registry.maxCachedTenants);
  }

  /** The key to sign `tenant`'s next token with, carrying the tenant's issuer. */
  current(tenant: Tenant): Promise<ActiveSigningKey> {
    return this.#keyOf(this.#entry(tenant));
  }

  /** A SignerSource bound to one tenant (the shape vendQlikJwt takes). */
  forTenant(tenant: Tenant): SignerSource {
    const entry = this.#entry(tenant);
    entry.bound ??= { current: () => this.#keyOf(entry), ready: () => this.#readyKeyOf(entry) };
    return entry.bound;
  }

  #keyOf(entry: Entry): Promise<ActiveSigningKey> {
    // A key the source holds fresh needs no wait (the per-token path); otherwise ask the source.
    const fresh = this.#readyKeyOf(entry);
    if (fresh !== undefined) return Promise.resolve(fresh);
    return entry.source.current().then((key) => this.#view(entry, key));
  }

  /** The tenant's key when its source holds it fresh in memory, else undefined (SignerSource.ready). */
  #readyKeyOf(entry: Entry): ActiveSigningKey | undefined {
    const fresh = entry.source.ready?.();
    return fresh === undefined ? undefined : this.#view(entry, fresh);
  }

  /** The tenant's view of a key, made once per key version, not per token (hot path). */
  #view(entry: Entry, key: ActiveSigningKey): ActiveSigningKey {
    if (entry.view?.from === key) return entry.view.to;
    // The entry's tenant: a newer version of the same item (same signing settings) replaces it there.
    const { item } = entry.tenant;
    const issuer = item.qlik.issuer;
    const kid = item.signing.backend === 'shared' ? item.qlik.keyId! : key.kid;
    const to = key.issuer === issuer && key.kid === kid ? key : { ...key, issuer, kid };
    entry.view = { from: key, to };
    return to;
  }

  #entry(tenant: Tenant): Entry {
    const { item } = tenant;
    const cached = this.#entries.get(item.id);
    // The same Tenant object (one per registry item version) needs no comparison at all.
    if (cached !== undefined && cached.tenant === tenant) return cached;
    const fingerprint = JSON.stringify([item.signing, item.qlik.keyId ?? null, item.qlik.issuer]);
    if (cached !== undefined && cached.fingerprint === fingerprint) {
      cached.tenant = tenant;
      cached.view = undefined;
      return cached;
    }
    const entry: Entry = { fingerprint, tenant, source: this.#build(tenant), view: undefined, bound: undefined };
    this.#entries.set(item.id, entry);
    return entry;
  }

  #build(tenant: Tenant): SignerSource {
    const { item } = tenant;
    const { tenancy, clock, logger } = this.options;
    const signing = item.signing;
    const fallbackKid = item.qlik.keyId;
    switch (signing.backend) {
      case 'secrets-manager':
      case 'file':
        return secretSignerSource({
          store: this.options.secretStore(),
          secretId: signing.backend === 'file' ? signing.privateKeyPath : signing.secretId,
          ttlMs: (signing.backend === 'file' ? 5 : tenancy.keys.cacheTtlSeconds) * 1000,
          clock,
          logger,
          ...(signing.backend === 'secrets-manager' ? { jsonField: signing.jsonField } : {}),
          ...(fallbackKid !== undefined ? { fallbackKid } : {}),
        });
      case 'kms':
        // Only a signing route's bundle holds the KMS signer (runtime/bundle-flags.ts); the guarded code sits
        // inside the `if` so that esbuild drops it (and the KMS client) elsewhere.
        if (typeof QTV_BUNDLE_KMS === 'undefined' || QTV_BUNDLE_KMS)
          return kmsSignerSource(this.options.kms(), {
            keyId: signing.keyId,
            algorithm: 'RS256',
            purpose: 'qlik-jwt',
            ...(fallbackKid !== undefined ? { kid: fallbackKid } : {}),
            retry: signing.retry,
            clock,
            logger,
          });
        throw missingFromBundle('the KMS signer');
      case 'shared': {
        const shared = this.options.sharedSigners;
        if (shared === undefined)
          throw new TypeError(`tenant ${item.id} uses the shared key, but this runtime has no shared signer`);
        return shared;
      }
    }
  }
}
