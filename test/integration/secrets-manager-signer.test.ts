import { CreateSecretCommand, DeleteSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { checkQlikToken, qlikRejections } from '../../functions/qlik/claims.js';
import { createHandler } from '../../functions/qlik-jwt/handler.js';
import { FixedClock } from '../../functions/runtime/clock.js';
import { parseConfig } from '../../functions/runtime/config.js';
import { createRuntime } from '../../functions/runtime/wiring.js';
import { SecretsManagerStore } from '../../functions/secrets/secret-source.js';
import { motoSecretsManager, uniqueName } from '../support/aws.js';
import { httpEvent, lambdaContext } from '../support/events.js';
import { pkcs1Pem, pkcs8Pem, rsaKeyPair, verifyWithJsonwebtoken } from '../support/keys.js';
import { capturingLogger } from '../support/logs.js';

const spki = (bits: 2048 | 3072 | 4096) =>
  rsaKeyPair(bits).publicKey.export({ format: 'pem', type: 'spki' }).toString();
const caller = { sub: 'u-1', name: 'Ada', email: 'ada@example.com', email_verified: 'true' };

async function createSecret(value: string) {
  const client = motoSecretsManager();
  const name = uniqueName('qtv-signing-key');
  await client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  return { client, name };
}

function runtimeFor(
  secretId: string,
  client: ReturnType<typeof motoSecretsManager>,
  clock = new FixedClock(Date.now()),
  cacheTtlSeconds = 300,
) {
  const config = parseConfig({
    qlik: { issuer: 'https://qtv.example', keyId: 'cfg-kid' },
    signing: { backend: 'secrets-manager', secretId, cacheTtlSeconds },
  });
  const log = capturingLogger();
  return { runtime: createRuntime(config, { clock, logger: log.logger, secretsManager: client }), log, clock };
}

async function mint(runtime: ReturnType<typeof createRuntime>) {
  const result = await createHandler(runtime)(httpEvent({ claims: caller }), lambdaContext());
  return { status: result.statusCode, body: JSON.parse(result.body ?? '{}') as Record<string, unknown> };
}

describe('Adapter: Secrets Manager signing key (against moto server)', () => {
  it.each([
    ['a PKCS#8 PEM string', 2048, () => pkcs8Pem(rsaKeyPair(2048).privateKey)],
    ['a PKCS#1 PEM string', 3072, () => pkcs1Pem(rsaKeyPair(3072).privateKey)],
    [
      'JSON with privateKey and kid',
      4096,
      () => JSON.stringify({ privateKey: pkcs8Pem(rsaKeyPair(4096).privateKey), kid: 'json-kid' }),
    ],
  ] as const)(
    'mints Qlik tokens from %s (RSA %i) that verify with an independent library',
    async (_kind, bits, value) => {
      // Prepare
      const { client, name } = await createSecret(value());
      const { runtime, clock } = runtimeFor(name, client);
      // Act
      const { status, body } = await mint(runtime);
      // Assess
      expect(status).toBe(200);
      const { header, payload } = verifyWithJsonwebtoken(body.token as string, spki(bits), {
        clockTimestamp: clock.nowMs() / 1000,
      });
      expect(header.kid).toBe(bits === 4096 ? 'json-kid' : 'cfg-kid');
      expect(
        qlikRejections(
          checkQlikToken(header, payload, { issuer: 'https://qtv.example', nowSeconds: clock.nowMs() / 1000 }),
        ),
      ).toEqual([]);
    },
  );

  it('picks up a secret updated behind a warm cache once the TTL passes, and not before', async () => {
    // Prepare
    const { client, name } = await createSecret(
      JSON.stringify({ privateKey: pkcs8Pem(rsaKeyPair(2048).privateKey), kid: 'old' }),
    );
    const { runtime, clock } = runtimeFor(name, client, new FixedClock(Date.now()), 60);
    expect((await mint(runtime)).body.keyId).toBe('old');
    await client.send(
      new PutSecretValueCommand({
        SecretId: name,
        SecretString: JSON.stringify({ privateKey: pkcs8Pem(rsaKeyPair(3072).privateKey), kid: 'new' }),
      }),
    );
    // Act + Assess: still cached
    clock.advance(59_000);
    expect((await mint(runtime)).body.keyId).toBe('old');
    // Act + Assess: TTL passed
    clock.advance(1_000);
    const after = await mint(runtime);
    expect(after.body.keyId).toBe('new');
    verifyWithJsonwebtoken(after.body.token as string, spki(3072), { clockTimestamp: clock.nowMs() / 1000 });
  });

  it('keeps signing with the cached key when the secret becomes unreadable after warm-up', async () => {
    // Prepare: warm the cache, then make every later GetSecretValue fail for real (moto: ResourceNotFound).
    const { client, name } = await createSecret(pkcs8Pem(rsaKeyPair(2048).privateKey));
    const { runtime, log, clock } = runtimeFor(name, client, new FixedClock(Date.now()), 1);
    expect((await mint(runtime)).status).toBe(200);
    await client.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }));
    await expect(new SecretsManagerStore(client).fetch(name)).rejects.toThrow();
    // Act
    clock.advance(5_000);
    const again = await mint(runtime);
    // Assess
    expect(again.status).toBe(200);
    verifyWithJsonwebtoken(again.body.token as string, spki(2048), { clockTimestamp: clock.nowMs() / 1000 });
    expect(log.text()).toMatch(/"servingStale":true/);
    expect(log.text()).not.toMatch(/BEGIN PRIVATE KEY/);
  });

  it('answers 503 with Retry-After when the key cannot be fetched on a cold start', async () => {
    const { runtime, log } = runtimeFor('no-such-secret', motoSecretsManager('http://127.0.0.1:9'));
    const { status, body } = await mint(runtime);
    expect(status).toBe(503);
    expect(body.code).toBe('SIGNING_KEY_UNAVAILABLE');
    expect(log.text()).toMatch(/signing key refresh failed/);
  });

  it('answers a generic 500 for a secret that holds no usable key, and logs the reason without the value', async () => {
    const ec = (await import('node:crypto')).generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const pem = pkcs8Pem(ec);
    const { client, name } = await createSecret(pem);
    const { runtime, log } = runtimeFor(name, client);
    const { status, body } = await mint(runtime);
    expect(status).toBe(500);
    expect(body.code).toBe('SIGNING_KEY_INVALID');
    expect(JSON.stringify(body)).not.toMatch(/RS256|elliptic|BEGIN/);
    expect(log.text()).toMatch(/accepts RS256 only/);
    expect(log.text()).not.toContain(pem.split('\n')[1]);
  });
});
