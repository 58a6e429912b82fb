import { beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../functions/runtime/config.js';
import { LOGOUT_GRACE_ACTIONS, REFRESH_GRACE_ACTIONS } from '../../infra/constructs/refresh-grace-table.js';
import { baseConfig, buildStack, resourcesOf } from './synth.js';

function oauthConfig(mode: 'cookie' | 'json'): ConfigInput {
  return {
    ...baseConfig,
    qlik: { ...baseConfig.qlik, tenantHost: 'example.eu.qlikcloud.com' },
    oauth: {
      clientId: 'web-client',
      clientSecretId: 'qtv/oauth-client',
      redirectUris: ['https://api.example.com/oauth/callback'],
      appReturnUrls: ['https://app.example.com/'],
      mode,
    },
  };
}

type Statement = { Action: string | string[]; Resource: unknown; Effect: string };
let cookie: ReturnType<typeof buildStack>;

beforeAll(() => {
  // buildStack runs the cdk-nag AwsSolutions checks: an unacknowledged finding would throw here.
  cookie = buildStack(oauthConfig('cookie'), 'QlikTokenVending-grace');
});

function dynamoStatements(template: ReturnType<typeof buildStack>['template']) {
  const byRole: Record<string, Statement[]> = {};
  for (const [logicalId, policy] of Object.entries(resourcesOf(template, 'AWS::IAM::Policy'))) {
    const statements = (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement.filter((s) =>
      [s.Action].flat().some((action) => action.startsWith('dynamodb:')),
    );
    if (statements.length > 0) byRole[logicalId] = statements;
  }
  return byRole;
}

describe('RefreshGraceTable in the stack (cookie mode)', () => {
  it('creates one on-demand table keyed by pk, with TTL on expiresAt, point-in-time recovery and encryption', () => {
    const tables = Object.values(resourcesOf(cookie.template, 'AWS::DynamoDB::Table'));
    expect(tables).toHaveLength(1);
    expect(tables[0]!.Properties).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it('grants the refresh function PutItem, GetItem and DeleteItem, the revoke function PutItem, on that table only, and no other function anything', () => {
    const byRole = dynamoStatements(cookie.template);
    const roles = Object.keys(byRole).sort();
    expect(roles).toHaveLength(2);
    const refresh = roles.find((id) => id.startsWith('OAuthRefreshRole'))!;
    const revoke = roles.find((id) => id.startsWith('OAuthRevokeRole'))!;
    for (const [role, actions] of [
      [refresh, REFRESH_GRACE_ACTIONS],
      [revoke, LOGOUT_GRACE_ACTIONS],
    ] as const) {
      expect(byRole[role], role).toHaveLength(1);
      const [statement] = byRole[role]!;
      expect([statement!.Action].flat().sort()).toEqual([...actions].sort());
      expect(JSON.stringify(statement!.Resource)).toContain('RefreshGraceTable');
      expect(JSON.stringify(statement!.Resource)).not.toContain('*');
    }
  });

  it('tells the functions the table name through QTV_CONFIG', () => {
    const fn = Object.entries(resourcesOf(cookie.template, 'AWS::Lambda::Function')).find(([id]) =>
      id.startsWith('OAuthRefresh'),
    )![1];
    const config = JSON.stringify((fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables);
    expect(config).toContain('refreshGrace');
    expect(config).toContain('RefreshGraceTable');
  });
});

describe('RefreshGraceTable absent', () => {
  it.each([
    ['JSON mode (the SPA holds its refresh token)', oauthConfig('json')],
    ['no oauth section', baseConfig],
  ])('creates no table and no DynamoDB grant in %s', (_name, input) => {
    const { template } = buildStack(input, 'QlikTokenVending-nograce');
    expect(Object.keys(resourcesOf(template, 'AWS::DynamoDB::Table'))).toHaveLength(0);
    expect(dynamoStatements(template)).toEqual({});
  });
});
