/**
 * `qtv tenant rotation <id>`: attaches the deployment's one rotation function to a tenant's key secret
 * (`<secretPrefix><id>`) with Secrets Manager RotateSecret and `RotationLambdaARN`
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html). Idempotent: a secret
 * already rotated by that function on that schedule is left alone. The function then finds the tenant by the
 * secret's name and uses its registry item (issuer, Qlik host, admin client): docs/multi-tenant.md.
 */
import {
  DescribeSecretCommand,
  type DescribeSecretCommandOutput,
  RotateSecretCommand,
} from '@aws-sdk/client-secrets-manager';
import { tenantKeySecretName, validateTenantItem } from '../../functions/tenancy/tenant.js';
import { awsError, secretsManagerClient } from '../cli/key-source.js';
import { type Command, EXIT, jsonText, parseCommandArgs, parsePositiveInt, usageError } from '../cli/support.js';
import { REGISTRY_HELP, registryError, registryFrom, registryOptions, tenantIdArg } from '../cli/tenant-support.js';

const help = `qtv tenant rotation: rotate a tenant's key secret with the deployment's rotation function

usage: qtv tenant rotation <id> --table NAME --function ARN [--schedule-days N] [--rotate-now] [--dry-run] [--json]

  --function ARN        the rotation function (stack output RotationFunctionName; name or ARN)
  --schedule-days N     days between rotations (default 30; Secrets Manager allows 1-1000)
  --rotate-now          also start a rotation now (default: the first one after N days)
  --dry-run             print what would change, change nothing
${REGISTRY_HELP}

The tenant must keep its key in its own secret (signing.backend "secrets-manager"); in register mode its item
names its Qlik admin client (rotation.adminCredentialsSecretId, a secret under <secret-prefix><id>/).

example:
  qtv tenant rotation acme --table qlik-token-vending-tenants --function qlik-token-vending-KeyRotation
`;

/** `qtv tenant rotation`. */
export const tenantRotationCommand: Command = {
  name: 'tenant rotation',
  summary: "rotate a tenant's key secret with the deployment's rotation function (RotateSecret); --dry-run",
  help,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(
      'tenant rotation',
      argv,
      {
        ...registryOptions,
        function: { type: 'string' },
        'schedule-days': { type: 'string', default: '30' },
        'rotate-now': { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
      },
      true,
    );
    const id = tenantIdArg(positionals[0], 'tenant rotation');
    if (values.function === undefined)
      throw usageError('--function required: the rotation function (stack output RotationFunctionName)');
    const days = parsePositiveInt(values['schedule-days']!, '--schedule-days');
    if (days > 1000) throw usageError('--schedule-days: Secrets Manager allows 1-1000 days');
    const { store, tenancy, region } = registryFrom(values);
    let record: Awaited<ReturnType<typeof store.get>>;
    try {
      record = await store.get(id);
    } catch (error) {
      throw registryError(error, values.table!, `cannot read tenant ${id}`);
    }
    if (record === undefined) throw usageError(`tenant ${id} is not in ${values.table}: add it with qtv tenant add`);
    const checked = validateTenantItem(
      { ...(record.document as object), id: record.id, status: record.status, version: record.version },
      tenancy,
      id,
    );
    if (!checked.ok)
      throw usageError(`tenant ${id}'s item is invalid (${checked.problems[0]}): fix it first (qtv tenant show ${id})`);
    if (checked.item.signing.backend !== 'secrets-manager')
      throw usageError(
        `tenant ${id} signs with signing.backend "${checked.item.signing.backend}": only a key in its own secret is rotated`,
      );
    const secretId = tenantKeySecretName(tenancy, id);
    const client = secretsManagerClient(region);
    let described: DescribeSecretCommandOutput;
    try {
      described = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
    } catch (error) {
      throw awsError(error, `cannot describe tenant ${id}'s key secret ${secretId}`);
    }
    const functionName = values.function.split(':function:').at(-1)?.split(':')[0];
    const attached =
      described.RotationEnabled === true &&
      described.RotationLambdaARN?.split(':function:').at(-1)?.split(':')[0] === functionName &&
      described.RotationRules?.AutomaticallyAfterDays === days;
    const action = attached ? 'exists' : values['dry-run'] ? 'would-attach' : 'attach';
    if (action === 'attach' || (values['rotate-now'] && !values['dry-run'])) {
      try {
        await client.send(
          new RotateSecretCommand({
            SecretId: secretId,
            RotationLambdaARN: values.function,
            RotationRules: { AutomaticallyAfterDays: days },
            // false: attaching must not rotate as a side effect; --rotate-now asks for it explicitly.
            RotateImmediately: values['rotate-now'],
          }),
        );
      } catch (error) {
        throw awsError(error, `cannot attach the rotation function to ${secretId}`);
      }
    }
    const result = { tenant: id, secretId, function: values.function, scheduleDays: days, action };
    if (values.json) io.stdout(jsonText(result));
    else
      io.stdout(
        `${action.padEnd(12)} ${secretId} rotated by ${values.function} every ${days} days${
          values['rotate-now'] && !values['dry-run'] ? ' (rotation started now)' : ''
        }\n`,
      );
    return EXIT.ok;
  },
};
