import { join } from 'node:path';
import { Validations } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { routes as routeTable } from '../../functions/routes.js';
import { CONFIG_ENV_VAR, type ConfigInput, loadConfigFile } from '../../functions/runtime/config.js';
import { METRIC_NAMESPACE, ROTATION_BLOCKED_METRIC } from '../../infra/constructs/monitoring.js';
import { PROJECT_ROOT } from '../../infra/constructs/token-function.js';
import type { TokenVendingStack } from '../../infra/stacks/token-vending-stack.js';
import { matchesJsonFilterPattern } from '../support/metric-filter.js';
import { baseConfig, buildStack, resourcesOf } from './synth.js';

// The routes every configuration serves (OAuth routes need an `oauth` section: test/infra/oauth-routes.test.ts).
const routes = routeTable.filter((route) => route.requires === undefined);

// One synthesized stack per variant, shared by every assertion on it: synth is the cost of these tests.
let secretStack: Template;
let kmsStack: Template;
let importedStack: Template;
let rotationStack: Template;
let secretStackConstruct: TokenVendingStack;
let rotationStackConstruct: TokenVendingStack;

const kmsConfig: ConfigInput = {
  ...baseConfig,
  signing: { backend: 'kms', keyId: 'alias/qtv-test' },
  callerIdp: { issuer: 'https://idp.example.com/oauth2/default', audience: ['api://qtv'] },
  deployment: { kmsKeySpec: 'RSA_3072', lambda: { memoryMb: 1024, timeoutSeconds: 5, reservedConcurrency: 7 } },
};
const importedSecretArn = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:qtv/prod/key-AbCdEf';
const importedCmkArn = 'arn:aws:kms:eu-west-1:111122223333:key/11111111-2222-3333-4444-555555555555';
const importedConfig: ConfigInput = {
  ...baseConfig,
  signing: { backend: 'secrets-manager', secretId: importedSecretArn },
  callerIdp: { issuer: 'https://idp.example.com/', audience: ['a', 'b'] },
  deployment: { secretKmsKeyArn: importedCmkArn },
};

beforeAll(() => {
  // Each build also runs cdk-nag AwsSolutions: Template.fromStack throws on any unacknowledged finding.
  ({ template: secretStack, stack: secretStackConstruct } = buildStack(baseConfig));
  kmsStack = buildStack(kmsConfig).template;
  importedStack = buildStack(importedConfig).template;
  // The shipped rotation example (rotation.enabled, register mode, notice topic, customer-managed CMK).
  ({ template: rotationStack, stack: rotationStackConstruct } = buildStack(
    loadConfigFile(join(PROJECT_ROOT, 'config/example-rotation.json')) as ConfigInput,
  ));
});

/** The IAM statements attached to the role of the function serving `routeId`, without X-Ray and logging. */
function statementsOf(template: Template, routeId: string): unknown[] {
  const policies = resourcesOf(template, 'AWS::IAM::Policy');
  const entry = Object.entries(policies).find(([logicalId]) => logicalId.startsWith(`${routeId}Role`));
  expect(entry, `policy of ${routeId}`).toBeDefined();
  const doc = entry![1].Properties.PolicyDocument as { Statement: unknown[] };
  return doc.Statement;
}

const xrayStatement = { Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], Effect: 'Allow', Resource: '*' };

describe('Function: TokenFunction (in TokenVendingStack)', () => {
  it('runs every route on Node.js 24 on arm64 with active tracing', () => {
    const functions = Object.values(resourcesOf(secretStack, 'AWS::Lambda::Function'));
    expect(functions).toHaveLength(routes.length);
    for (const fn of functions) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        Handler: 'index.handler',
        MemorySize: 512,
        Timeout: 10,
      });
    }
  });

  it('passes only the configuration variable (and the source-map flag) in the environment', () => {
    for (const fn of Object.values(resourcesOf(secretStack, 'AWS::Lambda::Function'))) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(Object.keys(variables).sort()).toEqual([CONFIG_ENV_VAR, 'NODE_OPTIONS'].sort());
      expect(variables.NODE_OPTIONS).toBe('--enable-source-maps');
    }
  });

  it('takes memory, timeout and reserved concurrency from deployment.lambda', () => {
    for (const fn of Object.values(resourcesOf(kmsStack, 'AWS::Lambda::Function'))) {
      expect(fn.Properties).toMatchObject({ MemorySize: 1024, Timeout: 5, ReservedConcurrentExecutions: 7 });
    }
  });

  it('writes to its own log groups with the configured retention', () => {
    for (const fn of Object.values(resourcesOf(secretStack, 'AWS::Lambda::Function'))) {
      expect(fn.Properties.LoggingConfig).toEqual({ LogGroup: { Ref: expect.stringMatching(/Logs/) } });
    }
    const groups = Object.values(resourcesOf(secretStack, 'AWS::Logs::LogGroup'));
    // One per function plus the API access log group.
    expect(groups).toHaveLength(routes.length + 1);
    for (const group of groups) expect(group.Properties.RetentionInDays).toBe(14);
  });

  it('uses its own role with no managed policies', () => {
    for (const role of Object.values(resourcesOf(secretStack, 'AWS::IAM::Role'))) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });
});

/** The routes that sign: only /qlik/jwt (/qlik/idp-config reads public material: least-privilege.test.ts). */
const signingRoutes = routes.filter((route) => route.uses?.includes('signing-key')).map((route) => route.id);

describe('Function: SigningKey.bind', () => {
  it('is bound to /qlik/jwt alone', () => {
    expect(signingRoutes).toEqual(['QlikJwt']);
  });

  it.each(signingRoutes)(
    'grants %s exactly secretsmanager:GetSecretValue on the created secret, besides logging and tracing',
    (routeId) => {
      expect(statementsOf(secretStack, routeId)).toEqual([
        {
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Effect: 'Allow',
          Resource: { 'Fn::GetAtt': [expect.stringMatching(new RegExp(`^${routeId}Logs`)), 'Arn'] },
        },
        xrayStatement,
        {
          Action: 'secretsmanager:GetSecretValue',
          Effect: 'Allow',
          Resource: { Ref: expect.stringMatching(/^SigningKeySecret/) },
        },
      ]);
    },
  );

  it.each(signingRoutes)('grants %s exactly kms:Sign and kms:GetPublicKey on the created KMS key', (routeId) => {
    const statements = statementsOf(kmsStack, routeId) as Array<Record<string, unknown>>;
    expect(statements).toHaveLength(3);
    expect(statements[1]).toEqual(xrayStatement);
    expect(statements[2]).toEqual({
      Action: ['kms:Sign', 'kms:GetPublicKey'],
      Effect: 'Allow',
      Resource: { 'Fn::GetAtt': [expect.stringMatching(/^SigningKey/), 'Arn'] },
    });
  });

  it.each(signingRoutes)(
    'grants %s GetSecretValue on the imported secret ARN and kms:Decrypt on its CMK only via Secrets Manager',
    (routeId) => {
      const statements = statementsOf(importedStack, routeId) as Array<Record<string, unknown>>;
      expect(statements).toHaveLength(4);
      expect(statements[2]).toEqual({
        Action: 'secretsmanager:GetSecretValue',
        Effect: 'Allow',
        Resource: importedSecretArn,
      });
      expect(statements[3]).toEqual({
        Action: 'kms:Decrypt',
        Effect: 'Allow',
        Resource: importedCmkArn,
        Condition: {
          StringEquals: {
            'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] },
          },
        },
      });
    },
  );

  it('writes no policy with a wildcard resource other than the X-Ray statement', () => {
    for (const template of [secretStack, kmsStack, importedStack, rotationStack]) {
      for (const policy of Object.values(resourcesOf(template, 'AWS::IAM::Policy'))) {
        const statements = (policy.Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> })
          .Statement;
        for (const statement of statements) {
          if (statement.Resource === '*') expect(statement.Action).toEqual(xrayStatement.Action);
          expect(JSON.stringify(statement.Action)).not.toContain('*');
        }
      }
    }
  });

  it('creates the secret with a generated placeholder, retained on stack deletion, with instructions', () => {
    secretStack.hasResource('AWS::SecretsManager::Secret', {
      DeletionPolicy: 'Retain',
      Properties: {
        Name: 'qtv/test/signing-key',
        Description: Match.stringLikeRegexp('npm run cli -- secret put --secret-id'),
        GenerateSecretString: {},
        SecretString: Match.absent(),
      },
    });
  });

  it('creates an RSA SIGN_VERIFY KMS key with the configured spec and alias', () => {
    kmsStack.hasResourceProperties('AWS::KMS::Key', { KeySpec: 'RSA_3072', KeyUsage: 'SIGN_VERIFY' });
    kmsStack.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/qtv-test' });
    // Only the public-material secret: no private key material exists outside KMS.
    kmsStack.resourceCountIs('AWS::SecretsManager::Secret', 1);
    kmsStack.hasResourceProperties('AWS::SecretsManager::Secret', {
      Description: Match.stringLikeRegexp('^Public material'),
    });
  });

  it('puts the resolved key ARN into the function configuration', () => {
    const fn = Object.values(resourcesOf(kmsStack, 'AWS::Lambda::Function'))[0]!;
    const config = JSON.stringify(fn.Properties.Environment);
    expect(config).toContain('\\"backend\\":\\"kms\\"');
    expect(config).toMatch(/SigningKey[0-9A-F]+","Arn"/);
  });
});

describe('Function: TokenApi', () => {
  it('puts the JWT authorizer on every caller route and none on public routes', () => {
    const apiRoutes = Object.values(resourcesOf(secretStack, 'AWS::ApiGatewayV2::Route'));
    expect(apiRoutes.map((r) => r.Properties.RouteKey).sort()).toEqual(
      routes.map((r) => `${r.method} ${r.path}`).sort(),
    );
    for (const route of routes) {
      const found = apiRoutes.find((r) => r.Properties.RouteKey === `${route.method} ${route.path}`)!;
      if (route.auth === 'caller') {
        expect(found.Properties.AuthorizationType).toBe('JWT');
        expect(found.Properties.AuthorizerId).toBeDefined();
      } else {
        expect(found.Properties.AuthorizationType).toBe('NONE');
        expect(found.Properties.AuthorizerId).toBeUndefined();
      }
    }
  });

  it('trusts the configured caller IdP issuer and audience', () => {
    kmsStack.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: 'https://idp.example.com/oauth2/default', Audience: ['api://qtv'] },
    });
    kmsStack.resourceCountIs('AWS::Cognito::UserPool', 0);
  });

  it('creates a Cognito user pool and client and trusts them when no caller IdP is configured', () => {
    secretStack.resourceCountIs('AWS::Cognito::UserPool', 1);
    secretStack.resourceCountIs('AWS::Cognito::UserPoolClient', 1);
    secretStack.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      JwtConfiguration: {
        Issuer: { 'Fn::GetAtt': [Match.stringLikeRegexp('CallerPool'), 'ProviderURL'] },
        Audience: [{ Ref: Match.stringLikeRegexp('WebClient') }],
      },
    });
  });

  it('allows exactly the configured CORS origins', () => {
    secretStack.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: {
        AllowOrigins: ['https://app.example.com', 'http://localhost:5173'],
        AllowCredentials: false,
        AllowHeaders: ['authorization', 'content-type', 'cache-control'],
      },
    });
  });

  it('throttles the stage and logs access as JSON to the access log group', () => {
    secretStack.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    const stage = Object.values(resourcesOf(secretStack, 'AWS::ApiGatewayV2::Stage'))[0]!;
    expect(stage.Properties).toMatchObject({
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40, DetailedMetricsEnabled: true },
      AccessLogSettings: { DestinationArn: { 'Fn::GetAtt': [expect.stringMatching(/AccessLogs/), 'Arn'] } },
    });
    const format = JSON.parse((stage.Properties.AccessLogSettings as { Format: string }).Format);
    expect(format).toMatchObject({ requestId: '$context.requestId', status: '$context.status' });
  });
});

describe('Function: Monitoring', () => {
  it('raises alarms on 5xx rate, p99 latency, signing failures, and each function errors and throttles', () => {
    const names = Object.keys(resourcesOf(secretStack, 'AWS::CloudWatch::Alarm'));
    const expected = ['FiveXxRate', 'P99Latency', 'SigningKeyFailures'];
    for (const route of routes) expected.push(`${route.id}Errors`, `${route.id}Throttles`);
    for (const id of expected)
      expect(
        names.some((n) => n.startsWith(`Monitoring${id}`)),
        id,
      ).toBe(true);
    expect(names).toHaveLength(expected.length);
    for (const alarm of Object.values(resourcesOf(secretStack, 'AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: expect.stringMatching(/AlarmTopic/) }]);
    }
  });

  it('counts signing key failures from the Powertools JSON logs of every function', () => {
    const filters = Object.values(resourcesOf(secretStack, 'AWS::Logs::MetricFilter'));
    expect(filters).toHaveLength(routes.length);
    for (const filter of filters) {
      expect(filter.Properties.FilterPattern).toContain('$.message = "signing key refresh failed"');
      expect(filter.Properties.FilterPattern).toContain('$.message = "KMS signing key not reachable"');
      expect(filter.Properties.FilterPattern).toContain('$.message = "KMS signing key refused"');
      expect(filter.Properties.FilterPattern).toContain('$.errorCode = "SIGNING_*"');
      expect(filter.Properties.MetricTransformations).toEqual([
        expect.objectContaining({ MetricNamespace: 'QlikTokenVending', MetricName: 'SigningKeyFailures' }),
      ]);
    }
  });

  it('sends alarms to a KMS-encrypted topic and draws a dashboard', () => {
    secretStack.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    secretStack.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });
});

describe('Function: TokenVendingStack outputs', () => {
  it('publishes the API URL, the Qlik IdP settings and the key ARN', () => {
    const outputs = Object.keys(secretStack.findOutputs('*'));
    for (const name of ['QlikIdpIssuer', 'QlikIdpKeyId', 'QlikIdpConfigUrl', 'SigningSecretArn', 'CallerIssuer']) {
      expect(outputs).toContain(name);
    }
    expect(outputs.some((o) => o.includes('ApiUrl'))).toBe(true);
    expect(Object.keys(kmsStack.findOutputs('*'))).toContain('SigningKeyArn');
    secretStack.hasOutput('QlikIdpIssuer', { Value: 'https://token-vending.example.com' });
  });
});

/** The rules acknowledged on `construct` (Validations.acknowledge), id -> reason. */
function acknowledgedRules(construct: IConstruct): Record<string, string> {
  return Object.assign(
    {},
    ...construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .map((entry) => entry.data as Record<string, string>),
  );
}

/** Joins an Fn::Join value, putting `tokenValue` in place of every token (Ref, GetAtt). */
function resolveJoin(value: unknown, tokenValue: string): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join === undefined) return tokenValue;
  return join[1].map((part) => resolveJoin(part, tokenValue)).join(join[0]);
}

describe('Function: KeyRotation (in TokenVendingStack)', () => {
  const rotationFunction = () => {
    const entry = Object.entries(resourcesOf(rotationStack, 'AWS::Lambda::Function')).find(([id]) =>
      id.startsWith('KeyRotationFunction'),
    );
    expect(entry, 'rotation function').toBeDefined();
    return entry![1];
  };

  it('deploys no rotation function and no schedule while rotation.enabled is false (the default)', () => {
    for (const template of [secretStack, kmsStack, importedStack]) {
      template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
      expect(Object.keys(resourcesOf(template, 'AWS::Lambda::Function'))).toHaveLength(routes.length);
      expect(Object.keys(template.findOutputs('RotationFunctionName'))).toEqual([]);
    }
    expect(secretStackConstruct.keyRotation).toBeUndefined();
  });

  it('grants the rotation function exactly logging, X-Ray, the four rotation actions on the key secret, its CMK, PutSecretValue on the public material, the admin client secret and publish on the notice topic', () => {
    const policies = Object.entries(resourcesOf(rotationStack, 'AWS::IAM::Policy')).filter(([id]) =>
      id.startsWith('KeyRotation'),
    );
    expect(policies).toHaveLength(1);
    expect((policies[0]![1].Properties.PolicyDocument as { Statement: unknown[] }).Statement).toEqual([
      {
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^KeyRotationLogs/), 'Arn'] },
      },
      xrayStatement,
      {
        Action: [
          'secretsmanager:DescribeSecret',
          'secretsmanager:GetSecretValue',
          'secretsmanager:PutSecretValue',
          'secretsmanager:UpdateSecretVersionStage',
        ],
        Effect: 'Allow',
        Resource: { Ref: expect.stringMatching(/^SigningKeySecret/) },
      },
      {
        Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^SigningKeyEncryptionKey/), 'Arn'] },
      },
      {
        // The new key's public facts for /qlik/idp-config: written, never read.
        Action: 'secretsmanager:PutSecretValue',
        Effect: 'Allow',
        Resource: { Ref: expect.stringMatching(/^SigningKeyPublicSecret/) },
      },
      {
        Action: 'secretsmanager:GetSecretValue',
        Effect: 'Allow',
        Resource: {
          'Fn::Join': [
            '',
            [
              'arn:',
              { Ref: 'AWS::Partition' },
              ':secretsmanager:',
              { Ref: 'AWS::Region' },
              ':',
              { Ref: 'AWS::AccountId' },
              ':secret:qlik-token-vending/prod/qlik-admin-client-??????',
            ],
          ],
        },
      },
      {
        Action: 'sns:Publish',
        Effect: 'Allow',
        Resource: 'arn:aws:sns:eu-west-1:111122223333:qlik-token-vending-rotation',
      },
    ]);
    // Its own role: no managed policy (no AWSLambdaBasicExecutionRole).
    const role = Object.entries(resourcesOf(rotationStack, 'AWS::IAM::Role')).find(([id]) =>
      id.startsWith('KeyRotationRole'),
    );
    expect(role?.[1].Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('schedules rotation every rotation.scheduleDays days on the key secret, never rotating during a deployment', () => {
    rotationStack.resourceCountIs('AWS::SecretsManager::RotationSchedule', 1);
    rotationStack.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      SecretId: { Ref: Match.stringLikeRegexp('^SigningKeySecret') },
      RotationLambdaARN: { 'Fn::GetAtt': [Match.stringLikeRegexp('^KeyRotationFunction'), 'Arn'] },
      RotationRules: { AutomaticallyAfterDays: 30 },
      RotateImmediatelyOnUpdate: false,
    });
  });

  it("lets only Secrets Manager invoke the function, for this stack's account and the key secret", () => {
    const permissions = Object.values(resourcesOf(rotationStack, 'AWS::Lambda::Permission')).filter(
      (p) => p.Properties.Principal === 'secretsmanager.amazonaws.com',
    );
    expect(permissions).toHaveLength(1);
    expect(permissions[0]!.Properties).toEqual({
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [expect.stringMatching(/^KeyRotationFunction/), 'Arn'] },
      Principal: 'secretsmanager.amazonaws.com',
      SourceAccount: { Ref: 'AWS::AccountId' },
      SourceArn: { Ref: expect.stringMatching(/^SigningKeySecret/) },
    });
  });

  it('gives the rotation function the same QTV_CONFIG as the token functions: secret ARN and rotation section, under 4 KB', () => {
    const variables = (rotationFunction().Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(Object.keys(variables).sort()).toEqual([CONFIG_ENV_VAR, 'NODE_OPTIONS'].sort());
    const tokenFunction = Object.entries(resourcesOf(rotationStack, 'AWS::Lambda::Function')).find(([id]) =>
      id.startsWith('QlikJwt'),
    )!;
    expect(variables[CONFIG_ENV_VAR]).toEqual(
      (tokenFunction[1].Properties.Environment as { Variables: Record<string, unknown> }).Variables[CONFIG_ENV_VAR],
    );
    // The secret reference resolves to the created secret's ARN at deploy time.
    const withArn = resolveJoin(
      variables[CONFIG_ENV_VAR],
      'arn:aws:secretsmanager:eu-west-1:111122223333:secret:qlik-token-vending/prod/signing-key-AbCdEf',
    );
    const config = JSON.parse(withArn);
    expect(config.signing.secretId).toMatch(/^arn:aws:secretsmanager:.*signing-key-AbCdEf$/);
    expect(config.rotation).toMatchObject({ enabled: true, scheduleDays: 30, qlik: { mode: 'register' } });
    expect(config.deployment).toBeUndefined();
    // Lambda caps all environment variables (names + values) at 4 KB; resolve tokens with a long ARN.
    const total = Object.entries(variables).reduce(
      (sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(resolveJoin(value, 'x'.repeat(200))),
      0,
    );
    expect(total).toBeLessThan(4096);
  });

  it('writes its logs to its own group with the configured retention', () => {
    expect(rotationFunction().Properties.LoggingConfig).toEqual({
      LogGroup: { Ref: expect.stringMatching(/^KeyRotationLogs/) },
    });
    const group = Object.entries(resourcesOf(rotationStack, 'AWS::Logs::LogGroup')).find(([id]) =>
      id.startsWith('KeyRotationLogs'),
    );
    expect(group?.[1].Properties.RetentionInDays).toBe(90);
  });

  it('acknowledges AwsSolutions-SMG4 (secret without rotation), with its reason, only when rotation is off', () => {
    const off = acknowledgedRules(secretStackConstruct.signingKey.secret!);
    expect(off['AwsSolutions::AwsSolutions-SMG4']).toMatch(/rotation\.enabled false/);
    const on = acknowledgedRules(rotationStackConstruct.signingKey.secret!);
    expect(Object.keys(on)).not.toContain('AwsSolutions::AwsSolutions-SMG4');
    // cdk-nag passed on this stack (buildStack synthesizes with the checks): the schedule answers SMG4.
    expect(rotationStackConstruct.keyRotation).toBeDefined();
  });

  it('traces every rotation step with X-Ray', () => {
    expect(rotationFunction().Properties.TracingConfig).toEqual({ Mode: 'Active' });
  });

  it('raises an alarm on a failed rotation step and one on a rotation blocked before promotion, to the alarm topic', () => {
    const alarms = resourcesOf(rotationStack, 'AWS::CloudWatch::Alarm');
    const find = (prefix: string) => Object.entries(alarms).find(([id]) => id.startsWith(prefix))?.[1].Properties;
    expect(find('MonitoringKeyRotationFailedSteps')).toMatchObject({
      MetricName: 'Errors',
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: expect.stringMatching(/^KeyRotationFunction/) } }],
      Threshold: 1,
      AlarmActions: [{ Ref: expect.stringMatching(/AlarmTopic/) }],
    });
    expect(find('MonitoringKeyRotationBlocked')).toMatchObject({
      MetricName: ROTATION_BLOCKED_METRIC,
      Namespace: METRIC_NAMESPACE,
      Threshold: 1,
      AlarmActions: [{ Ref: expect.stringMatching(/AlarmTopic/) }],
    });
    for (const template of [secretStack, kmsStack, importedStack])
      expect(
        Object.keys(resourcesOf(template, 'AWS::CloudWatch::Alarm')).filter((id) => id.includes('KeyRotation')),
      ).toEqual([]);
  });

  it("counts blocked rotations from the rotation function's own log lines, and nothing else", () => {
    const filter = Object.values(resourcesOf(rotationStack, 'AWS::Logs::MetricFilter')).find(
      (f) =>
        (f.Properties.MetricTransformations as { MetricName: string }[])[0]?.MetricName === ROTATION_BLOCKED_METRIC,
    );
    expect(filter?.Properties.LogGroupName).toEqual({ Ref: expect.stringMatching(/^KeyRotationLogs/) });
    const pattern = filter?.Properties.FilterPattern as string;
    // The line core.ts writes (message prefix) against lines it must not count.
    const line = (message: string) => JSON.stringify({ level: 'ERROR', message, service: 'qlik-token-vending' });
    expect(matchesJsonFilterPattern(pattern, line('rotation blocked before promotion: Qlik refused the new key'))).toBe(
      true,
    );
    expect(matchesJsonFilterPattern(pattern, line('rotation step finished'))).toBe(false);
    expect(matchesJsonFilterPattern(pattern, line('rotation step failed'))).toBe(false);
  });

  it('outputs the rotation function name', () => {
    rotationStack.hasOutput('RotationFunctionName', {
      Value: { Ref: Match.stringLikeRegexp('^KeyRotationFunction') },
    });
  });
});
