/**
 * The hot-path promise behind the vend benchmark, asserted directly: after the first request a token
 * costs no PEM parse, no key import and no secret fetch, however many tokens follow.
 */
import * as nodeCrypto from 'node:crypto';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHandler } from '../../../functions/qlik-jwt/handler.js';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { parseConfig } from '../../../functions/runtime/config.js';
import { createRuntime } from '../../../functions/runtime/wiring.js';
import { httpEvent, lambdaContext } from '../../support/events.js';
import { pkcs8Pem, rsaKeyPair, verifyWithJsonwebtoken } from '../../support/keys.js';
import { capturingLogger } from '../../support/logs.js';

// Counts every private-key parse our modules make; the real function still does the work.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, default: actual, createPrivateKey: vi.fn(actual.createPrivateKey) };
});

const { privateKey, publicKey } = rsaKeyPair(2048);
const publicPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
const caller = { sub: 'user-7', name: 'Ada', email: 'ada@example.com', email_verified: 'true', groups: ['Sales'] };

/** A Secrets Manager client that answers GetSecretValue from memory and counts the calls. */
function countingSecretsManager(secretString: string) {
  const calls: string[] = [];
  const client = {
    send: async (command: { constructor: { name: string } }) => {
      calls.push(command.constructor.name);
      return { SecretString: secretString, VersionId: 'v1', $metadata: {} };
    },
    middlewareStack: { add: () => {}, use: () => {} },
    config: {},
  };
  return { client: client as unknown as SecretsManagerClient, calls };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('Hot path: POST /qlik/jwt', () => {
  it('parses the key once and fetches the secret once for 200 tokens, then once more per TTL with no new parse', async () => {
    // Prepare
    const clock = new FixedClock(Date.now());
    const secretsManager = countingSecretsManager(pkcs8Pem(privateKey));
    const config = parseConfig({
      qlik: { issuer: 'https://qtv.example', keyId: 'hot-path' },
      signing: { backend: 'secrets-manager', secretId: 'qtv/signing-key', cacheTtlSeconds: 300 },
    });
    const runtime = createRuntime(config, {
      clock,
      logger: capturingLogger().logger,
      secretsManager: secretsManager.client,
    });
    const handler = createHandler(runtime);
    const parses = vi.mocked(nodeCrypto.createPrivateKey);
    const importKey = vi.spyOn(globalThis.crypto.subtle, 'importKey');
    const mint = async () => {
      const response = await handler(httpEvent({ claims: caller }), lambdaContext());
      expect(response.statusCode).toBe(200);
      return JSON.parse(response.body ?? '{}').token as string;
    };
    parses.mockClear();

    // Act: the first request warms the cache
    verifyWithJsonwebtoken(await mint(), publicPem);
    const parsesAfterWarmUp = parses.mock.calls.length;
    const fetchesAfterWarmUp = secretsManager.calls.length;
    const tokens: string[] = [];
    for (let i = 0; i < 200; i++) tokens.push(await mint());

    // Assess
    expect(parsesAfterWarmUp).toBe(1);
    expect(fetchesAfterWarmUp).toBe(1);
    expect(parses.mock.calls.length).toBe(parsesAfterWarmUp);
    expect(secretsManager.calls.length).toBe(fetchesAfterWarmUp);
    expect(importKey).not.toHaveBeenCalled();
    expect(new Set(tokens).size).toBe(200);
    verifyWithJsonwebtoken(tokens.at(-1)!, publicPem, { clockTimestamp: clock.nowMs() / 1000 });

    // Act: past the TTL the same version comes back
    clock.advance(301_000);
    await mint();

    // Assess: asked again, not parsed again
    expect(secretsManager.calls).toEqual(['GetSecretValueCommand', 'GetSecretValueCommand']);
    expect(parses.mock.calls.length).toBe(parsesAfterWarmUp);
  });
});
