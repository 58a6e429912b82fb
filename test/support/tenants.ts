/** Tenant registry fixtures: a tenancy configuration and valid items for any tenant ID. */
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type TenancyConfig, tenancySchema } from '../../functions/runtime/config.js';
import type { TenantItem, TenantItemInput } from '../../functions/tenancy/tenant.js';
import { tenantItemSchema } from '../../functions/tenancy/tenant.js';

/** A tenancy section with a DynamoDB registry (the default key prefixes). */
export function tenancyConfig(overrides: Partial<TenancyConfig> = {}): TenancyConfig {
  return {
    ...tenancySchema.parse({
      tenantClaim: 'custom:tenant',
      registry: { backend: 'dynamodb', tableName: 'qtv-tenants' },
    }),
    ...overrides,
  };
}

/** A valid item input for `id`, signing with its own key secret under the default prefix. */
export function tenantItemInput(id: string, overrides: Partial<TenantItemInput> = {}): TenantItemInput {
  return {
    id,
    status: 'active',
    version: 1,
    qlik: {
      tenantHost: `${id.toLowerCase()}.eu.qlikcloud.com`,
      issuer: `https://qtv.example/${id}`,
      keyId: `${id}-key-1`,
    },
    identity: { preset: 'generic' },
    signing: { backend: 'secrets-manager', secretId: `qtv/tenants/${id}` },
    ...overrides,
  };
}

/** A parsed item (defaults applied) for `id`. */
export function tenantItem(id: string, overrides: Partial<TenantItemInput> = {}): TenantItem {
  return tenantItemSchema.parse(tenantItemInput(id, overrides));
}

/**
 * Creates a tenant registry table in moto with the layout the TenantRegistry construct deploys
 * (partition key `tenantId` S, on-demand).
 */
export async function createTenantTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: 'tenantId', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'tenantId', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}
