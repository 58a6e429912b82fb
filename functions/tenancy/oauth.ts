/**
 * Per-tenant OAuth ports: each tenant's impersonation (and admin) clients come from its registry item's
 * `oauth` section, built with the one OAuth wiring (functions/runtime/oauth-wiring.ts) as if that section
 * were a single-tenant configuration, once per tenant and item version, and kept in an LRU bounded like
 * the registry. Each tenant's runtime has its own token cache, so one tenant's cached impersonation token
 * can never be served to another tenant's caller (the cache key is the subject, the cache is the tenant's).
 */
import type { Config } from '../runtime/config.js';
import { createOAuthRuntime, type OAuthRuntime, type OAuthRuntimeDeps } from '../runtime/oauth-wiring.js';
import { LruCache } from '../util/lru.js';
import type { Tenant } from './tenant.js';

interface Entry {
  /** The item fields the runtime was built from; a change rebuilds it (and drops its token cache). */
  readonly fingerprint: string;
  readonly runtime: OAuthRuntime;
}

/** The OAuth runtimes of the tenants a container served lately. */
export class TenantOAuthRuntimes {
  readonly #entries: LruCache<string, Entry>;

  /**
   * @param base The deployment's configuration: everything but `qlik` and `oauth` (which come from the tenant).
   * @param deps The OAuth wiring's ports (clock, logger, fetch, secret store).
   */
  constructor(
    private readonly base: Config,
    private readonly deps: OAuthRuntimeDeps,
    maxEntries: number,
  ) {
    this.#entries = new LruCache(maxEntries);
  }

  /** The tenant's OAuth runtime, or undefined when its item has no `oauth` section. */
  forTenant(tenant: Tenant): OAuthRuntime | undefined {
    const { item } = tenant;
    if (item.oauth === undefined) return undefined;
    const fingerprint = JSON.stringify([item.oauth, item.qlik.tenantHost]);
    const cached = this.#entries.get(item.id);
    if (cached !== undefined && cached.fingerprint === fingerprint) return cached.runtime;
    // The refresh grace table is the deployment's (the only one the OAuth functions may write), whatever the
    // item says; its keys carry the tenant (functions/oauth/refresh-grace.ts graceKey).
    const tableName = this.base.tenancy?.refreshGraceTableName;
    const oauth = {
      ...item.oauth,
      refreshGrace: {
        windowSeconds: item.oauth.refreshGrace.windowSeconds,
        waitMs: item.oauth.refreshGrace.waitMs,
        ...(tableName !== undefined ? { tableName } : {}),
      },
    };
    const runtime = createOAuthRuntime({ ...this.base, qlik: item.qlik, oauth }, this.deps);
    this.#entries.set(item.id, { fingerprint, runtime });
    return runtime;
  }
}
