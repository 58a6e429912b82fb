import { join } from 'node:path';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../functions/errors.js';
import { CONFIG_ENV_VAR, type ConfigInput, loadConfig, loadConfigFile } from '../../functions/runtime/config.js';
import { PROJECT_ROOT } from '../../infra/constructs/token-function.js';
import { baseConfig, buildStack, resourcesOf } from './synth.js';

/** Joins an Fn::Join value, putting `tokenValue` in place of every token (Ref, GetAtt). */
function resolveJoin(value: unknown, tokenValue: string): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join === undefined) return tokenValue;
  return join[1].map((part) => resolveJoin(part, tokenValue)).join(join[0]);
}

const ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:qlik-token-vending/prod/signing-key-AbCdEf';

/** Each function's QTV_CONFIG, resolved, by the function's logical ID. */
function functionConfigs(template: Template): Record<string, { json: string; value: Record<string, unknown> }> {
  return Object.fromEntries(
    Object.entries(resourcesOf(template, 'AWS::Lambda::Function')).map(([id, fn]) => {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      const json = resolveJoin(variables[CONFIG_ENV_VAR], ARN);
      return [id, { json, value: JSON.parse(json) as Record<string, unknown> }];
    }),
  );
}

const byRoute = (configs: ReturnType<typeof functionConfigs>, prefix: string) =>
  Object.entries(configs).filter(([id]) => id.startsWith(prefix));

const oauthInput = {
  ...(loadConfigFile(join(PROJECT_ROOT, 'config/example-oauth.json')) as ConfigInput),
  rotation: { enabled: true },
} as ConfigInput;
const multiTenantInput = loadConfigFile(join(PROJECT_ROOT, 'config/example-multi-tenant.json')) as ConfigInput;

let oauthConfigs: ReturnType<typeof functionConfigs>;
let multiTenantConfigs: ReturnType<typeof functionConfigs>;

beforeAll(() => {
  oauthConfigs = functionConfigs(buildStack(oauthInput, 'QlikTokenVending-fnconfig-oauth').template);
  multiTenantConfigs = functionConfigs(buildStack(multiTenantInput, 'QlikTokenVending-fnconfig-mt').template);
});

describe("Each function's QTV_CONFIG", () => {
  it('holds oauth only in the functions whose bundle holds the OAuth wiring', () => {
    const holdsOAuth = Object.fromEntries(
      Object.entries(oauthConfigs).map(([id, { value }]) => [id.replace(/[A-F0-9]{8}$/, ''), 'oauth' in value]),
    );
    expect(holdsOAuth).toEqual({
      QlikJwtFunction: false,
      IdpConfigFunction: false,
      KeyRotationFunction: false,
      QlikAccessTokenFunction: true,
      OAuthLoginFunction: true,
      OAuthCallbackFunction: true,
      OAuthCodeExchangeFunction: true,
      OAuthRefreshFunction: true,
      OAuthRevokeFunction: true,
    });
  });

  it('holds no deployment section, and loads in the function with every other section as configured', () => {
    const { stack } = buildStack(oauthInput, 'QlikTokenVending-fnconfig-oauth-2');
    const configured = stack.vending.config;
    const { deployment: _deployment, ...withoutDeployment } = baseConfig;
    const defaults = loadConfig({ [CONFIG_ENV_VAR]: JSON.stringify(withoutDeployment) }).deployment;
    for (const [id, { json, value }] of Object.entries(oauthConfigs)) {
      expect(value, id).not.toHaveProperty('deployment');
      const loaded = loadConfig({ [CONFIG_ENV_VAR]: json });
      expect(loaded.deployment, id).toEqual(defaults);
      for (const section of ['qlik', 'identity', 'callerIdp', 'cors', 'throttling', 'rotation'] as const)
        expect(loaded[section], `${id} ${section}`).toEqual(configured[section]);
      // The key reference becomes the key's ARN.
      expect(loaded.signing, id).toMatchObject({ ...configured.signing, secretId: ARN });
      if (loaded.oauth !== undefined) {
        // The stack adds the refresh grace table it creates (cookie mode).
        expect(loaded.oauth.refreshGrace.tableName, id).toBeDefined();
        expect({ ...loaded.oauth, refreshGrace: configured.oauth!.refreshGrace }, id).toEqual(configured.oauth);
      }
    }
  });

  it('keeps tenancy in every function of a multi-tenant deployment, so none silently serves a single tenant', () => {
    expect(Object.keys(multiTenantConfigs).length).toBeGreaterThanOrEqual(3);
    for (const [id, { value }] of Object.entries(multiTenantConfigs)) {
      expect(value.tenancy, id).toMatchObject({ tenantClaim: 'org_id', registry: { backend: 'dynamodb' } });
    }
    expect(byRoute(multiTenantConfigs, 'QlikJwt')).toHaveLength(1);
  });

  it('refuses a configuration whose QTV_CONFIG would not fit in 4 KB of Lambda environment', () => {
    const map = Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`group-object-id-${i}`, `Qlik group ${i}`]));
    expect(() =>
      buildStack(
        { ...baseConfig, identity: { preset: 'cognito', groups: { map } } } as ConfigInput,
        'QlikTokenVending-fnconfig-big',
      ),
    ).toThrow(ConfigError);
  });
});
