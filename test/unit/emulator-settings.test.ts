import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../functions/errors.js';
import { loadEmulatorSettings } from '../../functions/runtime/config.js';

describe('Function: loadEmulatorSettings', () => {
  it('defaults to 127.0.0.1:8788 with the dev server as redirect target and origin', () => {
    expect(loadEmulatorSettings({})).toEqual({
      host: '127.0.0.1',
      port: 8788,
      redirectUris: ['http://127.0.0.1:8787/oauth/callback'],
      origins: ['http://127.0.0.1:8787', 'http://localhost:8787'],
      adminApiKey: undefined,
    });
  });

  it("derives the demo client's redirect URI and the web integration's origins from the dev server's PORT", () => {
    expect(loadEmulatorSettings({ PORT: '8840', EMULATOR_PORT: '8841' })).toMatchObject({
      port: 8841,
      redirectUris: ['http://127.0.0.1:8840/oauth/callback'],
      origins: ['http://127.0.0.1:8840', 'http://localhost:8840'],
    });
  });

  it('reads comma-separated lists, the port and the admin API key', () => {
    const settings = loadEmulatorSettings({
      EMULATOR_PORT: '9000',
      EMULATOR_REDIRECT_URIS: 'http://a.test/cb, http://b.test/cb',
      EMULATOR_ORIGINS: 'http://a.test',
      EMULATOR_ADMIN_API_KEY: 'k',
    });
    expect(settings).toMatchObject({
      port: 9000,
      redirectUris: ['http://a.test/cb', 'http://b.test/cb'],
      origins: ['http://a.test'],
      adminApiKey: 'k',
    });
  });

  it.each([
    [{ EMULATOR_PORT: 'eighty' }, 'EMULATOR_PORT'],
    [{ EMULATOR_PORT: '70000' }, 'EMULATOR_PORT'],
    [{ EMULATOR_ORIGINS: 'not a url' }, 'EMULATOR_ORIGINS'],
  ])('refuses %o, naming the variable', (env, name) => {
    expect(() => loadEmulatorSettings(env)).toThrow(ConfigError);
    expect(() => loadEmulatorSettings(env)).toThrow(name);
  });
});
