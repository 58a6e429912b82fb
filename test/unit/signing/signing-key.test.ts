import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { SigningKeyInvalidError } from '../../../functions/errors.js';
import { createSelfSignedCertificate } from '../../../functions/signing/certificates.js';
import { signCompactJws } from '../../../functions/signing/signer.js';
import { keyThumbprint, signingKeyFromSecret } from '../../../functions/signing/signing-key.js';
import { pkcs1Pem, pkcs8Pem, rsaKeyPair, verifyWithJsonwebtoken } from '../../support/keys.js';

describe('Function: signingKeyFromSecret', () => {
  const { privateKey, publicKey } = rsaKeyPair(2048);

  it.each([
    ['a PKCS#8 PEM', () => pkcs8Pem(privateKey)],
    ['a PKCS#1 PEM', () => pkcs1Pem(privateKey)],
    ['JSON with privateKey', () => JSON.stringify({ privateKey: pkcs8Pem(privateKey) })],
  ])('reads %s and signs RS256 tokens that verify independently', async (_kind, secret) => {
    const key = await signingKeyFromSecret(secret(), { fallbackKid: 'cfg-kid' });
    expect(key).toMatchObject({ alg: 'RS256', kid: 'cfg-kid' });
    const token = await signCompactJws({ sub: 'x' }, key);
    const verified = verifyWithJsonwebtoken(token, publicKey.export({ format: 'pem', type: 'spki' }).toString());
    expect(verified.header).toEqual({ alg: 'RS256', kid: 'cfg-kid', typ: 'JWT' });
    expect(verified.payload).toEqual({ sub: 'x' });
  });

  it('prefers the kid, issuer and certificate stored in the secret', async () => {
    const certificate = await createSelfSignedCertificate({ privateKey });
    const key = await signingKeyFromSecret(
      JSON.stringify({ privateKey: pkcs8Pem(privateKey), kid: 'k-2026', issuer: 'iss-2', certificate }),
      {
        fallbackKid: 'cfg-kid',
      },
    );
    expect(key).toMatchObject({ kid: 'k-2026', issuer: 'iss-2', certificatePem: certificate });
  });

  it('uses the RFC 7638 thumbprint as kid when none is configured', async () => {
    const key = await signingKeyFromSecret(pkcs8Pem(privateKey));
    expect(key.kid).toBe(await keyThumbprint(publicKey));
    expect(key.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('makes a self-signed certificate whose key verifies its tokens', async () => {
    const key = await signingKeyFromSecret(pkcs8Pem(privateKey));
    const certificate = await key.createCertificate!({ commonName: 'test' });
    expect(certificate).toMatch(/^-----BEGIN CERTIFICATE-----/);
    const token = await signCompactJws({ a: 1 }, key);
    expect(verifyWithJsonwebtoken(token, certificate).payload).toEqual({ a: 1 });
  });

  const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const smallRsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
  const encrypted = privateKey
    .export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'pw' })
    .toString();
  const otherCertificate = createSelfSignedCertificate({ privateKey: rsaKeyPair(3072).privateKey });

  it.each([
    ['an EC key', () => pkcs8Pem(ecKey), /accepts RS256 only/],
    ['a 1024-bit RSA key', () => pkcs8Pem(smallRsa), /1024 bits; use 2048 to 4096/],
    ['an encrypted key', () => encrypted, /encrypted with a passphrase/],
    ['random text', () => 'hello', /neither a PEM key nor JSON/],
    ['JSON without the field', () => JSON.stringify({ key: 'x' }), /no string field "privateKey"/],
    [
      'a PEM that is not a key',
      () => '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----',
      /not a PEM private key/,
    ],
    [
      'a blank kid',
      () => JSON.stringify({ privateKey: pkcs8Pem(privateKey), kid: ' ' }),
      /field "kid" must be a non-empty string/,
    ],
  ])('refuses %s with the reason', async (_kind, secret, reason) => {
    const error = await signingKeyFromSecret(secret()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SigningKeyInvalidError);
    expect((error as Error).message).toMatch(reason);
    expect((error as Error).message).not.toMatch(/BEGIN|MII/);
  });

  it('refuses a certificate that belongs to another key', async () => {
    const secret = JSON.stringify({ privateKey: pkcs8Pem(privateKey), certificate: await otherCertificate });
    await expect(signingKeyFromSecret(secret)).rejects.toThrow(/does not belong to the stored private key/);
  });

  it('signs the exact bytes node:crypto verifies (no re-encoding of the signing input)', async () => {
    const key = await signingKeyFromSecret(pkcs8Pem(privateKey), { fallbackKid: 'k' });
    const token = await signCompactJws({ n: 'ü' }, key);
    const [h, p, s] = token.split('.');
    expect(verify('sha256', Buffer.from(`${h}.${p}`), createPublicKey(privateKey), Buffer.from(s!, 'base64url'))).toBe(
      true,
    );
  });
});

describe('Function: keyThumbprint', () => {
  it.each([
    ['RSA 2048', () => generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey],
    ['EC P-384', () => generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey],
  ])('gives the RFC 7638 SHA-256 thumbprint jose gives for a %s key', async (_name, make) => {
    const publicKey = make();
    const expected = await calculateJwkThumbprint(publicKey.export({ format: 'jwk' }) as JWK, 'sha256');
    expect(await keyThumbprint(publicKey)).toBe(expected);
  });

  it('refuses a key type RFC 7638 defines no members for here', async () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    await expect(keyThumbprint(publicKey)).rejects.toThrow(TypeError);
  });
});
