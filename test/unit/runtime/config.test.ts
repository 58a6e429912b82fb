import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../functions/errors.js';
import { loadConfig, parseConfig } from '../../../functions/runtime/config.js';

const minimal = {
  qlik: { issuer: 'https://issuer.example' },
  signing: { backend: 'secrets-manager', secretId: 'qtv/signing-key' },
};

describe('Function: parseConfig', () => {
  it('fills in documented defaults for a minimal configuration', () => {
    const config = parseConfig(minimal);
    expect(config.qlik.token).toEqual({ defaultTtlSeconds: 300, maxTtlSeconds: 600, notBeforeSkewSeconds: 30 });
    expect(config.signing).toEqual({
      backend: 'secrets-manager',
      secretId: 'qtv/signing-key',
      jsonField: 'privateKey',
      cacheTtlSeconds: 300,
    });
    expect(config.identity.preset).toBe('generic');
    expect(config.throttling).toEqual({ rateLimit: 50, burstLimit: 100 });
  });

  it('reports every problem at once, each with its path in plain words', () => {
    // Prepare
    const bad = {
      qlik: {
        issuer: '',
        tenantHost: 'https://tenant.example',
        token: { maxTtlSeconds: 3590, notBeforeSkewSeconds: 30 },
      },
      signing: { backend: 'vault' },
      cors: { allowedOrigins: ['not a url'] },
      surprise: true,
    };
    // Act
    let error: unknown;
    try {
      parseConfig(bad);
    } catch (caught) {
      error = caught;
    }
    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/qlik\.issuer: must not be empty/);
    expect(problems).toMatch(/qlik\.tenantHost: must be a host name/);
    expect(problems).toMatch(/signing\.backend/);
    expect(problems).toMatch(/cors\.allowedOrigins\.0/);
    expect(problems).toMatch(/surprise/);
    expect((error as ConfigError).problems.length).toBeGreaterThanOrEqual(5);
  });

  it('words zod’s own problems in English, the messages operators and docs rely on', () => {
    // zod/mini has no default locale: without English installed (functions/runtime/zod.ts) every one of these
    // would read "Invalid input".
    let error: unknown;
    try {
      parseConfig({
        ...minimal,
        deployment: { kmsKeySpec: 'ECC_NIST_P256', colour: 'blue' },
        throttling: { rateLimit: '50' },
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^deployment\.kmsKeySpec: Invalid option: expected one of "RSA_2048"/),
        'deployment: Unrecognized key: "colour"',
        'throttling.rateLimit: Invalid input: expected number, received string',
      ]),
    );
  });

  it('refuses a token policy that would break Qlik’s 60-minute rule', () => {
    expect(() =>
      parseConfig({ ...minimal, qlik: { issuer: 'i', token: { maxTtlSeconds: 3590, notBeforeSkewSeconds: 30 } } }),
    ).toThrow(/exp - nbf over 60 minutes/);
  });

  it('refuses the Entra ID preset until email_verified is decided, naming the trust decision', () => {
    expect(() => parseConfig({ ...minimal, identity: { preset: 'entra-id' } })).toThrow(/always-true/);
    expect(
      parseConfig({ ...minimal, identity: { preset: 'entra-id', emailVerified: 'always-true' } }).identity.preset,
    ).toBe('entra-id');
  });
});

describe('Function: loadConfig', () => {
  it('reads JSON from QTV_CONFIG', () => {
    expect(loadConfig({ QTV_CONFIG: JSON.stringify(minimal) }).qlik.issuer).toBe('https://issuer.example');
  });

  it('says how to provide a configuration when none is set', () => {
    expect(() => loadConfig({})).toThrow(/set QTV_CONFIG .* or QTV_CONFIG_FILE/);
  });

  it('reports malformed JSON as a configuration problem', () => {
    expect(() => loadConfig({ QTV_CONFIG: '{nope' })).toThrow(ConfigError);
  });

  it('names the missing file', () => {
    expect(() => loadConfig({ QTV_CONFIG_FILE: '/nonexistent/qtv.json' })).toThrow(
      /cannot read \/nonexistent\/qtv\.json: ENOENT/,
    );
  });
});
