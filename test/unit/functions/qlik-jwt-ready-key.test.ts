/**
 * The per-token path without a promise on the way (issue #15): when the signer source holds its key fresh
 * in memory (`SignerSource.ready`) and the key signs in this process, `vendQlikJwt` takes neither an await
 * nor `current()`; in every other case (first request, key past its TTL, a KMS or wrapped signer) it waits
 * as before. The token is the same either way.
 */
import { describe, expect, it, vi } from 'vitest';
import { resolveIdentityMapping } from '../../../functions/identity/mapping.js';
import { vendQlikJwt } from '../../../functions/qlik-jwt/core.js';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { parseConfig } from '../../../functions/runtime/config.js';
import { secretSignerSource } from '../../../functions/runtime/wiring.js';
import { MemorySecretStore } from '../../../functions/secrets/secret-source.js';
import type { ActiveSigningKey, SignerSource } from '../../../functions/signing/signer.js';
import { signingKeyFromSecret } from '../../../functions/signing/signing-key.js';
import { pkcs8Pem, rsaKeyPair, verifyWithJsonwebtoken } from '../../support/keys.js';
import { capturingLogger } from '../../support/logs.js';

const { privateKey, publicKey } = rsaKeyPair(2048);
const publicPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
const caller = { sub: 'user-7', name: 'Ada', email: 'ada@example.com', email_verified: true, groups: ['Sales'] };
const config = parseConfig({
  qlik: { issuer: 'https://qtv.example', keyId: 'ready-kid' },
  signing: { backend: 'file', privateKeyPath: 'unused' },
});
const clock = new FixedClock(Date.now());

function deps(signers: SignerSource) {
  return { signers, clock, identity: resolveIdentityMapping(config.identity), qlik: config.qlik };
}

/**
 * How many microtask turns the promise takes to settle: 1 when the async function returned without
 * awaiting anything, more for each await inside.
 */
async function turnsToSettle(promise: Promise<unknown>): Promise<number> {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  for (let turns = 1; turns <= 20; turns++) {
    await null;
    if (settled) return turns;
  }
  return Number.POSITIVE_INFINITY;
}

describe('vendQlikJwt with a key the source holds ready', () => {
  it('signs with the ready key without calling current() and settles without an await inside', async () => {
    // Prepare
    const key = await signingKeyFromSecret(pkcs8Pem(privateKey), { fallbackKid: 'ready-kid' });
    const current = vi.fn(async () => key);
    const signers: SignerSource = { current, ready: () => key };

    // Act
    const vended = vendQlikJwt(caller, {}, deps(signers));
    const turns = await turnsToSettle(vended);
    const { token } = await vended;

    // Assess
    expect(current).not.toHaveBeenCalled();
    expect(turns).toBe(1);
    expect(verifyWithJsonwebtoken(token, publicPem).payload).toMatchObject({ sub: 'user-7', groups: ['Sales'] });
  });

  it('asks current() when the source holds no fresh key', async () => {
    // Prepare
    const key = await signingKeyFromSecret(pkcs8Pem(privateKey), { fallbackKid: 'ready-kid' });
    const current = vi.fn(async () => key);
    const signers: SignerSource = { current, ready: () => undefined };

    // Act
    const { token } = await vendQlikJwt(caller, {}, deps(signers));

    // Assess
    expect(current).toHaveBeenCalledTimes(1);
    expect(verifyWithJsonwebtoken(token, publicPem).header.kid).toBe('ready-kid');
  });

  it('awaits the sign of a ready key that does not sign in this process (a KMS or wrapped signer)', async () => {
    // Prepare
    const real = await signingKeyFromSecret(pkcs8Pem(privateKey), { fallbackKid: 'ready-kid' });
    const remoteSign = vi.fn(async (input: Uint8Array) => real.sign(input));
    const remote: ActiveSigningKey = { ...real, sign: remoteSign };
    const signers: SignerSource = { current: async () => remote, ready: () => remote };

    // Act
    const { token } = await vendQlikJwt(caller, {}, deps(signers));

    // Assess
    expect(remoteSign).toHaveBeenCalledTimes(1);
    expect(() => verifyWithJsonwebtoken(token, publicPem)).not.toThrow();
  });
});

describe('secretSignerSource: ready()', () => {
  it('holds nothing before the first fetch, the key while it is fresh, and nothing again past its TTL', async () => {
    // Prepare
    const sourceClock = new FixedClock(Date.UTC(2026, 10, 26, 12));
    const source = secretSignerSource({
      store: new MemorySecretStore({ 'qtv/key': pkcs8Pem(privateKey) }),
      secretId: 'qtv/key',
      ttlMs: 60_000,
      clock: sourceClock,
      logger: capturingLogger().logger,
      fallbackKid: 'ready-kid',
    });

    // Act
    const beforeFetch = source.ready?.();
    const fetched = await source.current();
    const whileFresh = source.ready?.();
    sourceClock.advance(60_000);
    const pastTtl = source.ready?.();

    // Assess
    expect(beforeFetch).toBeUndefined();
    expect(whileFresh).toBe(fetched);
    expect(pastTtl).toBeUndefined();
  });
});
