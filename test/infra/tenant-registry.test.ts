import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { type ConfigInput, loadConfigFile } from '../../functions/runtime/config.js';
import { PROJECT_ROOT } from '../../infra/constructs/token-function.js';
import { baseConfig, buildStack, resourcesOf } from './synth.js';

const multiTenant: ConfigInput = {
  ...baseConfig,
  tenancy: { tenantClaim: 'custom:tenant', registry: { backend: 'dynamodb', tableName: 'qtv-tenants' } },
};

type Statement = { Action: string | string[]; Resource: unknown; Condition?: unknown; Effect: string };

/** Every statement of the inline policies attached to the role of the function for `routeId`. */
function statementsOf(template: ReturnType<typeof buildStack>['template'], routeId: string): Statement[] {
  const policies = resourcesOf(template, 'AWS::IAM::Policy');
  return Object.entries(policies)
    .filter(([id]) => id.startsWith(`${routeId}Role`))
    .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const actionsOf = (statements: Statement[]) =>
  statements.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));

describe('Construct: TenantRegistry in the stack', () => {
  it('creates one on-demand table keyed by tenantId, with point-in-time recovery and deletion protection, retained', () => {
    // Act
    const { template } = buildStack(multiTenant);
    // Assess
    // The registry, and the OAuth refresh grace table every tenant's cookie sessions share.
    template.resourceCountIs('AWS::DynamoDB::Table', 2);
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      Properties: {
        TableName: 'qtv-tenants',
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [{ AttributeName: 'tenantId', KeyType: 'HASH' }],
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
        SSESpecification: { SSEEnabled: true },
      },
    });
  });

  it('lets the token functions only GetItem on the table, read tenant secrets by prefix, and sign with tenant-aliased KMS keys', () => {
    const { template } = buildStack(multiTenant);
    const statements = statementsOf(template, 'QlikJwt');
    const dynamo = statements.filter((s) => actionsOf([s]).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo).toHaveLength(1);
    expect(dynamo[0]!.Action).toBe('dynamodb:GetItem');
    expect(JSON.stringify(dynamo[0]!.Resource)).toContain('TenantRegistryTable');
    const secrets = statements.find((s) => JSON.stringify(s.Resource).includes(':secret:qtv/tenants/*'));
    expect(secrets?.Action).toBe('secretsmanager:GetSecretValue');
    const kms = statements.find((s) => JSON.stringify(s.Condition ?? {}).includes('kms:ResourceAliases'));
    // The order of actions is not part of a policy (cdk.json's @aws-cdk/aws-iam:minimizePolicies sorts them).
    expect([...((kms?.Action as string[] | undefined) ?? [])].sort()).toEqual(['kms:GetPublicKey', 'kms:Sign']);
    expect(kms).toMatchObject({
      Condition: { 'ForAnyValue:StringLike': { 'kms:ResourceAliases': 'alias/qtv-tenant-*' } },
    });
    // Nothing may write the registry or manage keys and aliases from a token function.
    for (const action of actionsOf(statements))
      expect(action).not.toMatch(
        /^dynamodb:(Put|Update|Delete|BatchWrite|Scan|Query)|^kms:(Create|Update|Delete|Tag|Untag)|^secretsmanager:(Put|Create|Update)/,
      );
  });

  it('lets the public idp-config route read only tenants’ public-material secrets and KMS public keys, never sign', () => {
    const { template } = buildStack(multiTenant);
    const statements = statementsOf(template, 'IdpConfig');
    const secretResources = statements
      .filter((s) => actionsOf([s]).includes('secretsmanager:GetSecretValue'))
      .map((s) => JSON.stringify(s.Resource));
    const tenantSecrets = secretResources.filter((r) => r.includes('qtv/tenants/'));
    // One pattern, and it cannot match a key secret (<prefix><id>-XXXXXX): only <prefix>*/public-XXXXXX.
    expect(tenantSecrets).toHaveLength(1);
    expect(tenantSecrets[0]).toContain(':secret:qtv/tenants/*/public-??????');
    const kms = statements.filter((s) => JSON.stringify(s.Condition ?? {}).includes('kms:ResourceAliases'));
    expect(kms).toMatchObject([
      {
        Action: 'kms:GetPublicKey',
        Condition: { 'ForAnyValue:StringLike': { 'kms:ResourceAliases': 'alias/qtv-tenant-*' } },
      },
    ]);
    expect(actionsOf(statements)).not.toContain('kms:Sign');
    expect(actionsOf(statements).filter((a) => a.startsWith('dynamodb:'))).toEqual(['dynamodb:GetItem']);
  });

  it('deploys the OAuth routes for the tenants, reading only secrets under <prefix><id>/ (no key secret), and the refresh grace table', () => {
    const { template } = buildStack(multiTenant);
    for (const routeId of ['OAuthLogin', 'OAuthCallback', 'OAuthCodeExchange', 'OAuthRefresh', 'OAuthRevoke']) {
      const statements = statementsOf(template, routeId);
      const secretResources = statements
        .filter((s) => actionsOf([s]).includes('secretsmanager:GetSecretValue'))
        .map((s) => JSON.stringify(s.Resource));
      // `<prefix>*/*` cannot match a key secret `<prefix><id>-XXXXXX`: tenant IDs hold no `/`.
      expect(secretResources, routeId).toEqual([expect.stringContaining(':secret:qtv/tenants/*/*')]);
      expect(actionsOf(statements), routeId).not.toContain('kms:Sign');
      const registryReads = statements.filter((s) => JSON.stringify(s.Resource).includes('TenantRegistryTable'));
      expect(
        registryReads.map((s) => s.Action),
        routeId,
      ).toEqual(['dynamodb:GetItem']);
    }
    // The refresh function claims and settles grace records (conditional writes on the grace table).
    expect(actionsOf(statementsOf(template, 'OAuthRefresh'))).toContain('dynamodb:PutItem');
    expect(actionsOf(statementsOf(template, 'OAuthLogin'))).not.toContain('dynamodb:PutItem');
    const functions = Object.values(resourcesOf(template, 'AWS::Lambda::Function'));
    const refresh = functions.find((f) => JSON.stringify(f.Properties).includes('POST /oauth/refresh'));
    expect(JSON.stringify(refresh?.Properties)).toContain('refreshGraceTableName');
  });

  it('alarms on throttled registry reads and DynamoDB system errors into the alarm topic', () => {
    const { template } = buildStack(multiTenant);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ReadThrottleEvents',
      Namespace: 'AWS/DynamoDB',
      AlarmActions: [Match.objectLike({ Ref: Match.stringLikeRegexp('MonitoringAlarmTopic') })],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: Match.stringLikeRegexp('system errors'),
    });
  });

  it('adds no table and no tenant grants to a single-tenant configuration', () => {
    const { template } = buildStack(baseConfig);
    template.resourceCountIs('AWS::DynamoDB::Table', 0);
    expect(JSON.stringify(template.toJSON())).not.toContain('kms:ResourceAliases');
  });

  it('synthesizes the shipped multi-tenant example offline with cdk-nag passing', () => {
    const config = loadConfigFile(join(PROJECT_ROOT, 'config/example-multi-tenant.json'));
    expect(() => buildStack(config as ConfigInput, 'QlikTokenVending-mt')).not.toThrow();
  });

  it('refuses the dev-only file registry at synth with the fix', () => {
    expect(() =>
      buildStack({
        ...baseConfig,
        tenancy: { tenantClaim: 't', registry: { backend: 'file', path: '.local/tenants.json' } },
      }),
    ).toThrow(/works only with the local dev server; to deploy, use "dynamodb"/);
  });
});
