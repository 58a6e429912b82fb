/**
 * The one JWS assembler: a key-object signer's token verifies, a signer copied with a different `sign` (a
 * wrapper, a stub) is always called, and the header follows the signer's kid. Guards for any per-token
 * shortcut in signer.ts (the bench and the load stub `sign` this way).
 */
import { generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createKeyObjectSigner,
  type Signer,
  signCompactJws,
  signCompactJwsNow,
} from '../../../functions/signing/signer.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

function parts(token: string) {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')),
    signingInput: Buffer.from(`${header}.${payload}`),
    signature: Buffer.from(signature, 'base64url'),
  };
}

describe('signCompactJws', () => {
  it("signs a key-object signer's token so that it verifies, with the header and payload as given", async () => {
    // Prepare
    const signer = createKeyObjectSigner(privateKey, 'kid-1', 'RS256');

    // Act
    const token = parts(await signCompactJws({ sub: 'ünïcode', n: 1 }, signer));

    // Assess
    expect(token.header).toEqual({ alg: 'RS256', kid: 'kid-1', typ: 'JWT' });
    expect(token.payload).toEqual({ sub: 'ünïcode', n: 1 });
    expect(verify('sha256', token.signingInput, publicKey, token.signature)).toBe(true);
  });

  it('calls the sign of a signer copied from a key-object signer with its own sign, and no other', async () => {
    // Prepare
    const real = createKeyObjectSigner(privateKey, 'kid-1', 'RS256');
    const seen: Uint8Array[] = [];
    const wrapped: Signer = {
      ...real,
      sign: async (input) => {
        seen.push(input);
        return Uint8Array.from([1, 2, 3]);
      },
    };

    // Act
    const token = parts(await signCompactJws({ sub: 'a' }, wrapped));

    // Assess
    expect(seen).toHaveLength(1);
    expect(Buffer.from(seen[0]!).equals(token.signingInput)).toBe(true);
    expect([...token.signature]).toEqual([1, 2, 3]);
  });

  it('uses a changed kid of the same signer object in the next header', async () => {
    // Prepare
    const signer = { ...createKeyObjectSigner(privateKey, 'kid-1', 'RS256') };
    await signCompactJws({}, signer);

    // Act
    (signer as { kid: string }).kid = 'kid-2';
    const token = parts(await signCompactJws({}, signer));

    // Assess
    expect(token.header.kid).toBe('kid-2');
  });

  it('signs the same token without a promise for a key-object signer, and refuses any other signer', async () => {
    // Prepare
    const real = createKeyObjectSigner(privateKey, 'kid-1', 'RS256');
    const wrapped: Signer = { ...real, sign: async (input) => real.sign(input) };
    const payload = { sub: 'ünïcode', exp: 1 };

    // Act
    const now = signCompactJwsNow(payload, real);
    const awaited = await signCompactJws(payload, real);
    const refused = signCompactJwsNow(payload, wrapped);

    // Assess: RS256 (PKCS#1 v1.5) is deterministic, so the same key and input give the same bytes.
    expect(now).toBe(awaited);
    expect(refused).toBeUndefined();
  });
});
