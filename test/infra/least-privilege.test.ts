/**
 * Least privilege per route (issue 12): the exact grants of every function, beyond its own log group and
 * X-Ray, for every shipped configuration and the variants that change grants. A public route's function can
 * neither sign nor read the signing key; only /qlik/access-token (with user provisioning) reads the admin
 * client secret (the rotation function's own grants are pinned in key-rotation.test.ts).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { routes } from '../../functions/routes.js';
import { type ConfigInput, loadConfigFile } from '../../functions/runtime/config.js';
import { PROJECT_ROOT } from '../../infra/constructs/token-function.js';
import { baseConfig, buildStack, resourcesOf } from './synth.js';

/** One grant as "action label": the label names the secret or key without CDK's hash suffixes. */
function grantsOf(template: Template, routeId: string): string[] {
  const policies = resourcesOf(template, 'AWS::IAM::Policy');
  const entry = Object.entries(policies).find(([logicalId]) => logicalId.startsWith(`${routeId}Role`));
  expect(entry, `policy of ${routeId}`).toBeDefined();
  const statements = (entry![1].Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement;
  const out: string[] = [];
  for (const statement of statements) {
    const actions = ([] as string[]).concat(statement.Action as string | string[]);
    if (actions.some((a) => a.startsWith('logs:') || a.startsWith('xray:'))) continue;
    // @aws-cdk/aws-iam:minimizePolicies (cdk.json) merges statements with the same actions into one statement
    // listing several resources: each resource is a grant of its own.
    const resources = Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
    for (const one of resources) {
      const resource = JSON.stringify(one);
      const secret = resource.match(/secret:([^"*?]+)-(?:\?{6}|[A-Za-z0-9]{6})"/);
      const logical = resource.match(/"([A-Za-z]+?)[0-9A-F]{8}"/);
      const label = secret ? `secret:${secret[1]}` : logical ? logical[1] : resource;
      const condition = statement.Condition === undefined ? '' : ' (conditional)';
      for (const action of actions) out.push(`${action} ${label}${condition}`);
    }
  }
  return out.sort();
}

const SM = (label: string) => [`secretsmanager:DescribeSecret ${label}`, `secretsmanager:GetSecretValue ${label}`];
const PUBLIC_SECRET = 'secretsmanager:GetSecretValue SigningKeyPublicSecret';
const GRACE_REFRESH = ['DeleteItem', 'GetItem', 'PutItem'].map((a) => `dynamodb:${a} RefreshGraceTable`);
const GRACE_REVOKE = ['dynamodb:PutItem RefreshGraceTable'];

const configFiles = readdirSync(join(PROJECT_ROOT, 'config')).filter((f) => f.endsWith('.json'));
const templates = new Map<string, Template>();

const ADMIN_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:qtv/oauth-admin-AbCdEf';
const oauthVariant = (impersonation: Record<string, unknown>, extra: Record<string, unknown> = {}): ConfigInput => ({
  ...baseConfig,
  qlik: { ...baseConfig.qlik, tenantHost: 'example.eu.qlikcloud.com' },
  oauth: {
    clientId: 'web-client',
    clientSecretId: 'qtv/oauth-client',
    redirectUris: ['https://api.example.com/oauth/callback'],
    appReturnUrls: ['https://app.example.com/'],
    impersonation: { enabled: true, adminClientId: 'admin-client', adminClientSecretId: ADMIN_ARN, ...impersonation },
    ...extra,
  },
});

beforeAll(() => {
  for (const file of configFiles)
    templates.set(
      file,
      buildStack(loadConfigFile(join(PROJECT_ROOT, 'config', file)) as ConfigInput, `QtvLp${templates.size}`).template,
    );
  templates.set('provisioning-off', buildStack(oauthVariant({ provisionUsers: false }), 'QtvLpOff').template);
  templates.set(
    'sealing-secret',
    buildStack(oauthVariant({ provisionUsers: true }, { sealingSecretId: 'qtv/sealing' }), 'QtvLpSeal').template,
  );
});

describe('Least privilege per route (every configuration in config/)', () => {
  it.each(configFiles)(
    '%s: no public route can sign or read the private key; only access-token reads the admin secret',
    (file) => {
      const template = templates.get(file)!;
      const config = loadConfigFile(join(PROJECT_ROOT, 'config', file));
      for (const route of routes) {
        if (!Object.keys(resourcesOf(template, 'AWS::Lambda::Function')).some((id) => id.startsWith(route.id)))
          continue;
        const grants = grantsOf(template, route.id);
        if (route.auth === 'public') {
          expect(
            grants.filter((g) => g.startsWith('kms:Sign')),
            route.id,
          ).toEqual([]);
          expect(
            grants.filter((g) => / SigningKeySecret|secret:qlik-token-vending\/[a-z]+\/signing-key/.test(g)),
            route.id,
          ).toEqual([]);
        }
        if (route.id !== 'QlikAccessToken')
          expect(
            grants.filter((g) => g.includes('admin')),
            route.id,
          ).toEqual([]);
      }
      expect(config).toBeDefined();
    },
  );

  it('dev.json (secrets-manager): /qlik/jwt reads the key secret; /qlik/idp-config only the public-material secret', () => {
    const template = templates.get('dev.json')!;
    expect(grantsOf(template, 'QlikJwt')).toEqual(['secretsmanager:GetSecretValue SigningKeySecret']);
    expect(grantsOf(template, 'IdpConfig')).toEqual([PUBLIC_SECRET]);
  });

  it('example-kms.json: /qlik/jwt may Sign; /qlik/idp-config may only GetPublicKey and read the public material', () => {
    const template = templates.get('example-kms.json')!;
    // The KMS key's logical ID is "SigningKey<hash>" (CDK drops the repeated "Key").
    expect(grantsOf(template, 'QlikJwt')).toEqual(['kms:GetPublicKey SigningKey', 'kms:Sign SigningKey']);
    expect(grantsOf(template, 'IdpConfig')).toEqual(['kms:GetPublicKey SigningKey', PUBLIC_SECRET].sort());
  });

  it('example-rotation.json: the customer-managed key decrypts the key secret only for /qlik/jwt, via Secrets Manager', () => {
    const template = templates.get('example-rotation.json')!;
    expect(grantsOf(template, 'QlikJwt')).toEqual([
      'kms:Decrypt SigningKeyEncryptionKey (conditional)',
      'secretsmanager:GetSecretValue SigningKeySecret',
    ]);
    expect(grantsOf(template, 'IdpConfig')).toEqual([PUBLIC_SECRET]);
  });

  it('example-oauth.json: each route reads only the secrets it uses; the admin secret only /qlik/access-token', () => {
    const template = templates.get('example-oauth.json')!;
    const client = SM('secret:qlik-token-vending/prod/qlik-oauth-client');
    const admin = SM('secret:qlik-token-vending/prod/qlik-admin-client');
    // This example encrypts the key secret with a customer-managed key: decrypting it is /qlik/jwt's alone.
    expect(grantsOf(template, 'QlikJwt')).toEqual([
      'kms:Decrypt SigningKeyEncryptionKey (conditional)',
      'secretsmanager:GetSecretValue SigningKeySecret',
    ]);
    expect(grantsOf(template, 'IdpConfig')).toEqual([PUBLIC_SECRET]);
    // Without a sealing secret the cookie keys come from the client secret, so login reads it too.
    expect(grantsOf(template, 'OAuthLogin')).toEqual(client);
    for (const id of ['OAuthCallback', 'OAuthCodeExchange']) expect(grantsOf(template, id), id).toEqual(client);
    // Cookie mode's refresh grace table (issue 13): the refresh function claims, reads and releases; revoke marks.
    expect(grantsOf(template, 'OAuthRefresh')).toEqual([...client, ...GRACE_REFRESH].sort());
    expect(grantsOf(template, 'OAuthRevoke')).toEqual([...client, ...GRACE_REVOKE].sort());
    expect(grantsOf(template, 'QlikAccessToken')).toEqual([...client, ...admin].sort());
  });

  it('with a sealing secret, /oauth/login reads only that one and never the client secret', () => {
    const template = templates.get('sealing-secret')!;
    const client = SM('secret:qtv/oauth-client');
    const sealing = SM('secret:qtv/sealing');
    expect(grantsOf(template, 'OAuthLogin')).toEqual(sealing);
    for (const id of ['OAuthCallback', 'OAuthCodeExchange'])
      expect(grantsOf(template, id), id).toEqual([...client, ...sealing].sort());
    expect(grantsOf(template, 'OAuthRefresh')).toEqual([...client, ...sealing, ...GRACE_REFRESH].sort());
    expect(grantsOf(template, 'OAuthRevoke')).toEqual([...client, ...sealing, ...GRACE_REVOKE].sort());
    expect(grantsOf(template, 'QlikAccessToken')).toEqual([...client, ...SM('secret:qtv/oauth-admin')].sort());
  });

  it('example-multi-tenant.json: tenants’ resources by name pattern, each route only what it uses', () => {
    const template = templates.get('example-multi-tenant.json')!;
    const resource = (pattern: string) =>
      `{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":${pattern.split(':')[0]}:",{"Ref":"AWS::Region"},":",{"Ref":"AWS::AccountId"},":${pattern.split(':').slice(1).join(':')}"]]}`;
    const keys = resource('secretsmanager:secret:qtv/tenants/*');
    const oauthSecrets = resource('secretsmanager:secret:qtv/tenants/*/*');
    const publicSecrets = resource('secretsmanager:secret:qtv/tenants/*/public-??????');
    const kmsKeys = resource('kms:key/*');
    const registry = 'dynamodb:GetItem TenantRegistryTable';
    const shared = 'secretsmanager:GetSecretValue SigningKeySecret';
    expect(grantsOf(template, 'QlikJwt')).toEqual(
      [
        shared,
        registry,
        `secretsmanager:GetSecretValue ${keys}`,
        `kms:GetPublicKey ${kmsKeys} (conditional)`,
        `kms:Sign ${kmsKeys} (conditional)`,
      ].sort(),
    );
    // The public route: public material only (its own and the tenants'), never a key, never Sign.
    expect(grantsOf(template, 'IdpConfig')).toEqual(
      [
        PUBLIC_SECRET,
        registry,
        `secretsmanager:GetSecretValue ${publicSecrets}`,
        `kms:GetPublicKey ${kmsKeys} (conditional)`,
      ].sort(),
    );
    for (const id of ['OAuthLogin', 'OAuthCallback', 'OAuthCodeExchange'])
      expect(grantsOf(template, id), id).toEqual([registry, `secretsmanager:GetSecretValue ${oauthSecrets}`].sort());
    expect(grantsOf(template, 'OAuthRefresh')).toEqual(
      [registry, `secretsmanager:GetSecretValue ${oauthSecrets}`, ...GRACE_REFRESH].sort(),
    );
    expect(grantsOf(template, 'OAuthRevoke')).toEqual(
      [registry, `secretsmanager:GetSecretValue ${oauthSecrets}`, ...GRACE_REVOKE].sort(),
    );
    // The one rotation function: the four rotation actions on the tenant prefix and a registry read, no more.
    expect(grantsOf(template, 'KeyRotation')).toEqual(
      [
        registry,
        ...['DescribeSecret', 'GetSecretValue', 'PutSecretValue', 'UpdateSecretVersionStage'].map(
          (a) => `secretsmanager:${a} ${keys}`,
        ),
      ].sort(),
    );
    // Secrets Manager may invoke it for secrets under the prefix, from this account only.
    const permissions = Object.values(resourcesOf(template, 'AWS::Lambda::Permission')).filter(
      (p) => p.Properties.Principal === 'secretsmanager.amazonaws.com',
    );
    expect(permissions).toHaveLength(1);
    expect(JSON.stringify(permissions[0]!.Properties.SourceArn)).toContain(':secret:qtv/tenants/*');
    expect(permissions[0]!.Properties.SourceAccount).toEqual({ Ref: 'AWS::AccountId' });
  });

  it('with user provisioning off, no function may read the admin client secret', () => {
    const template = templates.get('provisioning-off')!;
    for (const route of routes) expect(grantsOf(template, route.id).join(), route.id).not.toContain('oauth-admin');
    expect(grantsOf(template, 'QlikAccessToken')).toEqual(SM('secret:qtv/oauth-client'));
  });
});
