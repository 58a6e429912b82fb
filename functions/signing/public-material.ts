/**
 * The signing key's public material (key ID, issuer, public key, certificate), stored apart from the private
 * key so that the public `GET /qlik/idp-config` function can serve it without any power to sign: it reads
 * this document, never the private key secret, and on the KMS backend calls only `kms:GetPublicKey`.
 *
 * Written when a key is set up (`qtv secret put --public-secret-id`) or rotated (the rotation function
 * stages the new key as `pending` in createSecret and promotes it in finishSecret). docs/security.md.
 *
 * Uses node:crypto's X509Certificate only (no @peculiar/x509), so reading it costs nothing at cold start.
 */
import { createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { SigningKeyInvalidError } from '../errors.js';

/** One key's public facts. */
export interface PublicKeyMaterial {
  readonly kid: string;
  /** Issuer stored with the key; absent means the configured `qlik.issuer`. */
  readonly issuer?: string;
  /** SPKI PEM. */
  readonly publicKey: string;
  /** PEM X.509 certificate holding `publicKey` (what Qlik's console wants). */
  readonly certificate: string;
}

/** The stored document: the current key, and the key a running rotation has staged. */
export interface PublicMaterialDocument {
  readonly current: PublicKeyMaterial;
  readonly pending?: PublicKeyMaterial;
}

function material(value: unknown, where: string): PublicKeyMaterial {
  const record = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const text = (name: string) => {
    const v = record[name];
    if (typeof v !== 'string' || v === '')
      throw new SigningKeyInvalidError(`The public key material (${where}) has no "${name}".`);
    return v;
  };
  const kid = text('kid');
  const certificate = text('certificate');
  const publicKey = text('publicKey');
  let certified: KeyObject;
  try {
    certified = new X509Certificate(certificate).publicKey;
  } catch {
    throw new SigningKeyInvalidError(`The public key material (${where}) holds no PEM X.509 certificate.`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(publicKey);
  } catch {
    throw new SigningKeyInvalidError(`The public key material (${where}) holds no PEM public key.`);
  }
  if (!certified.equals(key))
    throw new SigningKeyInvalidError(
      `The certificate in the public key material (${where}) is not for its public key.`,
    );
  const issuer = typeof record.issuer === 'string' && record.issuer !== '' ? record.issuer : undefined;
  return { kid, publicKey, certificate, ...(issuer !== undefined ? { issuer } : {}) };
}

/**
 * Parses and checks a stored document (each certificate must hold its public key).
 * @throws SigningKeyInvalidError naming what is missing or wrong.
 */
export function parsePublicMaterial(text: string): PublicMaterialDocument {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SigningKeyInvalidError(
      'The public key material is not JSON: write it with `qtv secret put --public-secret-id` (docs/deploy.md).',
    );
  }
  const record = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const current = material(record.current, 'current');
  const pending =
    record.pending === undefined || record.pending === null ? undefined : material(record.pending, 'pending');
  return { current, ...(pending !== undefined ? { pending } : {}) };
}

/** The JSON to store. */
export function serializePublicMaterial(document: PublicMaterialDocument): string {
  return JSON.stringify(document);
}

/** The public facts of a key: its SPKI PEM from `publicKey`. */
export function publicKeyMaterial(options: {
  kid: string;
  publicKey: KeyObject;
  certificate: string;
  issuer?: string;
}): PublicKeyMaterial {
  return {
    kid: options.kid,
    publicKey: options.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    certificate: options.certificate,
    ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
  };
}
