import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { type ConfigInput, parseConfig } from '../../functions/runtime/config.js';
import { KeyRotation } from '../../infra/constructs/key-rotation.js';

const ISSUER = 'https://token-vending.example.com';

function synth(rotation: ConfigInput['rotation'] = {}, options: { topic?: boolean; tenantHost?: string } = {}) {
  // No bundling: fast, and no esbuild run per test (toolchain.md).
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const secret = new Secret(stack, 'SigningKey');
  const config = parseConfig({
    qlik: { issuer: ISSUER, ...(options.tenantHost ? { tenantHost: options.tenantHost } : {}) },
    signing: { backend: 'secrets-manager', secretId: 'qtv/signing-key' },
    rotation,
  });
  const topic = options.topic ? new Topic(stack, 'Notices') : undefined;
  const rotationConstruct = new KeyRotation(stack, 'KeyRotation', { secret, config, ...(topic ? { topic } : {}) });
  return { template: Template.fromStack(stack), stack, secret, rotation: rotationConstruct };
}

function secretRef(template: Template) {
  const [logicalId] = Object.keys(template.findResources('AWS::SecretsManager::Secret'));
  return { Ref: logicalId };
}

/**
 * The rotation role's statements after the first two, which are always logging to its own log group and
 * X-Ray (whose two actions take no resource but "*").
 */
function rotationPolicyStatements(template: Template) {
  const policies = Object.values(template.findResources('AWS::IAM::Policy'));
  expect(policies).toHaveLength(1);
  const [logging, xray, ...rest] = (policies[0] as { Properties: { PolicyDocument: { Statement: unknown[] } } })
    .Properties.PolicyDocument.Statement;
  expect(logging).toEqual({
    Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    Effect: 'Allow',
    Resource: { 'Fn::GetAtt': [expect.stringMatching(/^KeyRotationLogs/), 'Arn'] },
  });
  expect(xray).toEqual({
    Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
    Effect: 'Allow',
    Resource: '*',
  });
  return rest;
}

describe('Construct: KeyRotation', () => {
  it('runs the rotation function on arm64 Node.js 24 with the configuration in its environment', () => {
    const { template } = synth();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs24.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Environment: { Variables: { QTV_CONFIG: Match.stringLikeRegexp('"rotation":') } },
    });
  });

  it('schedules rotation every rotation.scheduleDays days and never rotates as a side effect of a deployment', () => {
    const { template } = synth({ scheduleDays: 45, gracePeriodSeconds: 3600 });
    template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 1);
    template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
      SecretId: secretRef(template),
      RotationLambdaARN: { 'Fn::GetAtt': [Match.stringLikeRegexp('^KeyRotationFunction'), 'Arn'] },
      RotationRules: { AutomaticallyAfterDays: 45 },
      RotateImmediatelyOnUpdate: false,
    });
  });

  it('grants exactly DescribeSecret, GetSecretValue, PutSecretValue and UpdateSecretVersionStage on the key secret only, besides its own logs', () => {
    const { template } = synth();
    expect(rotationPolicyStatements(template)).toEqual([
      {
        Action: [
          'secretsmanager:DescribeSecret',
          'secretsmanager:GetSecretValue',
          'secretsmanager:PutSecretValue',
          'secretsmanager:UpdateSecretVersionStage',
        ],
        Effect: 'Allow',
        Resource: secretRef(template),
      },
    ]);
  });

  it('lets only Secrets Manager, for this account and this secret, invoke the function, before the schedule exists', () => {
    const { template } = synth();
    template.resourceCountIs('AWS::Lambda::Permission', 1);
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'secretsmanager.amazonaws.com',
      SourceAccount: '123456789012',
      SourceArn: secretRef(template),
    });
    const [permissionId] = Object.keys(template.findResources('AWS::Lambda::Permission'));
    const schedule = Object.values(template.findResources('AWS::SecretsManager::RotationSchedule'))[0] as {
      DependsOn?: string[];
    };
    expect(schedule.DependsOn).toEqual(expect.arrayContaining([permissionId]));
  });

  it('adds publish on the notice topic and read on the Qlik admin client secret, and nothing broader', () => {
    const { template } = synth(
      {
        notifyTopicArn: 'arn:aws:sns:eu-west-1:123456789012:notices',
        qlik: { mode: 'register', adminCredentialsSecretId: 'qtv/qlik-admin' },
      },
      { topic: true, tenantHost: 'tenant.example.com' },
    );
    const statements = rotationPolicyStatements(template);
    expect(statements).toHaveLength(3);
    expect(statements).toContainEqual({
      Action: 'secretsmanager:GetSecretValue',
      Effect: 'Allow',
      Resource: {
        'Fn::Join': [
          '',
          ['arn:', { Ref: 'AWS::Partition' }, ':secretsmanager:eu-west-1:123456789012:secret:qtv/qlik-admin-??????'],
        ],
      },
    });
    const [topicId] = Object.keys(template.findResources('AWS::SNS::Topic'));
    expect(statements).toContainEqual({ Action: 'sns:Publish', Effect: 'Allow', Resource: { Ref: topicId } });
    expect(JSON.stringify(statements)).not.toContain('"*"');
  });

  it.each([['a kms signing backend', { backend: 'kms', keyId: 'alias/x' }, /signing.backend is "kms"/]])(
    'refuses %s with a plain sentence',
    (_name, signing, message) => {
      const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
      const stack = new Stack(app, 'Test');
      const config = parseConfig({ qlik: { issuer: ISSUER }, signing });
      expect(() => new KeyRotation(stack, 'KeyRotation', { secret: new Secret(stack, 'S'), config })).toThrow(message);
    },
  );
});

describe('Construct: KeyRotation (real bundle)', () => {
  it('bundles the rotation function into an ESM file that loads and refuses a non-rotation event', async () => {
    // Prepare: bundle for real with the local esbuild, into a folder under the project so @aws-sdk/* (external,
    // provided by the Lambda runtime) resolves from node_modules.
    mkdirSync(join(process.cwd(), '.local'), { recursive: true });
    const outdir = mkdtempSync(join(process.cwd(), '.local', 'cdk-bundle-'));
    try {
      const app = new App({ outdir });
      const stack = new Stack(app, 'Bundled');
      const config = parseConfig({ qlik: { issuer: ISSUER }, signing: { backend: 'secrets-manager', secretId: 'k' } });
      new KeyRotation(stack, 'KeyRotation', { secret: new Secret(stack, 'SigningKey'), config });
      const assembly = app.synth();
      const assetDir = readdirSync(assembly.directory).find(
        (name) => name.startsWith('asset.') && existsSync(join(assembly.directory, name, 'index.mjs')),
      );
      expect(assetDir).toBeDefined();
      const bundle = join(assembly.directory, assetDir ?? '', 'index.mjs');

      // Act: load the bundle as Lambda would and call it with a bad event.
      const script = `const m = await import(${JSON.stringify(bundle)}); try { await m.handler({}, { awsRequestId: 'x', functionName: 'f' }); console.log('no error'); } catch (e) { console.log(e.code); }`;
      const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        env: {
          ...process.env,
          QTV_CONFIG: JSON.stringify(config),
          AWS_REGION: 'eu-west-1',
          POWERTOOLS_LOG_LEVEL: 'SILENT',
        },
        encoding: 'utf8',
      });

      // Assess
      expect(output.trim().split('\n').at(-1)).toBe('ROTATION_INVALID_STATE');
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
