/**
 * The multi-tenant ports of one container: the cached registry and the per-tenant signers, built once from
 * `tenancy` (Lambda cold start, dev server start), and the one function a token handler calls to turn a
 * verified caller (plus its optional body choice) into the tenant, signer, mapping and Qlik policy to use.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { CallerClaims, ResolvedIdentityMapping } from '../identity/mapping.js';
import type { Clock } from '../runtime/clock.js';
import type { Config, TenancyConfig } from '../runtime/config.js';
import * as z from '../runtime/zod.js';
import type { SecretStore } from '../secrets/secret-source.js';
import type { SignerSource } from '../signing/signer.js';
import type { TenantOAuthRuntimes } from './oauth.js';
import type { TenantPublicMaterial } from './public-material.js';
import { TenantRegistry } from './registry.js';
import { callerTenantId, usableTenant } from './resolve.js';
import { TenantSigners } from './signers.js';
import { DynamoDbTenantStore, FileTenantStore, type TenantStore } from './store.js';
import type { Tenant } from './tenant.js';

/**
 * The body field a caller whose claim lists several tenants uses to pick one. Any text is accepted here;
 * whether it is one of the caller's tenants is decided by {@link resolveCallerTenant} (403 otherwise).
 */
export const tenantChoiceSchema = z
  .string('tenant must be a string')
  .check(z.minLength(1, 'tenant must not be empty'), z.maxLength(256));

/** The multi-tenant ports. */
export interface TenancyRuntime {
  readonly tenancy: TenancyConfig;
  readonly registry: TenantRegistry;
  readonly signers: TenantSigners;
  /** Per-tenant OAuth (impersonation) runtimes, built from each item's `oauth`; absent without OAuth ports. */
  readonly oauth?: TenantOAuthRuntimes;
  /** Per-tenant public key material (`GET /qlik/idp-config?tenant=`); absent outside that route's bundle. */
  readonly publicMaterial?: TenantPublicMaterial;
}

/** Ports {@link createTenancyRuntime} needs from the container's wiring. */
export interface TenancyRuntimeDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Reads tenant key secrets (Secrets Manager in a deployment; files for the dev server's file registry). */
  readonly secretStore: () => SecretStore;
  readonly kms: () => KMSClient;
  /** The deployment's own signer, for tenants on the shared key. */
  readonly sharedSigners?: SignerSource;
  /** A store instead of the one `tenancy.registry` names (tests). */
  readonly store?: TenantStore;
  /**
   * DynamoDB client for a `dynamodb` registry (the container's wiring hands in its own; tests point one at
   * moto). This module makes no client itself, so a bundle without multi-tenant mode never carries one.
   */
  readonly dynamoDb?: DynamoDBClient | (() => DynamoDBClient);
  /**
   * The tenants' OAuth runtimes (functions/tenancy/oauth.ts), built by the container's wiring only in bundles
   * that hold the OAuth wiring: this module does not import it, so `POST /qlik/jwt` does not carry it.
   */
  readonly oauth?: TenantOAuthRuntimes;
  /** Per-tenant public material, built by the wiring only in the bundle of `GET /qlik/idp-config`. */
  readonly publicMaterial?: TenantPublicMaterial;
}

function registryStore(registry: TenancyConfig['registry'], dynamoDb: TenancyRuntimeDeps['dynamoDb']): TenantStore {
  if (registry.backend === 'file') return new FileTenantStore(registry.path);
  if (dynamoDb === undefined)
    throw new TypeError('tenancy.registry.backend "dynamodb" needs a DynamoDB client (createRuntime passes one)');
  return new DynamoDbTenantStore(typeof dynamoDb === 'function' ? dynamoDb() : dynamoDb, registry.tableName);
}

/** Builds the registry and signers for `config.tenancy`. Call once per container. */
export function createTenancyRuntime(tenancy: TenancyConfig, deps: TenancyRuntimeDeps): TenancyRuntime {
  const registryConfig = tenancy.registry;
  const store = deps.store ?? registryStore(registryConfig, deps.dynamoDb);
  const registry = new TenantRegistry({ store, tenancy, clock: deps.clock, logger: deps.logger });
  const signers = new TenantSigners({
    tenancy,
    clock: deps.clock,
    logger: deps.logger,
    secretStore: deps.secretStore,
    kms: deps.kms,
    ...(deps.sharedSigners !== undefined ? { sharedSigners: deps.sharedSigners } : {}),
  });
  const { oauth, publicMaterial } = deps;
  return {
    tenancy,
    registry,
    signers,
    ...(oauth !== undefined ? { oauth } : {}),
    ...(publicMaterial !== undefined ? { publicMaterial } : {}),
  };
}

/** What a token handler uses for one request: the tenant's own signer, mapping and Qlik policy. */
export interface TenantRequestContext {
  readonly tenant: Tenant;
  readonly signers: SignerSource;
  readonly identity: ResolvedIdentityMapping;
  readonly qlik: Config['qlik'];
}

/**
 * Binds the verified caller to its tenant and returns that tenant's ports.
 * @param requested The body's `tenant`, if any (it may only pick one of the claim's tenants).
 * @throws TenantForbiddenError (403), TenantConfigInvalidError (503), TenantRegistryUnavailableError (503)
 */
export async function tenantRequestContext(
  claims: CallerClaims,
  requested: string | undefined,
  runtime: TenancyRuntime,
): Promise<TenantRequestContext> {
  const tenantId = callerTenantId(claims, requested, runtime.tenancy);
  // A fresh cache entry answers without a promise (the per-token path); otherwise the registry is read.
  const item = runtime.registry.cached(tenantId) ?? (await runtime.registry.lookup(tenantId));
  return contextOf(usableTenant(item, tenantId), runtime);
}

/**
 * {@link tenantRequestContext} without a promise when the caller's tenant is fresh in the registry cache
 * (the per-token path); undefined when the registry must be read (then call `tenantRequestContext`).
 * @throws the same errors, synchronously.
 */
export function tenantRequestContextNow(
  claims: CallerClaims,
  requested: string | undefined,
  runtime: TenancyRuntime,
): TenantRequestContext | undefined {
  const tenantId = callerTenantId(claims, requested, runtime.tenancy);
  const item = runtime.registry.cached(tenantId);
  return item === undefined ? undefined : contextOf(usableTenant(item, tenantId), runtime);
}

function contextOf(tenant: Tenant, runtime: TenancyRuntime): TenantRequestContext {
  return {
    tenant,
    signers: runtime.signers.forTenant(tenant),
    identity: tenant.identity,
    qlik: tenant.item.qlik,
  };
}
