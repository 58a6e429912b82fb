/**
 * `qtv tenant rotation <id>`: attaches the rotation function to the tenant's own key secret with RotateSecret +
 * RotationLambdaARN (no rotation now unless asked), idempotently; refuses a tenant whose key is not in its own
 * secret, and an unknown tenant, with one line and exit 2. The registry is moto's DynamoDB.
 *
 * moto cannot take the attach itself: given a RotationLambdaARN, its RotateSecret invokes the function's
 * testSecret step (as AWS does with RotateImmediately false,
 * https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html), which needs a Lambda
 * function and Docker. So the attach runs in process with Secrets Manager mocked at the SDK port
 * (aws-sdk-client-mock) and the exact RotateSecret request is checked; the refusals run as subprocesses.
 */
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  RotateSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoDbTenantStore } from '../../functions/tenancy/store.js';
import { tenantItemSchema } from '../../functions/tenancy/tenant.js';
import { tenantRotationCommand } from '../../scripts/commands/tenant-rotation.js';
import { motoDynamoDb, motoEnv, motoSecretsManager, uniqueName } from '../support/aws.js';
import { runQtv } from '../support/cli.js';
import { createTenantTable, tenantItemInput } from '../support/tenants.js';

const FUNCTION = 'arn:aws:lambda:eu-west-1:123456789012:function:qtv-KeyRotation';
const sm = motoSecretsManager();
let table: string;
let prefix: string;

beforeAll(async () => {
  table = uniqueName('qtv-tenants');
  prefix = `${uniqueName('qtv-rc')}/`;
  const dynamodb = motoDynamoDb();
  await createTenantTable(dynamodb, table);
  const store = new DynamoDbTenantStore(dynamodb, table);
  for (const id of ['acme', 'globex'])
    await store.put(
      tenantItemSchema.parse(
        tenantItemInput(id, { signing: { backend: 'secrets-manager', secretId: `${prefix}${id}` } }),
      ),
      0,
    );
  await store.put(
    tenantItemSchema.parse(
      tenantItemInput('initech', { signing: { backend: 'kms', keyId: 'alias/qtv-tenant-initech' } }),
    ),
    0,
  );
  for (const id of ['acme', 'globex'])
    await sm.send(new CreateSecretCommand({ Name: `${prefix}${id}`, SecretString: '{"privateKey":"unused"}' }));
});

const rotation = (id: string, ...extra: string[]) =>
  runQtv(
    ['tenant', 'rotation', id, '--table', table, '--secret-prefix', prefix, '--function', FUNCTION, '--json', ...extra],
    {
      env: motoEnv(),
    },
  );
afterEach(() => {
  vi.unstubAllEnvs();
});
const describeSecret = (id: string) => sm.send(new DescribeSecretCommand({ SecretId: `${prefix}${id}` }));

describe('CLI: qtv tenant rotation', () => {
  it('attaches the rotation function to the tenant’s own key secret with RotateSecret, then reports it as existing', async () => {
    for (const [name, value] of Object.entries(motoEnv())) vi.stubEnv(name, value);
    const secretsManager = mockClient(SecretsManagerClient);
    secretsManager.on(DescribeSecretCommand).resolvesOnce({ RotationEnabled: false });
    secretsManager.on(RotateSecretCommand).resolves({});
    const out: string[] = [];
    const io = { stdout: (t: string) => out.push(t), stderr: () => {}, readStdin: async () => '', fetch };
    const argv = ['acme', '--table', table, '--secret-prefix', prefix, '--function', FUNCTION, '--schedule-days', '45'];
    expect(await tenantRotationCommand.run([...argv, '--json'], io)).toBe(0);
    expect(JSON.parse(out[0]!)).toMatchObject({ tenant: 'acme', secretId: `${prefix}acme`, action: 'attach' });
    expect(secretsManager.commandCalls(RotateSecretCommand).map((c) => c.args[0].input)).toEqual([
      {
        SecretId: `${prefix}acme`,
        RotationLambdaARN: FUNCTION,
        RotationRules: { AutomaticallyAfterDays: 45 },
        RotateImmediately: false,
      },
    ]);
    // Attached already (what DescribeSecret then says): nothing is called again.
    secretsManager
      .on(DescribeSecretCommand)
      .resolves({ RotationEnabled: true, RotationLambdaARN: FUNCTION, RotationRules: { AutomaticallyAfterDays: 45 } });
    expect(await tenantRotationCommand.run([...argv, '--json'], io)).toBe(0);
    expect(JSON.parse(out[1]!)).toMatchObject({ action: 'exists' });
    expect(secretsManager.commandCalls(RotateSecretCommand)).toHaveLength(1);
    secretsManager.restore();
  });

  it('changes nothing with --dry-run', async () => {
    const dry = await rotation('globex', '--dry-run');
    expect(JSON.parse(dry.stdout)).toMatchObject({ action: 'would-attach' });
    expect((await describeSecret('globex')).RotationEnabled ?? false).toBe(false);
  });

  it.each([
    ['a tenant that signs with its own KMS key', 'initech', /only a key in its own secret is rotated/],
    ['a tenant not in the registry', 'nobody', /is not in .* add it with qtv tenant add/],
  ])('refuses %s with one line and exit 2', async (_, id, message) => {
    const result = await rotation(id);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});
