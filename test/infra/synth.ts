/** Shared helpers for infra tests: synthesize without bundling, with cdk-nag on. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { RouteDefinition } from '../../functions/routes.js';
import { type ConfigInput, parseConfig } from '../../functions/runtime/config.js';
import { TokenVendingStack } from '../../infra/stacks/token-vending-stack.js';

/** A config like config/dev.json: created secret, no caller IdP (Cognito pool created). */
export const baseConfig: ConfigInput = {
  qlik: { issuer: 'https://token-vending.example.com', keyId: 'qtv-test' },
  identity: { preset: 'cognito' },
  signing: { backend: 'secrets-manager', secretId: 'qtv/test/signing-key' },
  cors: { allowedOrigins: ['https://app.example.com', 'http://localhost:5173'] },
  throttling: { rateLimit: 20, burstLimit: 40 },
  deployment: { logRetentionDays: 14 },
};

/** cdk.json's context (the feature flags `cdk synth` runs with), so tests build what is deployed. */
export const CDK_JSON_CONTEXT = (
  JSON.parse(readFileSync(resolve(import.meta.dirname, '../../cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  }
).context;

/** An App with cdk.json's feature flags that skips bundling (toolchain.md): synth costs tens of ms instead of seconds. */
export function unbundledApp(): App {
  return new App({ context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
}

/** Builds the stack from `input`, with cdk-nag AwsSolutions checks on the app. */
export function buildStack(input: ConfigInput, id = 'QlikTokenVending-test', routes?: readonly RouteDefinition[]) {
  const app = unbundledApp();
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  const stack = new TokenVendingStack(app, id, {
    config: parseConfig(input, 'test config'),
    ...(routes !== undefined ? { routes } : {}),
  });
  return { app, stack, template: Template.fromStack(stack) };
}

/** Every resource of `type` in the template, by logical ID. */
export function resourcesOf(template: Template, type: string): Record<string, { Properties: Record<string, unknown> }> {
  return template.findResources(type) as Record<string, { Properties: Record<string, unknown> }>;
}
