import { describe, expect, it } from 'vitest';
import { loadCliEnvironment } from '../../../functions/runtime/config.js';
import { CliError, EXIT, parseDuration, parseNow } from '../../../scripts/cli/support.js';
import { tenantBaseUrl } from '../../../scripts/commands/idp-push.js';
import { decodeCompactJwt } from '../../../scripts/commands/inspect.js';

describe('Function: parseDuration', () => {
  it.each([
    ['90', 90],
    ['30s', 30],
    ['5m', 300],
    ['1h', 3600],
    ['365d', 31_536_000],
  ])('reads %s as %i seconds', (text, seconds) => {
    expect(parseDuration(text, '--expires')).toBe(seconds);
  });

  it.each(['', '5 minutes', '-5m', '1.5h', '0s', '5w'])('refuses %j as a usage error naming the flag', (text) => {
    const error = (() => {
      try {
        parseDuration(text, '--expires');
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(EXIT.usage);
    expect((error as CliError).message).toMatch(/^--expires /);
  });
});

describe('Function: parseNow', () => {
  it('reads epoch seconds and ISO 8601 alike', () => {
    expect(parseNow('1790000000')).toBe(1_790_000_000);
    expect(parseNow('2026-09-21T14:13:20Z')).toBe(1_790_000_000);
  });
});

describe('Function: loadCliEnvironment', () => {
  it('reads the CLI variables and treats empty ones as unset', () => {
    expect(
      loadCliEnvironment({
        QTV_PRIVATE_KEY: 'pem',
        QTV_QLIK_API_KEY: ' ',
        QTV_CALLER_TOKEN: 't',
        AWS_ENDPOINT_URL: 'http://x',
      }),
    ).toEqual({
      privateKey: 'pem',
      qlikApiKey: undefined,
      qlikClientSecret: undefined,
      callerToken: 't',
      awsEndpointUrl: 'http://x',
    });
  });
});

describe('Function: tenantBaseUrl', () => {
  it('implies https for a bare host and keeps a full URL', () => {
    expect(tenantBaseUrl('example.eu.qlikcloud.com')).toBe('https://example.eu.qlikcloud.com');
    expect(tenantBaseUrl('http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080');
  });
});

describe('Function: decodeCompactJwt', () => {
  it.each(['', 'a.b', 'a.b.c.d', 'e30.W10.', 'e30.e30.s!g', 'bm90IGpzb24.e30.'])('refuses %j', (token) => {
    expect(decodeCompactJwt(token)).toBeUndefined();
  });

  it('decodes header and payload objects', () => {
    expect(decodeCompactJwt('eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln')).toMatchObject({
      header: { alg: 'RS256' },
      payload: { sub: 'a' },
    });
  });
});
