import { generateKeyPairSync, sign } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { describe, expect, it } from 'vitest';
import { FixedClock } from '../../../functions/runtime/clock.js';
import {
  assertKmsKeyCanSign,
  classifyKmsError,
  createKmsSigner,
  type KmsKeyInfo,
  kmsSignerSource,
  withKmsRetry,
} from '../../../functions/signing/kms-signer.js';

/** An SDK-shaped service error. */
function sdkError(name: string, httpStatusCode: number, extra: object = {}) {
  return Object.assign(new Error(name), { name, $metadata: { httpStatusCode }, ...extra });
}

/** A fake timeline: sleep advances "now" instead of waiting. */
function fakeTime() {
  let now = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
  };
}

describe('Function: classifyKmsError', () => {
  it.each([
    ['ThrottlingException', 400, 'throttled'],
    ['KMSInternalException', 500, 'transient'],
    ['InternalFailure', 503, 'transient'],
    ['DependencyTimeoutException', 503, 'transient'],
    ['DisabledException', 400, 'disabled'],
    ['KMSInvalidStateException', 400, 'disabled'],
    ['AccessDeniedException', 400, 'access-denied'],
    ['NotFoundException', 400, 'invalid'],
    ['InvalidKeyUsageException', 400, 'invalid'],
    ['ValidationException', 400, 'invalid'],
    ['SomethingNew', 400, 'other'],
  ])('sorts %s (%i) as %s', (name, status, fault) => {
    expect(classifyKmsError(sdkError(name, status))).toBe(fault);
  });

  it('treats an error with no HTTP answer (connection refused) as transient', () => {
    expect(classifyKmsError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(
      'transient',
    );
  });
});

describe('Function: withKmsRetry', () => {
  it('retries throttling with jittered, growing waits and returns the later success', async () => {
    // Prepare
    const time = fakeTime();
    let calls = 0;
    // Act
    const result = await withKmsRetry(
      'Sign',
      'key-1',
      async () => {
        calls++;
        if (calls < 3) throw sdkError('ThrottlingException', 400);
        return 'signed';
      },
      { ...time, random: () => 0.5, baseDelayMs: 100, budgetMs: 10_000 },
    );
    // Assess
    expect(result).toBe('signed');
    expect(calls).toBe(3);
    expect(time.sleeps).toEqual([50, 100]);
  });

  it('gives up with 503 SIGNING_BACKEND_THROTTLED and Retry-After when throttling lasts', async () => {
    const time = fakeTime();
    let calls = 0;
    const failure = withKmsRetry(
      'Sign',
      'key-1',
      async () => {
        calls++;
        throw sdkError('ThrottlingException', 400);
      },
      { ...time, random: () => 0.99, maxAttempts: 3 },
    );
    await expect(failure).rejects.toMatchObject({
      code: 'SIGNING_BACKEND_THROTTLED',
      status: 503,
      retryAfterSeconds: 1,
    });
    expect(calls).toBe(3);
  });

  it('stops early when the next wait would overrun the time budget', async () => {
    const time = fakeTime();
    let calls = 0;
    const failure = withKmsRetry(
      'Sign',
      'key-1',
      async () => {
        calls++;
        throw sdkError('KMSInternalException', 500);
      },
      { ...time, random: () => 0.99, baseDelayMs: 400, budgetMs: 500, maxAttempts: 10 },
    );
    await expect(failure).rejects.toMatchObject({ code: 'SIGNING_KEY_UNAVAILABLE', status: 503 });
    // 396 ms fits the 500 ms budget; the next wait (792 ms) does not.
    expect(calls).toBe(2);
    expect(time.sleeps).toEqual([396]);
  });

  it.each([
    ['DisabledException', 'SIGNING_KEY_DISABLED'],
    ['AccessDeniedException', 'SIGNING_KEY_ACCESS_DENIED'],
    ['InvalidKeyUsageException', 'SIGNING_KEY_INVALID'],
    ['NotFoundException', 'SIGNING_KEY_INVALID'],
  ])('does not retry %s and reports %s (500)', async (name, code) => {
    const time = fakeTime();
    let calls = 0;
    const failure = withKmsRetry(
      'Sign',
      'key-1',
      async () => {
        calls++;
        throw sdkError(name, 400);
      },
      time,
    );
    await expect(failure).rejects.toMatchObject({ code, status: 500 });
    expect(calls).toBe(1);
  });
});

function info(overrides: Partial<KmsKeyInfo> = {}): KmsKeyInfo {
  return {
    keyArn: 'arn:aws:kms:eu-west-1:123456789012:key/k',
    keySpec: 'RSA_2048',
    keyUsage: 'SIGN_VERIFY',
    signingAlgorithms: ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PKCS1_V1_5_SHA_512'],
    publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
    ...overrides,
  };
}

describe('Function: assertKmsKeyCanSign', () => {
  it.each([
    ['RSA_2048', 'RS256', 'qlik-jwt'],
    ['RSA_3072', 'RS256', 'qlik-jwt'],
    ['RSA_4096', 'RS256', 'qlik-jwt'],
    ['RSA_4096', 'RS512', 'client-assertion'],
  ] as const)('accepts %s for %s (%s)', (keySpec, alg, purpose) => {
    expect(() => assertKmsKeyCanSign(info({ keySpec }), alg, purpose, 'k')).not.toThrow();
  });

  it('accepts ECC_NIST_P384 for ES384 client assertions', () => {
    expect(() =>
      assertKmsKeyCanSign(
        info({ keySpec: 'ECC_NIST_P384', signingAlgorithms: ['ECDSA_SHA_384'] }),
        'ES384',
        'client-assertion',
        'k',
      ),
    ).not.toThrow();
  });

  it.each([
    ['an EC key for Qlik JWTs', info({ keySpec: 'ECC_NIST_P384' }), 'RS256', 'qlik-jwt', /accepts RS256 only/],
    ['an ENCRYPT_DECRYPT key', info({ keyUsage: 'ENCRYPT_DECRYPT' }), 'RS256', 'qlik-jwt', /key usage ENCRYPT_DECRYPT/],
    ['ES384 configured for Qlik JWTs', info(), 'ES384', 'qlik-jwt', /RS256 only/],
    ['an RSA key for ES384', info(), 'ES384', 'client-assertion', /ECC_NIST_P384/],
    ['an EC P-256 key for ES384', info({ keySpec: 'ECC_NIST_P256' }), 'ES384', 'client-assertion', /ECC_NIST_P384/],
    [
      'a key without the signing algorithm',
      info({ signingAlgorithms: ['RSASSA_PSS_SHA_256'] }),
      'RS256',
      'qlik-jwt',
      /does not offer/,
    ],
  ] as const)('refuses %s with the reason', (_name, keyInfo, alg, purpose, reason) => {
    let thrown: unknown;
    try {
      assertKmsKeyCanSign(keyInfo, alg, purpose, 'k');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'SIGNING_KEY_INVALID', status: 500, message: expect.stringMatching(reason) });
  });
});

describe('Function: createKmsSigner', () => {
  it('sends one Sign per signature with MessageType RAW and the KMS algorithm of the JWS algorithm', async () => {
    // moto treats DIGEST like RAW, so only the request itself can show which one we send.
    const kmsMock = mockClient(KMSClient);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    kmsMock.on(SignCommand).callsFake(async (input: { Message: Uint8Array }) => ({
      Signature: sign('sha384', input.Message, privateKey),
    }));
    const signer = createKmsSigner(new KMSClient({ region: 'eu-west-1' }), { keyId: 'k', alg: 'ES384', kid: 'kid' });
    const signature = await signer.sign(Buffer.from('header.payload'));
    const calls = kmsMock.commandCalls(SignCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.args[0].input).toMatchObject({
      KeyId: 'k',
      MessageType: 'RAW',
      SigningAlgorithm: 'ECDSA_SHA_384',
    });
    expect(Buffer.from(calls[0]?.args[0].input.Message ?? [])).toEqual(Buffer.from('header.payload'));
    expect(signature).toHaveLength(96);
    kmsMock.restore();
  });
});

describe('Function: kmsSignerSource', () => {
  const ecPublicKeyDer = () =>
    generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'der', type: 'spki' });

  it('reads the key once, serves a refusal without asking KMS again, and reads again after the recheck time', async () => {
    // Prepare
    const kmsMock = mockClient(KMSClient);
    kmsMock.on(GetPublicKeyCommand).resolves({ KeyId: 'arn:k', KeyUsage: 'SIGN_VERIFY', PublicKey: ecPublicKeyDer() });
    const clock = new FixedClock(1_000_000);
    const errors: string[] = [];
    const source = kmsSignerSource(new KMSClient({ region: 'eu-west-1' }), {
      keyId: 'k',
      clock,
      recheckAfterMs: 60_000,
      logger: { error: (message) => errors.push(message) },
    });

    // Act + Assess
    await expect(source.current()).rejects.toMatchObject({ code: 'SIGNING_KEY_INVALID' });
    await expect(source.current()).rejects.toMatchObject({ code: 'SIGNING_KEY_INVALID' });
    expect(kmsMock.commandCalls(GetPublicKeyCommand)).toHaveLength(1);
    expect(errors).toEqual(['KMS signing key refused']);
    clock.advance(60_000);
    await expect(source.current()).rejects.toMatchObject({ code: 'SIGNING_KEY_INVALID' });
    expect(kmsMock.commandCalls(GetPublicKeyCommand)).toHaveLength(2);
    kmsMock.restore();
  });

  it('does not cache a transient failure: the next caller reads the key again', async () => {
    const kmsMock = mockClient(KMSClient);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'der', type: 'spki' });
    kmsMock
      .on(GetPublicKeyCommand)
      .rejectsOnce(sdkError('KMSInternalException', 500))
      .resolves({ KeyId: 'arn:k', KeyUsage: 'SIGN_VERIFY', PublicKey: rsa });
    const errors: string[] = [];
    const source = kmsSignerSource(new KMSClient({ region: 'eu-west-1' }), {
      keyId: 'k',
      kid: 'kid-1',
      retry: { maxAttempts: 1 },
      logger: { error: (message) => errors.push(message) },
    });
    await expect(source.current()).rejects.toMatchObject({ code: 'SIGNING_KEY_UNAVAILABLE', status: 503 });
    const key = await source.current();
    expect(key).toMatchObject({ alg: 'RS256', kid: 'kid-1' });
    expect(await source.current()).toBe(key);
    expect(kmsMock.commandCalls(GetPublicKeyCommand)).toHaveLength(2);
    expect(errors).toEqual(['KMS signing key not reachable']);
    kmsMock.restore();
  });
});
