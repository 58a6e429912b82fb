/**
 * The QlikTokenVending construct in a stack of someone else's app: props typed and validated like a configuration
 * file, every problem at once, and public attributes a user can extend.
 */
import { CfnOutput, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../functions/errors.js';
import type { ConfigInput } from '../../functions/runtime/config.js';
import { QlikTokenVending, type QlikTokenVendingProps } from '../../infra/constructs/qlik-token-vending.js';
import { baseConfig, resourcesOf, unbundledApp } from './synth.js';

/** The props type is the configuration schema's input type, both ways (a compile-time check). */
const propsFromConfig: QlikTokenVendingProps = baseConfig;
const configFromProps: ConfigInput = propsFromConfig;

function inConsumerStack(props: QlikTokenVendingProps) {
  const app = unbundledApp();
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  const stack = new Stack(app, 'ConsumerApp', { env: { account: '111122223333', region: 'eu-west-1' } });
  const vending = new QlikTokenVending(stack, 'QlikTokens', props);
  return { stack, vending };
}

describe('Construct: QlikTokenVending', () => {
  it('builds the service inside a consumer stack from configuration-shaped props, with no cdk-nag finding', () => {
    // Act
    const { stack, vending } = inConsumerStack(configFromProps);
    const template = Template.fromStack(stack);
    // Assess
    expect(Object.keys(vending.functions).sort()).toEqual(['IdpConfig', 'QlikJwt']);
    expect(Object.keys(resourcesOf(template, 'AWS::Lambda::Function'))).toHaveLength(2);
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    template.hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'qtv/test/signing-key' });
    expect(vending.signingKey.secret).toBeDefined();
    expect(vending.config.qlik.token.maxTtlSeconds).toBe(600); // schema defaults applied
  });

  it('exposes the HTTP API, the functions, the signing key and the alarm topic for the user to extend', () => {
    // Prepare
    const { stack, vending } = inConsumerStack(baseConfig);
    // Act: what a user adds on top.
    new Alarm(stack, 'MyThrottles', {
      metric: vending.functions.QlikJwt!.metricThrottles(),
      threshold: 1,
      evaluationPeriods: 1,
    }).addAlarmAction({ bind: () => ({ alarmActionArn: vending.alarmTopic.topicArn }) });
    new CfnOutput(stack, 'TokenUrl', { value: `${vending.url}/qlik/jwt` });
    new CfnOutput(stack, 'ApiId', { value: vending.httpApi.apiId });
    // Assess
    const template = Template.fromStack(stack);
    const alarms = resourcesOf(template, 'AWS::CloudWatch::Alarm');
    const mine = Object.entries(alarms).find(([id]) => id.startsWith('MyThrottles'));
    expect(mine?.[1].Properties.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^QlikTokensMonitoring/) }]);
    expect(template.toJSON().Outputs.ApiId.Value).toEqual({ Ref: expect.stringMatching(/^QlikTokensApiHttpApi/) });
  });

  it('gives /qlik/idp-config in a consumer stack only the public-material secret: neither the private key secret nor kms:Sign', () => {
    // Act
    const { stack, vending } = inConsumerStack(baseConfig);
    const template = Template.fromStack(stack).toJSON() as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    // Assess: the IdpConfig role's policy names one secret, the public-material one, and reads it.
    const publicSecretId = Object.keys(template.Resources).find((id) =>
      id.startsWith('QlikTokensSigningKeyPublicSecret'),
    );
    const privateSecretId = Object.keys(template.Resources).find(
      (id) =>
        template.Resources[id]?.Type === 'AWS::SecretsManager::Secret' &&
        template.Resources[id]?.Properties.Name === 'qtv/test/signing-key',
    );
    expect(publicSecretId).toBeDefined();
    expect(privateSecretId).toBeDefined();
    expect(vending.signingKey.publicSecret).toBeDefined();
    const idpPolicies = Object.entries(template.Resources).filter(
      ([id, r]) => r.Type === 'AWS::IAM::Policy' && id.startsWith('QlikTokensIdpConfig'),
    );
    const text = JSON.stringify(idpPolicies);
    expect(idpPolicies.length).toBeGreaterThan(0);
    expect(text).toContain(`"Ref":"${publicSecretId}"`);
    expect(text).toContain('secretsmanager:GetSecretValue');
    expect(text).not.toContain(`"Ref":"${privateSecretId}"`);
    expect(text).not.toContain('kms:Sign');
    expect(text).not.toContain('kms:Decrypt');
  });

  it('refuses bad props with every problem listed at once, in the configuration file words', () => {
    // Prepare: two schema problems at once.
    const bad = {
      ...baseConfig,
      qlik: { issuer: '' },
      deployment: { logRetentionDays: 13 },
    } as QlikTokenVendingProps;
    // Act
    const error = (() => {
      try {
        inConsumerStack(bad);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      'qlik.issuer: must not be empty',
      expect.stringMatching(/^deployment\.logRetentionDays: must be one of 1, 3, 5/),
    ]);
    expect((error as Error).message).toContain('QlikTokenVending ConsumerApp/QlikTokens');
  });

  it('lists every deployment problem at once after the schema passes', () => {
    // Prepare: a KMS key that is neither ARN nor alias, and a secret CMK that applies only to Secrets Manager.
    const bad: QlikTokenVendingProps = {
      ...baseConfig,
      signing: { backend: 'kms', keyId: 'my-key' },
      deployment: { secretKmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/abc' },
    };
    // Act / Assess
    expect(() => inConsumerStack(bad)).toThrow(
      expect.objectContaining({
        problems: [
          expect.stringContaining('signing.keyId: a KMS key the stack creates needs an alias'),
          expect.stringContaining('deployment.secretKmsKeyArn applies only to signing.backend "secrets-manager"'),
        ],
      }),
    );
  });
});
