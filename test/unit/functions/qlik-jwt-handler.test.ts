import { describe, expect, it, vi } from 'vitest';
import { SigningKeyUnavailableError } from '../../../functions/errors.js';
import { checkQlikToken, qlikRejections } from '../../../functions/qlik/claims.js';
import { createHandler } from '../../../functions/qlik-jwt/handler.js';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { parseConfig } from '../../../functions/runtime/config.js';
import { createRuntime } from '../../../functions/runtime/wiring.js';
import type { SignerSource } from '../../../functions/signing/signer.js';
import { signingKeyFromSecret } from '../../../functions/signing/signing-key.js';
import { httpEvent, lambdaContext } from '../../support/events.js';
import { pkcs8Pem, rsaKeyPair, verifyWithJsonwebtoken } from '../../support/keys.js';
import { capturingLogger } from '../../support/logs.js';

const NOW_MS = Date.UTC(2026, 10, 21, 12, 0, 0);
const { privateKey, publicKey } = rsaKeyPair(2048);
const publicPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
const callerClaims = {
  iss: 'https://idp.example',
  sub: 'user-42',
  name: 'Grace Hopper',
  email: 'grace@example.com',
  email_verified: 'true',
  groups: ['Sales', 'Finance'],
};

async function setup(signers?: SignerSource) {
  const key = await signingKeyFromSecret(pkcs8Pem(privateKey), { fallbackKid: 'qtv-test' });
  const config = parseConfig({
    qlik: { issuer: 'https://qtv.example', token: { defaultTtlSeconds: 300, maxTtlSeconds: 600 } },
    signing: { backend: 'file', privateKeyPath: 'unused' },
  });
  const log = capturingLogger();
  const runtime = createRuntime(config, {
    clock: new FixedClock(NOW_MS),
    logger: log.logger,
    signers: signers ?? { current: async () => key },
  });
  const handler = createHandler(runtime);
  const invoke = async (event: ReturnType<typeof httpEvent>) => {
    const result = await handler(event, lambdaContext());
    return { ...result, json: JSON.parse(result.body ?? '{}') as Record<string, unknown> };
  };
  return { invoke, log, runtime };
}

describe('Handler: POST /qlik/jwt', () => {
  it('returns a token for the caller’s mapped identity that passes every Qlik rule and verifies independently', async () => {
    // Prepare
    const { invoke } = await setup();
    // Act
    const response = await invoke(httpEvent({ claims: callerClaims }));
    // Assess
    expect(response.statusCode).toBe(200);
    expect(response.headers).toMatchObject({ 'content-type': 'application/json', 'cache-control': 'no-store' });
    expect(response.json).toEqual({
      token: expect.any(String),
      expiresAt: '2026-11-21T12:05:00.000Z',
      expiresIn: 300,
      keyId: 'qtv-test',
    });
    const { header, payload } = verifyWithJsonwebtoken(response.json.token as string, publicPem, {
      clockTimestamp: NOW_MS / 1000,
    });
    expect(header).toEqual({ alg: 'RS256', kid: 'qtv-test', typ: 'JWT' });
    expect(payload).toMatchObject({
      sub: 'user-42',
      name: 'Grace Hopper',
      email: 'grace@example.com',
      email_verified: true,
      groups: ['Sales', 'Finance'],
    });
    expect(
      qlikRejections(
        checkQlikToken(header, payload, {
          issuer: 'https://qtv.example',
          keyId: 'qtv-test',
          nowSeconds: NOW_MS / 1000,
        }),
      ),
    ).toEqual([]);
  });

  it.each([
    [{ ttlSeconds: 60 }, 60],
    [{ ttlSeconds: 3600 }, 600],
    [{}, 300],
  ])('clamps the requested lifetime %j to policy (%i s)', async (body, expected) => {
    const { invoke } = await setup();
    const response = await invoke(httpEvent({ claims: callerClaims, body: JSON.stringify(body) }));
    expect(response.json.expiresIn).toBe(expected);
  });

  it('accepts an empty body without a content type', async () => {
    const { invoke } = await setup();
    const response = await invoke(httpEvent({ claims: callerClaims, headers: { 'content-type': '' } }));
    expect(response.statusCode).toBe(200);
  });

  it('runs every invocation through the Powertools tracer middleware (X-Ray in Lambda)', async () => {
    const { invoke, runtime } = await setup();
    const asked = vi.spyOn(runtime.tracer, 'isTracingEnabled');
    await invoke(httpEvent({ claims: callerClaims }));
    expect(asked).toHaveBeenCalled();
  });

  it('never logs the token', async () => {
    const { invoke, log } = await setup();
    const response = await invoke(httpEvent({ claims: callerClaims }));
    const token = response.json.token as string;
    expect(log.lines.length).toBeGreaterThan(0);
    expect(log.text()).not.toContain(token.split('.')[2]);
    expect(log.text()).not.toContain(token.split('.')[1]);
  });

  const bad: Array<[string, Parameters<typeof httpEvent>[0], number, string]> = [
    ['malformed JSON', { claims: callerClaims, body: '{"ttlSeconds":' }, 400, 'INVALID_REQUEST'],
    ['a JSON array', { claims: callerClaims, body: '[]' }, 400, 'INVALID_REQUEST'],
    ['a JSON string', { claims: callerClaims, body: '"x"' }, 400, 'INVALID_REQUEST'],
    [
      'the wrong content type',
      { claims: callerClaims, body: 'ttlSeconds=5', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    ],
    [
      'a body over 8 KiB',
      { claims: callerClaims, body: JSON.stringify({ pad: 'x'.repeat(9000) }) },
      413,
      'PAYLOAD_TOO_LARGE',
    ],
    [
      'a base64 body over 8 KiB',
      { claims: callerClaims, body: Buffer.from('x'.repeat(9000)).toString('base64'), isBase64Encoded: true },
      413,
      'PAYLOAD_TOO_LARGE',
    ],
    [
      'invalid UTF-8',
      { claims: callerClaims, body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('base64'), isBase64Encoded: true },
      400,
      'INVALID_REQUEST',
    ],
    ['an unknown field', { claims: callerClaims, body: '{"ttl":5}' }, 400, 'INVALID_REQUEST'],
    ['a caller-chosen sub', { claims: callerClaims, body: '{"sub":"admin"}' }, 400, 'INVALID_REQUEST'],
    ['caller-chosen groups', { claims: callerClaims, body: '{"groups":["Admins"]}' }, 400, 'INVALID_REQUEST'],
    ['a zero ttlSeconds', { claims: callerClaims, body: '{"ttlSeconds":0}' }, 400, 'INVALID_REQUEST'],
    ['a negative ttlSeconds', { claims: callerClaims, body: '{"ttlSeconds":-5}' }, 400, 'INVALID_REQUEST'],
    ['a fractional ttlSeconds', { claims: callerClaims, body: '{"ttlSeconds":1.5}' }, 400, 'INVALID_REQUEST'],
    ['a ttlSeconds over 3600', { claims: callerClaims, body: '{"ttlSeconds":3601}' }, 400, 'INVALID_REQUEST'],
    ['a string ttlSeconds', { claims: callerClaims, body: '{"ttlSeconds":"60"}' }, 400, 'INVALID_REQUEST'],
    ['no caller identity', {}, 401, 'UNAUTHENTICATED'],
    ['a caller with no email', { claims: { sub: 'x', email_verified: 'true' } }, 403, 'IDENTITY_NOT_MAPPABLE'],
    [
      'a caller with an unverified email',
      { claims: { ...callerClaims, email_verified: 'false' } },
      403,
      'IDENTITY_NOT_MAPPABLE',
    ],
  ];

  it.each(bad)('answers %s with a %i problem+json, never a 5xx', async (_case, event, status, code) => {
    const { invoke } = await setup();
    const response = await invoke(httpEvent(event));
    expect(response.statusCode).toBe(status);
    expect(response.headers?.['content-type']).toBe('application/problem+json');
    expect(response.json).toMatchObject({
      status,
      code,
      type: expect.stringMatching(/^urn:qlik-token-vending:error:/),
      title: expect.any(String),
      detail: expect.any(String),
    });
    expect(response.json).not.toHaveProperty('token');
  });

  it('answers 503 with Retry-After and a generic detail when the key cannot be fetched', async () => {
    const { invoke, log } = await setup({
      current: async () => {
        throw new SigningKeyUnavailableError('The signing key could not be fetched from AWS Secrets Manager.', {
          cause: new Error('arn:aws:secretsmanager:eu-west-1:1:secret:x'),
        });
      },
    });
    const response = await invoke(httpEvent({ claims: callerClaims }));
    expect(response.statusCode).toBe(503);
    expect(response.headers).toMatchObject({ 'retry-after': '5' });
    expect(response.json.detail).not.toMatch(/Secrets Manager|arn:/);
    expect(log.text()).toMatch(/SIGNING_KEY_UNAVAILABLE/);
  });

  it('hides the message of an unexpected error behind a generic 500', async () => {
    const { invoke } = await setup({
      current: async () => {
        throw new Error('secret detail: -----BEGIN PRIVATE KEY-----');
      },
    });
    const response = await invoke(httpEvent({ claims: callerClaims }));
    expect(response.statusCode).toBe(500);
    expect(response.json.code).toBe('INTERNAL');
    expect(response.body).not.toMatch(/secret detail|BEGIN/);
  });
});
