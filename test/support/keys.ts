/** Key and token fixtures, plus an independent verifier (jsonwebtoken) so no test checks the signer only against itself. */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import jsonwebtoken from 'jsonwebtoken';

const cache = new Map<string, { privateKey: KeyObject; publicKey: KeyObject }>();

/** An RSA key pair, generated once per size per test file. */
export function rsaKeyPair(bits: 2048 | 3072 | 4096 = 2048) {
  const key = `rsa${bits}`;
  let pair = cache.get(key);
  if (!pair) {
    pair = generateKeyPairSync('rsa', { modulusLength: bits });
    cache.set(key, pair);
  }
  return pair;
}

/** PKCS#8 PEM of a private key. */
export const pkcs8Pem = (key: KeyObject) => key.export({ format: 'pem', type: 'pkcs8' }).toString();
/** PKCS#1 PEM of an RSA private key. */
export const pkcs1Pem = (key: KeyObject) => key.export({ format: 'pem', type: 'pkcs1' }).toString();

/**
 * Verifies an RS256 token with jsonwebtoken (a second, independent library) against a PEM public
 * key or certificate, and returns header and payload. Throws when the signature is wrong.
 */
export function verifyWithJsonwebtoken(
  token: string,
  publicKeyOrCertificatePem: string,
  options: jsonwebtoken.VerifyOptions = {},
) {
  const decoded = jsonwebtoken.verify(token, publicKeyOrCertificatePem, {
    algorithms: ['RS256'],
    complete: true,
    ...options,
  });
  return decoded as { header: Record<string, unknown>; payload: Record<string, unknown> };
}

/** Decodes header and payload without verifying (for assertions on shape). */
export function decodeJwt(token: string) {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h ?? '', 'base64url').toString()) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p ?? '', 'base64url').toString()) as Record<string, unknown>,
  };
}
