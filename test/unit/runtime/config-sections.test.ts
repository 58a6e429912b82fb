import { beforeEach, describe, expect, it, vi } from 'vitest';

// Every object schema the configuration module builds, by the keys of its shape: which sections were
// built is what a cold start pays for (issue #15, docs/performance.md).
const built = vi.hoisted(() => ({ shapes: [] as string[][] }));

vi.mock('../../../functions/runtime/zod.js', async (importOriginal) => {
  const zod = await importOriginal<typeof import('../../../functions/runtime/zod.js')>();
  return {
    ...zod,
    strictObject: ((shape: Record<string, unknown>, params?: unknown) => {
      built.shapes.push(Object.keys(shape));
      return (zod.strictObject as (shape: unknown, params?: unknown) => unknown)(shape, params);
    }) as typeof zod.strictObject,
  };
});

/** A key only that section's own object holds. */
const SECTION_MARKERS = {
  oauth: 'redirectUris',
  tenancy: 'tenantClaim',
  deployment: 'logRetentionDays',
  callerIdp: 'audience',
  qlik: 'issuer',
} as const;

function sectionsBuilt(): string[] {
  return Object.entries(SECTION_MARKERS)
    .filter(([, marker]) => built.shapes.some((keys) => keys.includes(marker)))
    .map(([section]) => section)
    .sort();
}

/** The configuration module as a cold start loads it: a fresh import, then one parse. */
async function freshConfigModule() {
  vi.resetModules();
  built.shapes.length = 0;
  return import('../../../functions/runtime/config.js');
}

const minimal = {
  qlik: { issuer: 'https://issuer.example', tenantHost: 'tenant.example' },
  signing: { backend: 'secrets-manager', secretId: 'qtv/signing-key' },
};
const oauth = {
  clientId: 'web',
  clientSecretId: 'qtv/web-client',
  redirectUris: ['https://qtv.example/oauth/callback'],
  mode: 'json',
};

describe('Configuration sections at cold start', () => {
  beforeEach(() => {
    built.shapes.length = 0;
  });

  it('never builds the oauth, tenancy, deployment or callerIdp schemas for a configuration without them', async () => {
    // Act
    const { parseConfig } = await freshConfigModule();
    const config = parseConfig(minimal);
    // Assess
    expect(config.deployment.tracing).toBe(true);
    expect(config.oauth).toBeUndefined();
    expect(sectionsBuilt()).toEqual(['qlik']);
  });

  it('builds the oauth section only when the configuration holds it', async () => {
    // Act
    const { parseConfig } = await freshConfigModule();
    const config = parseConfig({ ...minimal, oauth });
    // Assess
    expect(config.oauth?.clientId).toBe('web');
    expect(sectionsBuilt()).toEqual(['oauth', 'qlik']);
  });

  it('parses what a Lambda gets in QTV_CONFIG (every default written out, no deployment) without building deployment', async () => {
    // Prepare: as infra/constructs/qlik-token-vending.ts writes it, from a validated configuration.
    const { parseConfig: parseAtSynth } = await freshConfigModule();
    const { deployment: _deployment, ...functionConfig } = parseAtSynth({ ...minimal, oauth });
    // Act
    const { loadConfig } = await freshConfigModule();
    const config = loadConfig({ QTV_CONFIG: JSON.stringify(functionConfig) });
    // Assess
    expect(config).toEqual({ ...functionConfig, deployment: parseAtSynth(minimal).deployment });
    expect(sectionsBuilt()).toEqual(['oauth', 'qlik']);
  });

  it('still reports every problem of every section held at once, with its path and message', async () => {
    // Prepare
    const { parseConfig } = await freshConfigModule();
    const bad = {
      qlik: { issuer: '', tenantHost: 'https://tenant.example' },
      signing: { backend: 'secrets-manager', secretId: 'qtv/signing-key' },
      callerIdp: { issuer: 'not a url', audience: [] },
      oauth: { ...oauth, redirectUris: ['http://app.example/callback'], impersonation: { clientId: 'imp' } },
      tenancy: { tenantClaim: '', registry: { backend: 'dynamodb', tableName: 'tenants' } },
      deployment: { lambda: { timeoutSeconds: 30 }, logRetentionDays: 2 },
      surprise: true,
    };
    // Act
    let problems: readonly string[] = [];
    try {
      parseConfig(bad);
    } catch (error) {
      problems = (error as { problems: readonly string[] }).problems;
    }
    // Assess
    expect(problems).toEqual([
      'qlik.tenantHost: must be a host name such as example.eu.qlikcloud.com, without https://',
      'qlik.issuer: must not be empty',
      'callerIdp.issuer: must be a URL such as https://cognito-idp.eu-west-1.amazonaws.com/<pool-id>',
      'callerIdp.audience: must name at least one audience',
      'oauth.redirectUris.0: must be an https URL (http is allowed for 127.0.0.1/localhost only)',
      'tenancy.tenantClaim: must not be empty',
      'deployment.lambda.timeoutSeconds: must be at most 29: API Gateway gives up after 30 s',
      'deployment.logRetentionDays: must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 (CloudWatch Logs retention periods)',
      '(top level): Unrecognized key: "surprise"',
      'oauth.impersonation.clientSecretId: set impersonation.clientId and impersonation.clientSecretId together',
    ]);
    expect(sectionsBuilt()).toEqual(['callerIdp', 'deployment', 'oauth', 'qlik', 'tenancy']);
  });

  it('keeps a section given as undefined, as zod keeps a present key, and refuses unknown sections', async () => {
    // Act
    const { parseConfig } = await freshConfigModule();
    const config = parseConfig({ ...minimal, oauth: undefined, tenancy: undefined });
    // Assess
    expect(Object.keys(config)).toContain('oauth');
    expect(config.tenancy).toBeUndefined();
    expect(() => parseConfig({ ...minimal, oauthh: oauth })).toThrow(/Unrecognized key: "oauthh"/);
  });
});
