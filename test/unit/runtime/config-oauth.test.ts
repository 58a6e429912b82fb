import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../functions/errors.js';
import { parseConfig } from '../../../functions/runtime/config.js';

const base = {
  qlik: { issuer: 'https://qtv.example', tenantHost: 'tenant.example.com' },
  signing: { backend: 'file', privateKeyPath: 'k.pem' },
};
const oauth = {
  clientId: 'web',
  clientSecretId: 'arn:secret',
  redirectUris: ['https://qtv.example/oauth/callback'],
  appReturnUrls: ['https://app.example/'],
};

function problems(input: unknown): readonly string[] {
  try {
    parseConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('Function: parseConfig (oauth section)', () => {
  it('applies defaults: cookie mode, the fewest scopes, __Host- cookies, a 5 s timeout with one retry', () => {
    const config = parseConfig({ ...base, oauth });
    expect(config.oauth).toMatchObject({
      clientAuth: 'secret',
      mode: 'cookie',
      scopes: ['user_default', 'offline_access'],
      cookie: { stateName: '__Host-qtv-oauth-state', sessionName: '__Host-qtv-oauth-session' },
      upstream: { timeoutMs: 5000, retries: 1 },
      impersonation: { enabled: false, scope: 'user_default', cacheMaxEntries: 1000 },
    });
  });

  it.each([
    ['no client secret for secret auth', { ...oauth, clientSecretId: undefined }, 'oauth.clientSecretId'],
    ['private-key-jwt without a key', { ...oauth, clientAuth: 'private-key-jwt' }, 'oauth.clientAssertion'],
    [
      'private-key-jwt without a sealing secret',
      { ...oauth, clientAuth: 'private-key-jwt', clientAssertion: { backend: 'kms', keyId: 'k', kid: 'k' } },
      'oauth.sealingSecretId',
    ],
    [
      'six redirect URIs (Qlik allows 5)',
      { ...oauth, redirectUris: [1, 2, 3, 4, 5, 6].map((n) => `https://a.example/${n}`) },
      'oauth.redirectUris',
    ],
    [
      'a plain-http redirect URI off loopback',
      { ...oauth, redirectUris: ['http://qtv.example/cb'] },
      'oauth.redirectUris.0',
    ],
    ['cookie mode without app URLs', { ...oauth, appReturnUrls: [] }, 'oauth.appReturnUrls'],
    [
      'provisioning without an admin client',
      { ...oauth, impersonation: { enabled: true, provisionUsers: true } },
      'oauth.impersonation.provisionUsers',
    ],
    [
      'an impersonation client without its secret',
      { ...oauth, impersonation: { clientId: 'm2m' } },
      'oauth.impersonation.clientSecretId',
    ],
    ['a cookie name with a space', { ...oauth, cookie: { stateName: 'bad name' } }, 'oauth.cookie.stateName'],
    ['a timeout above API Gateway’s 29 s', { ...oauth, upstream: { timeoutMs: 30_000 } }, 'oauth.upstream.timeoutMs'],
  ])('refuses %s, naming the field', (_name, section, path) => {
    expect(problems({ ...base, oauth: section }).join('\n')).toContain(`${path}:`);
  });

  it('lists a redirect, return or tenant URL that is no URL at all among the problems instead of crashing', () => {
    expect(
      problems({
        ...base,
        oauth: { ...oauth, tenantUrl: 'tenant', redirectUris: ['not a url'], appReturnUrls: [''] },
      }),
    ).toEqual(
      expect.arrayContaining([
        'oauth.tenantUrl: must be an absolute URL',
        'oauth.redirectUris.0: must be an absolute URL',
        'oauth.appReturnUrls.0: must be an absolute URL',
      ]),
    );
  });

  it('needs a tenant: qlik.tenantHost or oauth.tenantUrl', () => {
    expect(problems({ ...base, qlik: { issuer: 'x' }, oauth }).join('\n')).toContain('oauth.tenantUrl:');
    expect(
      problems({ ...base, qlik: { issuer: 'x' }, oauth: { ...oauth, tenantUrl: 'http://127.0.0.1:8788' } }),
    ).toEqual([]);
  });
});
