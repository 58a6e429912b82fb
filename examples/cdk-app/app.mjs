// @ts-check
// A CDK app of your own with the Qlik token vending service inside one of its stacks. Plain JavaScript: the
// package ships built code and prebuilt Lambda bundles, so synth needs no TypeScript loader and no esbuild.
import { App, CfnOutput, Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { QlikTokenVending } from 'qlik-token-vending';

const app = new App();
const stack = new Stack(app, 'AnalyticsPortal', { description: 'Analytics portal with embedded Qlik Cloud' });

// The same settings as a configuration file (docs/config.md), typed and checked: a mistake lists every problem.
const vending = new QlikTokenVending(stack, 'QlikTokens', {
  qlik: { tenantHost: 'example.eu.qlikcloud.com', issuer: 'https://tokens.example.com', keyId: 'portal-2026-11' },
  identity: { preset: 'okta' },
  signing: { backend: 'secrets-manager', secretId: 'analytics-portal/qlik-signing-key' },
  callerIdp: { issuer: 'https://example.okta.com/oauth2/default', audience: ['api://analytics-portal'] },
  cors: { allowedOrigins: ['https://portal.example.com'] },
  deployment: { logRetentionDays: 90, alarms: { email: 'ops@example.com' } },
});

// The construct's attributes are yours: outputs, alarms, a domain, a WAF.
new CfnOutput(stack, 'QlikJwtUrl', { value: `${vending.url}/qlik/jwt` });
new CfnOutput(stack, 'QlikIdpConfigUrl', { value: `${vending.url}/qlik/idp-config` });
new CfnOutput(stack, 'SigningSecretArn', { value: vending.signingKey.secret?.secretArn ?? '' });
// Public material (kid, public key, certificate) for /qlik/idp-config: `qtv secret put --public-secret-id <this>`.
new CfnOutput(stack, 'SigningPublicSecretArn', { value: vending.signingKey.publicSecret.secretArn });
new CfnOutput(stack, 'AlarmTopicArn', { value: vending.alarmTopic.topicArn });

// cdk-nag's AwsSolutions checks: an unacknowledged finding fails the synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
