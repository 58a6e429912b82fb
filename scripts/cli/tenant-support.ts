/**
 * What the `qtv tenant` commands share: the registry table flags, the DynamoDB store, the key-prefix
 * settings (which must match the deployment's `tenancy.keys`), and how registry faults become one line.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type TenancyConfig, tenancySchema } from '../../functions/runtime/config.js';
import { DynamoDbTenantStore } from '../../functions/tenancy/store.js';
import { tenantIdSchema } from '../../functions/tenancy/tenant.js';
import { awsError } from './key-source.js';
import { type CliError, usageError } from './support.js';

/** parseArgs options every `qtv tenant` command takes. */
export const registryOptions = {
  table: { type: 'string' },
  region: { type: 'string' },
  'secret-prefix': { type: 'string' },
  'kms-alias-prefix': { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

/** Help lines for {@link registryOptions}. */
export const REGISTRY_HELP = `  --table NAME          the tenant registry table (stack output TenantRegistryTableName)
  --secret-prefix P     tenant key secrets are named P<id> (default qtv/tenants/; must match tenancy.keys)
  --kms-alias-prefix P  tenant KMS keys are aliased P<id> (default alias/qtv-tenant-; must match tenancy.keys)
  --region R            AWS region (default: the SDK's; AWS_ENDPOINT_URL is honoured)
  --json                machine-readable output`;

/** The registry store and key settings named by the flags. */
export function registryFrom(flags: {
  table?: string;
  region?: string;
  'secret-prefix'?: string;
  'kms-alias-prefix'?: string;
}): { store: DynamoDbTenantStore; tenancy: TenancyConfig; region: string | undefined } {
  if (flags.table === undefined)
    throw usageError('--table required: the tenant registry table, e.g. --table qlik-token-vending-tenants');
  const parsed = tenancySchema.safeParse({
    tenantClaim: 'unused-by-the-cli',
    registry: { backend: 'dynamodb', tableName: flags.table },
    keys: {
      ...(flags['secret-prefix'] !== undefined ? { secretPrefix: flags['secret-prefix'] } : {}),
      ...(flags['kms-alias-prefix'] !== undefined ? { kmsAliasPrefix: flags['kms-alias-prefix'] } : {}),
    },
  });
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw usageError(
      `${first?.path.at(-1) === 'kmsAliasPrefix' ? '--kms-alias-prefix' : '--secret-prefix'}: ${first?.message}`,
    );
  }
  const client = new DynamoDBClient(flags.region === undefined ? {} : { region: flags.region });
  return { store: new DynamoDbTenantStore(client, flags.table), tenancy: parsed.data, region: flags.region };
}

/** A tenant ID from the command line, checked as the registry checks it. */
export function tenantIdArg(value: string | undefined, command: string): string {
  if (value === undefined) throw usageError(`a tenant ID is required: qtv ${command} <id>`);
  const parsed = tenantIdSchema.safeParse(value);
  if (!parsed.success) throw usageError(`tenant ID ${JSON.stringify(value)} ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** A DynamoDB failure as one line with the fix. */
export function registryError(error: unknown, table: string, action: string): CliError {
  if ((error as { name?: string }).name === 'ResourceNotFoundException')
    return usageError(
      `${action}: table ${table} does not exist: check --table (stack output TenantRegistryTableName) and AWS_REGION`,
    );
  return awsError(error, `${action} (table ${table})`);
}
