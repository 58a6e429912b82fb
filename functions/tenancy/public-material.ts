/**
 * Per-tenant public key material for `GET /qlik/idp-config?tenant=<id>`: what that tenant's Qlik JWT
 * identity provider needs (issuer, key ID, certificate), read the way the single-tenant route reads it,
 * without any power to sign:
 * - own key secret: the tenant's public-material secret `<secretPrefix><id>/public` (never the key secret);
 * - own KMS key: `kms:GetPublicKey` on the tenant's alias, certified by that same public-material secret;
 * - shared key: the deployment's public material, under the tenant's own issuer and key ID.
 * The issuer is always the item's `qlik.issuer` (the one place a tenant's IdP settings live). Sources are
 * built once per tenant and item version and kept in an LRU bounded like the registry.
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import {
  kmsPublicMaterialSource,
  type PublicMaterialSource,
  secretPublicMaterialSource,
} from '../idp-config/public-material-source.js';
import type { Clock } from '../runtime/clock.js';
import type { TenancyConfig } from '../runtime/config.js';
import type { SecretStore } from '../secrets/secret-source.js';
import type { PublicKeyMaterial } from '../signing/public-material.js';
import { LruCache } from '../util/lru.js';
import { type Tenant, tenantPublicSecretName } from './tenant.js';

/** What {@link TenantPublicMaterial} needs. */
export interface TenantPublicMaterialOptions {
  readonly tenancy: TenancyConfig;
  readonly clock: Clock;
  readonly logger: { warn(message: string, extra: Record<string, unknown>): void };
  /** Reads the tenants' public-material secrets (Secrets Manager). */
  readonly secretStore: () => SecretStore;
  /** `kms:GetPublicKey` for tenants on their own KMS key. */
  readonly kms: () => KMSClient;
  /** The deployment's own public material, for tenants on the shared key. */
  readonly shared?: PublicMaterialSource;
}

interface Entry {
  readonly fingerprint: string;
  readonly source: PublicMaterialSource;
}

/** The public-material sources of the tenants a container has served lately. */
export class TenantPublicMaterial {
  readonly #entries: LruCache<string, Entry>;

  constructor(private readonly options: TenantPublicMaterialOptions) {
    this.#entries = new LruCache(options.tenancy.registry.maxCachedTenants);
  }

  /** The tenant's public material, with its own issuer (and, on the shared key, its own key ID). */
  forTenant(tenant: Tenant): PublicMaterialSource {
    const { item } = tenant;
    const fingerprint = JSON.stringify([item.signing, item.qlik.keyId ?? null, item.qlik.issuer]);
    const cached = this.#entries.get(item.id);
    if (cached !== undefined && cached.fingerprint === fingerprint) return cached.source;
    const source = this.#build(tenant);
    this.#entries.set(item.id, { fingerprint, source });
    return source;
  }

  #build(tenant: Tenant): PublicMaterialSource {
    const { item } = tenant;
    const { tenancy, clock, logger } = this.options;
    const issuer = item.qlik.issuer;
    const withIssuer = (key: PublicKeyMaterial, kid = key.kid): PublicKeyMaterial => ({ ...key, issuer, kid });
    const stored = () =>
      secretPublicMaterialSource({
        store: this.options.secretStore(),
        secretId:
          ('publicSecretId' in item.signing ? item.signing.publicSecretId : undefined) ??
          tenantPublicSecretName(tenancy, item.id),
        ttlMs: tenancy.keys.cacheTtlSeconds * 1000,
        clock,
        logger,
      });
    let inner: PublicMaterialSource;
    switch (item.signing.backend) {
      case 'secrets-manager':
        inner = stored();
        break;
      case 'kms':
        inner = kmsPublicMaterialSource(
          this.options.kms(),
          {
            keyId: item.signing.keyId,
            retry: item.signing.retry,
            ...(item.qlik.keyId !== undefined ? { kid: item.qlik.keyId } : {}),
          },
          stored(),
        );
        break;
      case 'shared': {
        const shared = this.options.shared;
        const kid = item.qlik.keyId!;
        if (shared === undefined)
          throw new TypeError(`tenant ${item.id} uses the shared key, but this runtime has no shared public material`);
        // The shared key's own rotation is the deployment's: a tenant's key ID is fixed, so no pending key.
        return { get: async () => ({ current: withIssuer((await shared.get()).current, kid) }) };
      }
      case 'file':
        throw new TypeError('a file key has no public-material secret (the dev server derives it from the key)');
    }
    return {
      get: async () => {
        const { current, pending } = await inner.get();
        return { current: withIssuer(current), ...(pending !== undefined ? { pending: withIssuer(pending) } : {}) };
      },
    };
  }
}
