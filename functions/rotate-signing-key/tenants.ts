/**
 * Per-tenant rotation with the one rotation function (docs/multi-tenant.md, "Key rotation per tenant").
 * Secrets Manager calls the function with the ARN of the secret being rotated; a secret named
 * `<secretPrefix><id>` is tenant `id`'s key, and the registry item of that tenant says what the rotation
 * needs: its issuer and Qlik host (the new key's IdP goes to that tenant's Qlik only), its admin client, its
 * public-material secret. Nothing in the event chooses a tenant except the secret's own name, and the item
 * must name exactly that secret as its key (the ownership rule of functions/tenancy/tenant.ts).
 */
import { RotationStateError } from '../errors.js';
import type { Config, TenancyConfig } from '../runtime/config.js';
import { TENANT_ID_PATTERN } from '../runtime/config.js';
import type { TenantRegistry } from '../tenancy/registry.js';
import { secretNameOf, type TenantItem, tenantPublicSecretName } from '../tenancy/tenant.js';
import type { RotationDependencies } from './core.js';
import type { QlikIdentityProviderPort, RotationSecretsPort } from './ports.js';
import { AWSCURRENT } from './ports.js';

/** What the rotation needs to rotate tenants' key secrets. */
export interface TenantRotationOptions {
  readonly tenancy: TenancyConfig;
  readonly registry: TenantRegistry;
  /** The deployment's rotation settings (key size, kid prefix, grace period, probe identity, timeouts). */
  readonly rotation: Config['rotation'];
  /**
   * The Qlik REST port of one tenant: its base URL (`oauth.tenantUrl` or `https://<tenantHost>`), its admin
   * credentials secret (under the tenant's own prefix) and web integration. index.ts builds the REST adapter.
   */
  readonly qlikFor: (tenant: {
    readonly baseUrl: string;
    readonly adminCredentialsSecretId: string | undefined;
    readonly webIntegrationId: string | undefined;
  }) => QlikIdentityProviderPort;
}

/** The tenant ID a secret name belongs to, when it is a tenant key secret name (`<prefix><id>`, no `/`). */
export function tenantOfKeySecret(secretId: string, tenancy: Pick<TenancyConfig, 'keys'>): string | undefined {
  const name = secretNameOf(secretId);
  const prefix = tenancy.keys.secretPrefix;
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  return TENANT_ID_PATTERN.test(rest) ? rest : undefined;
}

/**
 * The rotation's dependencies for `secretId` when it is a tenant's key secret; undefined when the secret is
 * not under the tenant prefix at all (the deployment's own key).
 * @throws RotationStateError for a secret under the prefix that is no tenant's key secret, an unknown tenant,
 *   an invalid item, or an item that does not keep its key in that secret (Secrets Manager retries the step).
 */
export async function tenantRotationDependencies(
  secretId: string,
  base: Omit<RotationDependencies, 'config' | 'qlik'>,
  options: TenantRotationOptions,
): Promise<RotationDependencies | undefined> {
  const { tenancy } = options;
  const name = secretNameOf(secretId);
  if (!name.startsWith(tenancy.keys.secretPrefix)) return undefined;
  const tenantId = tenantOfKeySecret(secretId, tenancy);
  if (tenantId === undefined)
    throw new RotationStateError(
      `Secret ${name} lies under the tenant prefix ${tenancy.keys.secretPrefix} but is no tenant's key secret (<prefix><tenant id>): it is not rotated.`,
    );
  const found = await options.registry.lookup(tenantId);
  let item: TenantItem;
  if (found.state === 'active') item = found.tenant.item;
  else if (found.state === 'suspended') {
    // A suspended tenant's Qlik may refuse the admin client, and no token is issued for it anyway: the step
    // fails with the reason, and Secrets Manager's next scheduled attempt after `--resume` rotates the key.
    throw new RotationStateError(
      `Tenant ${tenantId} is suspended: its key is not rotated until it is resumed (qtv tenant suspend ${tenantId} --resume).`,
    );
  } else if (found.state === 'unknown')
    throw new RotationStateError(`Secret ${name} names tenant ${tenantId}, which is not in the tenant registry.`);
  else
    throw new RotationStateError(
      `The registry item of tenant ${tenantId} is invalid (${found.problems.length} problems, see the token functions' logs).`,
    );
  const signing = item.signing;
  if (signing.backend !== 'secrets-manager' || secretNameOf(signing.secretId) !== name)
    throw new RotationStateError(
      `Tenant ${tenantId} does not keep its signing key in secret ${name} (signing.backend ${signing.backend}): it is not rotated.`,
    );
  const mode = item.rotation?.qlikMode ?? options.rotation.qlik.mode;
  const adminCredentialsSecretId = item.rotation?.adminCredentialsSecretId;
  if (mode === 'register' && adminCredentialsSecretId === undefined)
    throw new RotationStateError(
      `Tenant ${tenantId} rotates in register mode but its item names no admin client: set rotation.adminCredentialsSecretId (a secret under ${tenancy.keys.secretPrefix}${tenantId}/).`,
    );
  const publicSecretId = signing.publicSecretId ?? tenantPublicSecretName(tenancy, tenantId);
  const config: RotationDependencies['config'] = {
    // The tenant's issuer, key ID and token policy: the new key's certificate and IdP are this tenant's.
    qlik: item.qlik,
    rotation: {
      ...options.rotation,
      qlik: {
        ...options.rotation.qlik,
        mode,
        ...(adminCredentialsSecretId !== undefined ? { adminCredentialsSecretId } : {}),
        ...(item.webIntegrationId !== undefined ? { webIntegrationId: item.webIntegrationId } : {}),
      },
    },
    signing: { ...signing, publicSecretId },
  };
  const baseUrl = (item.oauth?.tenantUrl ?? `https://${item.qlik.tenantHost}`).replace(/\/+$/, '');
  base.logger.info('rotating a tenant key secret', { tenant: tenantId, mode });
  return {
    ...base,
    config,
    secrets: optionalPublicSecret(base.secrets, publicSecretId, base.logger, tenantId),
    qlik: options.qlikFor({ baseUrl, adminCredentialsSecretId, webIntegrationId: item.webIntegrationId }),
  };
}

/**
 * The tenant's public-material secret is created by onboarding (`qtv tenant add`); a tenant onboarded before
 * it existed has none. Its absence must not block the key rotation itself: the write is skipped with a warning
 * (`GET /qlik/idp-config?tenant=` then answers 503 for that tenant until the secret exists).
 */
function optionalPublicSecret(
  secrets: RotationSecretsPort,
  publicSecretId: string,
  logger: RotationDependencies['logger'],
  tenantId: string,
): RotationSecretsPort {
  return {
    describe: (id) => secrets.describe(id),
    getValue: (id, select) => secrets.getValue(id, select),
    updateStage: (id, stage, move) => secrets.updateStage(id, stage, move),
    putValue: async (id, versionId, value, stage) => {
      try {
        await secrets.putValue(id, versionId, value, stage);
      } catch (error) {
        if (id !== publicSecretId || stage !== AWSCURRENT || (error as Error).name !== 'ResourceNotFoundException')
          throw error;
        logger.warn('tenant public-material secret missing: not updated', { tenant: tenantId, publicSecretId });
      }
    },
  };
}
