/**
 * A deploy rehearsal against moto: what `cdk deploy` would create, recreated from the synthesized template in a
 * moto server that enforces IAM, and every Lambda function's bundle run in its own Node process with its
 * environment and its execution role's credentials.
 *
 * What is taken from the template, never written by hand: the secrets and KMS keys (with their names, key specs,
 * encryption keys and rotation schedule), DynamoDB tables (key schema, TTL), SNS topics, each function's bundle folder, handler, runtime, memory, timeout and
 * environment variables (CloudFormation references resolved to the resources created here), and each role's
 * policy statements (the actions).
 *
 * Where the rehearsal departs from AWS, on purpose and in one place each:
 * - Resources in policies are widened to `*` and conditions dropped: moto matches resources by turning `*` into a
 *   regular expression without escaping (`?` in a secret ARN pattern breaks it) and evaluates identity-policy
 *   conditions only with trust-policy context keys, so both would deny what AWS allows (toolchain.md). The
 *   rehearsal proves the actions; test/infra proves the ARNs and conditions.
 * - The role's trust policy names the rehearsal's admin user instead of `lambda.amazonaws.com`: moto cannot be
 *   the Lambda service, so the rehearsal assumes the role in its place (after checking the template trusts Lambda).
 * - Values an operator puts after deployment (the signing key in its secret, client secrets) and resources the
 *   configuration names but the stack does not create (imported secrets, the notify topic) are created by the
 *   caller; a name or ARN in the configuration that moto gives another ARN is substituted in `QTV_CONFIG`.
 * - `configPatch` may point the configuration at stand-ins (the tenant emulator); each patch is the caller's, visible.
 */

import {
  type AttributeDefinition,
  CreateTableCommand,
  DynamoDBClient,
  type KeySchemaElement,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import {
  CreateAccessKeyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  IAMClient,
  PutRolePolicyCommand,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import { CreateAliasCommand, CreateKeyCommand, type KeySpec, type KeyUsageType, KMSClient } from '@aws-sdk/client-kms';
import { CreateSecretCommand, RotateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { type MotoServer, startMotoServer } from '../moto-server.js';
import { type LambdaProcess, startLambdaProcess } from './lambda-process.js';
import {
  type CfnTemplate,
  type PolicyStatementJson,
  type ResolvedResource,
  resolveIntrinsics,
  type TemplateFunction,
  templateFunctions,
  templateRole,
} from './template.js';

/** moto's default account; the rehearsal's resources and pseudo parameters use it. */
export const REHEARSAL_ACCOUNT = '123456789012';
export const REHEARSAL_REGION = 'eu-west-1';
/** Requests moto serves before enforcing IAM: exactly the three that create the rehearsal's admin user. */
const NO_AUTH_ACTIONS = 3;

/** Something the configuration names that the stack does not create. */
export type ExternalResource =
  | { readonly kind: 'secret'; readonly name: string; readonly value: string; readonly configuredAs?: string }
  | { readonly kind: 'topic'; readonly name: string; readonly configuredAs: string };

/** What to rehearse. */
export interface RehearsalOptions {
  readonly template: CfnTemplate;
  readonly assetDirOf: (s3Key: string) => string;
  /**
   * Values of the secrets the template creates (what the operator puts after deploying), by secret name, or by
   * logical ID for a secret the template leaves unnamed (CloudFormation would generate its name).
   */
  readonly secretValues: Readonly<Record<string, string>>;
  readonly external?: readonly ExternalResource[];
  /** Points the resolved configuration at stand-ins; returns a description of each change, for the report. */
  readonly configPatch?: (config: Record<string, unknown>) => void;
  /** Edits a role's statements before they reach moto (to prove a missing action fails the rehearsal). */
  readonly editStatements?: (fn: TemplateFunction, statements: PolicyStatementJson[]) => PolicyStatementJson[];
  /** Variables a stand-in needs in the function process that Lambda would not set. */
  readonly extraEnvironment?: Readonly<Record<string, string>>;
}

/** A running rehearsal. */
export interface Rehearsal {
  readonly endpoint: string;
  /** Admin clients (setup and inspection only; the functions never get these credentials). */
  readonly admin: { secretsManager: SecretsManagerClient; kms: KMSClient; sns: SNSClient; dynamodb: DynamoDBClient };
  /** Every function of the template, by its description (`POST /qlik/jwt`, or the rotation function's). */
  readonly functions: ReadonlyMap<string, LambdaProcess>;
  /** The function whose description is `description` (or starts with it); marks it as exercised. */
  fn(description: string): LambdaProcess;
  /** Descriptions of functions that {@link fn} never returned: each must have answered its happy path. */
  unexercised(): string[];
  /** ARN moto gave a created or external secret, by name. */
  secretArn(name: string): string;
  /**
   * Environment for an operator's tool (the `qtv` CLI) against this moto, with the admin credentials: the steps
   * docs/deploy.md asks of an operator after deploying (never given to a function).
   */
  readonly operatorEnvironment: Readonly<Record<string, string>>;
  /** The resolved, patched `QTV_CONFIG` of a function, by description. */
  configOf(description: string): Record<string, unknown>;
  /** The statements each role got in moto (after widening), by function description. */
  readonly grantedActions: ReadonlyMap<string, readonly string[]>;
  stop(): Promise<void>;
}

const clientConfig = (endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string }) => ({
  endpoint,
  region: REHEARSAL_REGION,
  credentials,
  maxAttempts: 1,
});

/** Starts moto with IAM enforcement and returns admin credentials made with the unauthenticated allowance. */
async function motoWithIam(): Promise<{
  moto: MotoServer;
  admin: { accessKeyId: string; secretAccessKey: string; arn: string };
}> {
  const moto = await startMotoServer(20_000, { INITIAL_NO_AUTH_ACTION_COUNT: String(NO_AUTH_ACTIONS) });
  const iam = new IAMClient(clientConfig(moto.endpoint, { accessKeyId: 'bootstrap', secretAccessKey: 'bootstrap' }));
  try {
    const user = await iam.send(new CreateUserCommand({ UserName: 'rehearsal-admin' }));
    await iam.send(
      new PutUserPolicyCommand({
        UserName: 'rehearsal-admin',
        PolicyName: 'everything',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
        }),
      }),
    );
    const key = await iam.send(new CreateAccessKeyCommand({ UserName: 'rehearsal-admin' }));
    return {
      moto,
      admin: {
        accessKeyId: key.AccessKey!.AccessKeyId!,
        secretAccessKey: key.AccessKey!.SecretAccessKey!,
        arn: user.User!.Arn!,
      },
    };
  } catch (error) {
    await moto.stop();
    throw error;
  } finally {
    iam.destroy();
  }
}

/** Whether a trust policy lets the Lambda service assume the role. */
function trustsLambda(trust: ReturnType<typeof templateRole>['trustPolicy']): boolean {
  return trust.Statement.some((s) => {
    const service = s.Principal?.Service;
    const services = Array.isArray(service) ? service : [service];
    return services.includes('lambda.amazonaws.com') && [s.Action].flat().includes('sts:AssumeRole');
  });
}

/** Deploys the template's resources and roles to a fresh IAM-enforcing moto and starts every function. */
export async function startRehearsal(options: RehearsalOptions): Promise<Rehearsal> {
  const { moto, admin } = await motoWithIam();
  const adminCredentials = { accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey };
  const cfg = clientConfig(moto.endpoint, adminCredentials);
  const secretsManager = new SecretsManagerClient(cfg);
  const kms = new KMSClient(cfg);
  const sns = new SNSClient(cfg);
  const dynamodb = new DynamoDBClient(cfg);
  const iam = new IAMClient(cfg);
  const sts = new STSClient(cfg);
  const processes = new Map<string, LambdaProcess>();
  const stopAll = async () => {
    await Promise.all([...processes.values()].map((p) => p.stop()));
    for (const client of [secretsManager, kms, sns, dynamodb, iam, sts]) client.destroy();
    await moto.stop();
  };
  try {
    const resources = new Map<string, ResolvedResource>();
    const secretArns = new Map<string, string>();
    const substitutions = new Map<string, string>();
    const pseudo = { accountId: REHEARSAL_ACCOUNT, region: REHEARSAL_REGION };
    const entries = Object.entries(options.template.Resources);
    const ofType = (type: string) => entries.filter(([, r]) => r.Type === type);
    const resolve = (value: unknown) => resolveIntrinsics(value, resources, pseudo);

    // KMS keys first: secrets and aliases refer to them.
    for (const [id, resource] of ofType('AWS::KMS::Key')) {
      const p = resource.Properties ?? {};
      const out = await kms.send(
        new CreateKeyCommand({
          KeySpec: (p.KeySpec as KeySpec | undefined) ?? 'SYMMETRIC_DEFAULT',
          KeyUsage: (p.KeyUsage as KeyUsageType | undefined) ?? 'ENCRYPT_DECRYPT',
          Description: String(p.Description ?? id),
        }),
      );
      const meta = out.KeyMetadata!;
      resources.set(id, { ref: meta.KeyId!, attributes: { Arn: meta.Arn!, KeyId: meta.KeyId! } });
    }
    for (const [id, resource] of ofType('AWS::KMS::Alias')) {
      const p = resource.Properties ?? {};
      const aliasName = String(resolve(p.AliasName));
      await kms.send(new CreateAliasCommand({ AliasName: aliasName, TargetKeyId: String(resolve(p.TargetKeyId)) }));
      resources.set(id, { ref: aliasName, attributes: {} });
    }
    for (const [id, resource] of ofType('AWS::SecretsManager::Secret')) {
      const p = resource.Properties ?? {};
      const name = String(resolve(p.Name ?? id));
      const value = options.secretValues[name];
      if (value === undefined)
        throw new Error(`the rehearsal has no value for the secret "${name}" the template creates`);
      const out = await secretsManager.send(
        new CreateSecretCommand({
          Name: name,
          SecretString: value,
          ...(p.KmsKeyId !== undefined ? { KmsKeyId: String(resolve(p.KmsKeyId)) } : {}),
        }),
      );
      resources.set(id, { ref: out.ARN!, attributes: { Id: out.ARN! } });
      secretArns.set(name, out.ARN!);
    }
    for (const [id, resource] of ofType('AWS::SNS::Topic')) {
      const name = String(resolve(resource.Properties?.TopicName ?? id));
      const out = await sns.send(new CreateTopicCommand({ Name: name }));
      resources.set(id, { ref: out.TopicArn!, attributes: { TopicArn: out.TopicArn!, TopicName: name } });
    }
    for (const [id, resource] of ofType('AWS::DynamoDB::Table')) {
      const p = resource.Properties ?? {};
      // CDK leaves TableName to CloudFormation, which generates one; the rehearsal names it after the logical ID.
      const tableName = String(resolve(p.TableName ?? `rehearsal-${id}`));
      const out = await dynamodb.send(
        new CreateTableCommand({
          TableName: tableName,
          KeySchema: p.KeySchema as KeySchemaElement[],
          AttributeDefinitions: p.AttributeDefinitions as AttributeDefinition[],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      const ttl = p.TimeToLiveSpecification as { AttributeName: string; Enabled: boolean } | undefined;
      if (ttl?.Enabled)
        await dynamodb.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: ttl }));
      resources.set(id, { ref: tableName, attributes: { Arn: out.TableDescription!.TableArn! } });
    }
    for (const external of options.external ?? []) {
      if (external.kind === 'secret') {
        const out = await secretsManager.send(
          new CreateSecretCommand({ Name: external.name, SecretString: external.value }),
        );
        secretArns.set(external.name, out.ARN!);
        if (external.configuredAs !== undefined) substitutions.set(external.configuredAs, out.ARN!);
      } else {
        const out = await sns.send(new CreateTopicCommand({ Name: external.name }));
        substitutions.set(external.configuredAs, out.TopicArn!);
      }
    }
    // moto cannot invoke a rotation function (no Docker): rotation is turned on without one and without rotating
    // now, as the template's RotateImmediatelyOnUpdate: false asks; the test plays Secrets Manager's part.
    for (const [, resource] of ofType('AWS::SecretsManager::RotationSchedule')) {
      const p = resource.Properties ?? {};
      const rules = p.RotationRules as { AutomaticallyAfterDays?: number } | undefined;
      await secretsManager.send(
        new RotateSecretCommand({
          SecretId: String(resolve(p.SecretId)),
          RotationRules: { AutomaticallyAfterDays: rules?.AutomaticallyAfterDays ?? 30 },
          RotateImmediately: false,
        }),
      );
    }

    const fns = templateFunctions(options.template, options.assetDirOf);
    const grantedActions = new Map<string, string[]>();
    const configs = new Map<string, Record<string, unknown>>();
    const starts: Array<Promise<void>> = [];
    for (const fn of fns) {
      const description = String(options.template.Resources[fn.logicalId]?.Properties?.Description ?? fn.logicalId);
      const role = templateRole(options.template, fn.roleLogicalId);
      if (!trustsLambda(role.trustPolicy))
        throw new Error(`${description}: its role does not trust lambda.amazonaws.com`);
      if (role.managedPolicyArns.length > 0)
        throw new Error(`${description}: its role has managed policies, which the rehearsal cannot recreate in moto`);
      const edited = options.editStatements?.(fn, [...role.statements]) ?? role.statements;
      const widened = edited
        .filter((s) => [s.Action].flat().length > 0)
        .map((s) => ({ Effect: s.Effect, Action: s.Action, Resource: '*' }));
      grantedActions.set(
        description,
        widened.filter((s) => s.Effect === 'Allow').flatMap((s) => [s.Action].flat()),
      );
      const roleName = `rehearsal-${fn.logicalId}`.slice(0, 64);
      const created = await iam.send(
        new CreateRoleCommand({
          RoleName: roleName,
          // In place of lambda.amazonaws.com (checked above): the rehearsal assumes the role as Lambda would.
          AssumeRolePolicyDocument: JSON.stringify({
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Principal: { AWS: admin.arn }, Action: 'sts:AssumeRole' }],
          }),
        }),
      );
      if (widened.length > 0)
        await iam.send(
          new PutRolePolicyCommand({
            RoleName: roleName,
            PolicyName: 'from-template',
            PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: widened }),
          }),
        );
      const assumed = await sts.send(
        new AssumeRoleCommand({ RoleArn: created.Role!.Arn!, RoleSessionName: fn.logicalId.slice(0, 64) }),
      );
      const credentials = assumed.Credentials!;
      const environment: Record<string, string> = {};
      for (const [name, value] of Object.entries(fn.environment)) {
        let text = String(resolve(value));
        if (name === 'QTV_CONFIG') {
          for (const [from, to] of substitutions) text = text.split(JSON.stringify(from)).join(JSON.stringify(to));
          const config = JSON.parse(text) as Record<string, unknown>;
          options.configPatch?.(config);
          configs.set(description, config);
          text = JSON.stringify(config);
        }
        environment[name] = text;
      }
      starts.push(
        startLambdaProcess({
          name: fn.logicalId,
          assetDir: fn.assetDir,
          handler: fn.handler,
          runtime: fn.runtime,
          memorySize: fn.memorySize,
          timeoutSeconds: fn.timeoutSeconds,
          environment,
          credentials: {
            accessKeyId: credentials.AccessKeyId!,
            secretAccessKey: credentials.SecretAccessKey!,
            sessionToken: credentials.SessionToken!,
          },
          region: REHEARSAL_REGION,
          endpoint: moto.endpoint,
          ...(options.extraEnvironment !== undefined ? { extraEnvironment: options.extraEnvironment } : {}),
        }).then((p) => {
          processes.set(description, p);
        }),
      );
    }
    await Promise.all(starts);

    const exercised = new Set<string>();
    const find = (description: string): [string, LambdaProcess] => {
      const match = [...processes.entries()].find(([d]) => d === description || d.startsWith(description));
      if (match === undefined)
        throw new Error(`no function "${description}" in the template; functions: ${[...processes.keys()].join(', ')}`);
      return match;
    };
    return {
      endpoint: moto.endpoint,
      admin: { secretsManager, kms, sns, dynamodb },
      operatorEnvironment: {
        AWS_ENDPOINT_URL: moto.endpoint,
        AWS_REGION: REHEARSAL_REGION,
        AWS_ACCESS_KEY_ID: admin.accessKeyId,
        AWS_SECRET_ACCESS_KEY: admin.secretAccessKey,
      },
      functions: processes,
      grantedActions,
      fn: (description) => {
        const [d, p] = find(description);
        exercised.add(d);
        return p;
      },
      unexercised: () => [...processes.keys()].filter((d) => !exercised.has(d)),
      secretArn: (name) => {
        const arn = secretArns.get(name);
        if (arn === undefined) throw new Error(`no secret "${name}" in the rehearsal`);
        return arn;
      },
      configOf: (description) => {
        const config = configs.get(find(description)[0]);
        if (config === undefined) throw new Error(`"${description}" has no QTV_CONFIG`);
        return config;
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
