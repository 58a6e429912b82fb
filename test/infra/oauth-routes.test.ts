import { beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../../functions/routes.js';
import type { ConfigInput } from '../../functions/runtime/config.js';
import { baseConfig, buildStack, resourcesOf } from './synth.js';

const ADMIN_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:qtv/oauth-admin-AbCdEf';
const oauthConfig: ConfigInput = {
  ...baseConfig,
  qlik: { ...baseConfig.qlik, tenantHost: 'example.eu.qlikcloud.com' },
  oauth: {
    clientId: 'web-client',
    clientSecretId: 'qtv/oauth-client',
    redirectUris: ['https://api.example.com/oauth/callback'],
    appReturnUrls: ['https://app.example.com/'],
    impersonation: {
      enabled: true,
      provisionUsers: true,
      adminClientId: 'admin-client',
      adminClientSecretId: ADMIN_SECRET_ARN,
    },
  },
};
const oauthRouteIds = routes.filter((route) => route.requires !== undefined).map((route) => route.id);

let oauthPolicies: ReturnType<typeof resourcesOf>;
let apiRoutes: ReturnType<typeof resourcesOf>;
let plainPolicies: ReturnType<typeof resourcesOf>;

beforeAll(() => {
  const { template } = buildStack(oauthConfig, 'QlikTokenVending-oauth');
  oauthPolicies = resourcesOf(template, 'AWS::IAM::Policy');
  apiRoutes = resourcesOf(template, 'AWS::ApiGatewayV2::Route');
  plainPolicies = resourcesOf(buildStack(baseConfig, 'QlikTokenVending-plain').template, 'AWS::IAM::Policy');
});

function statements(policies: ReturnType<typeof resourcesOf>, routeId: string) {
  const entry = Object.entries(policies).find(([logicalId]) => logicalId.startsWith(`${routeId}Role`));
  return (entry?.[1].Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> } | undefined)?.Statement;
}

describe('TokenVendingStack with an oauth section', () => {
  it('deploys the OAuth routes only when the configuration has an oauth section', () => {
    expect(oauthRouteIds).toEqual([
      'QlikAccessToken',
      'OAuthLogin',
      'OAuthCallback',
      'OAuthCodeExchange',
      'OAuthRefresh',
      'OAuthRevoke',
    ]);
    for (const id of oauthRouteIds) {
      expect(statements(oauthPolicies, id), id).toBeDefined();
      expect(statements(plainPolicies, id), id).toBeUndefined();
    }
  });

  it('puts the JWT authorizer on POST /qlik/access-token and none on the /oauth/* routes', () => {
    const byKey = Object.fromEntries(
      Object.values(apiRoutes).map((r) => [r.Properties.RouteKey as string, r.Properties.AuthorizationType as string]),
    );
    expect(byKey['POST /qlik/access-token']).toBe('JWT');
    for (const key of [
      'GET /oauth/login',
      'GET /oauth/callback',
      'POST /oauth/code-exchange',
      'POST /oauth/refresh',
      'POST /oauth/revoke',
    ])
      expect(byKey[key], key).toBe('NONE');
  });

  it('grants the OAuth functions read access to the secrets their route uses only, and no access to the signing key', () => {
    for (const id of oauthRouteIds) {
      const text = JSON.stringify(statements(oauthPolicies, id));
      expect(text, id).toContain('secretsmanager:GetSecretValue');
      expect(text, id).toContain(':secret:qtv/oauth-client-??????');
      // Regression (issue 12, finding 3): every /oauth/* function could read the admin client secret.
      if (id === 'QlikAccessToken') expect(text, id).toContain('qtv/oauth-admin-AbCdEf');
      else expect(text, id).not.toContain('qtv/oauth-admin-AbCdEf');
      expect(text, id).not.toMatch(/SigningKeySecret/);
      expect(text, id).not.toContain('kms:Sign');
    }
    expect(JSON.stringify(statements(oauthPolicies, 'QlikJwt'))).not.toContain('oauth');
  });
});
