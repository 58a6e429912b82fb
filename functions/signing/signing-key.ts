/**
 * Turns a stored key (PEM, or JSON with a PEM field) into a ready signing key, validating that
 * Qlik can use it. Runs when a secret's version changes, never per request.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { SigningKeyInvalidError } from '../errors.js';
import { type ActiveSigningKey, createKeyObjectSigner } from './signer.js';

/** Smallest and largest RSA modulus we accept: Qlik's guides use 2048–4096. */
export const MIN_RSA_BITS = 2048;
export const MAX_RSA_BITS = 4096;

/** Fields of a JSON key secret (what `qtv secret put` and the rotation function write). */
export interface KeySecretFields {
  readonly privateKey: string;
  readonly kid?: string;
  readonly issuer?: string;
  readonly certificate?: string;
}

/** Options for reading a key secret. */
export interface ParseKeyOptions {
  /** JSON field with the PEM (default `privateKey`). */
  readonly jsonField?: string;
  /** Key ID to use when the secret names none (the configured `qlik.keyId`). */
  readonly fallbackKid?: string;
}

/**
 * Parses and validates a PEM RSA private key (PKCS#8 or PKCS#1) for RS256.
 * @throws SigningKeyInvalidError with the reason, never with key material.
 */
export function parseRsaPrivateKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    // OpenSSL reports a missing passphrase as "interrupted or cancelled"; the PEM label is the reliable sign.
    const reason = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(pem)
      ? 'it is encrypted with a passphrase'
      : 'it is not a PEM private key';
    throw new SigningKeyInvalidError(
      `The signing key cannot be read: ${reason}. Store an unencrypted PKCS#8 or PKCS#1 PEM RSA key.`,
    );
  }
  assertQlikCompatible(key);
  return key;
}

/** Throws unless `key` is an RSA key of 2048–4096 bits (Qlik accepts RS256 only). */
export function assertQlikCompatible(key: KeyObject): void {
  if (key.asymmetricKeyType !== 'rsa') {
    throw new SigningKeyInvalidError(
      `The signing key is ${key.asymmetricKeyType ?? 'not asymmetric'}, but Qlik Cloud's JWT identity provider accepts RS256 only: use an RSA key.`,
    );
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
    throw new SigningKeyInvalidError(
      `The RSA signing key has ${bits} bits; use ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits.`,
    );
  }
}

/**
 * RFC 7638 SHA-256 thumbprint of an RSA or EC public key: a stable, content-derived key ID. Computed
 * here rather than with jose so the token functions' bundles need no jose (issue #15); §3.2: the
 * required members only, in lexicographic order, no whitespace, hashed as UTF-8.
 */
export async function keyThumbprint(publicKey: KeyObject): Promise<string> {
  const jwk = publicKey.export({ format: 'jwk' });
  const members =
    jwk.kty === 'RSA'
      ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
      : jwk.kty === 'EC'
        ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
        : undefined;
  if (members === undefined) throw new TypeError(`no RFC 7638 thumbprint for a ${String(jwk.kty)} key`);
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

function readSecretFields(secret: string, jsonField: string): KeySecretFields {
  const text = secret.trim();
  if (text.startsWith('-----BEGIN')) return { privateKey: text };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SigningKeyInvalidError(`The key secret is neither a PEM key nor JSON with a "${jsonField}" field.`);
  }
  if (typeof parsed !== 'object' || parsed === null) {
    throw new SigningKeyInvalidError(`The key secret is JSON but not an object with a "${jsonField}" field.`);
  }
  const record = parsed as Record<string, unknown>;
  const pem = record[jsonField];
  if (typeof pem !== 'string')
    throw new SigningKeyInvalidError(`The key secret's JSON has no string field "${jsonField}".`);
  const optional = (name: string) => {
    const value = record[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value.trim() === '') {
      throw new SigningKeyInvalidError(`The key secret's field "${name}" must be a non-empty string.`);
    }
    return value.trim();
  };
  return { privateKey: pem, kid: optional('kid'), issuer: optional('issuer'), certificate: optional('certificate') };
}

/**
 * Builds an RS256 signing key from a stored secret: a PEM, or JSON `{privateKey, kid?, issuer?, certificate?}`.
 * The key ID is the secret's `kid`, else `fallbackKid`, else the key's RFC 7638 thumbprint.
 * @throws SigningKeyInvalidError when the key or certificate is unusable.
 */
export async function signingKeyFromSecret(secret: string, options: ParseKeyOptions = {}): Promise<ActiveSigningKey> {
  const fields = readSecretFields(secret, options.jsonField ?? 'privateKey');
  const privateKey = parseRsaPrivateKey(fields.privateKey);
  const publicKey = createPublicKey(privateKey);
  if (fields.certificate !== undefined) assertCertificateMatches(fields.certificate, publicKey);
  const kid = fields.kid ?? options.fallbackKid ?? (await keyThumbprint(publicKey));
  return {
    ...createKeyObjectSigner(privateKey, kid, 'RS256'),
    publicKey,
    // Loaded lazily, and only in bundles that make certificates (runtime/bundle-flags.ts): certificate
    // code (x509, its ASN.1 stack, tsyringe) stays out of the token routes entirely.
    ...(typeof QTV_BUNDLE_CERTIFICATES === 'undefined' || QTV_BUNDLE_CERTIFICATES
      ? {
          createCertificate: async (certOptions?: { commonName?: string; validityDays?: number }) =>
            (await import('./certificates.js')).createSelfSignedCertificate({ privateKey, ...certOptions }),
        }
      : {}),
    ...(fields.certificate !== undefined ? { certificatePem: fields.certificate } : {}),
    ...(fields.issuer !== undefined ? { issuer: fields.issuer } : {}),
  };
}

/** Throws unless `certificatePem` certifies `publicKey`. */
export function assertCertificateMatches(certificatePem: string, publicKey: KeyObject): void {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificatePem);
  } catch {
    throw new SigningKeyInvalidError('The stored certificate is not a PEM X.509 certificate.');
  }
  if (!certificate.publicKey.equals(publicKey)) {
    throw new SigningKeyInvalidError('The stored certificate does not belong to the stored private key.');
  }
}
