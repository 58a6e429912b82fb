/**
 * Public artefacts of a KMS signing key, for the Qlik IdP and the CLI: a self-signed X.509
 * certificate signed by KMS (the private key never leaves KMS), the PEM public key, and the JWK
 * with its RFC 7638 thumbprint (usable as a `kid`). Each function reads the key once.
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { createCertificateWithSigner, publicKeyPem } from './certificates.js';
import {
  assertKmsKeyCanSign,
  createKmsSigner,
  type KmsJwsAlgorithm,
  type KmsRetryOptions,
  readKmsKeyInfo,
} from './kms-signer.js';

/** Options of {@link kmsCertificate}. */
export interface KmsCertificateOptions {
  /** Common name of subject and issuer. @default 'qlik-token-vending' */
  readonly commonName?: string;
  /** @default 365 */
  readonly validityDays?: number;
  /** Start of validity; default now. */
  readonly notBefore?: Date;
  /** Certificate signature algorithm; default RS256 for RSA keys, ES384 for ECC_NIST_P384. */
  readonly algorithm?: KmsJwsAlgorithm;
  readonly retry?: KmsRetryOptions;
}

/**
 * Makes a PEM self-signed certificate for a KMS key; its signature is one KMS `Sign` call.
 * @example
 * const pem = await kmsCertificate(new KMSClient({}), 'alias/qtv-signing', { commonName: 'qtv', validityDays: 365 });
 */
export async function kmsCertificate(
  client: KMSClient,
  keyId: string,
  options: KmsCertificateOptions = {},
): Promise<string> {
  const info = await readKmsKeyInfo(client, keyId, options.retry);
  const algorithm = options.algorithm ?? (info.keySpec.startsWith('ECC_') ? 'ES384' : 'RS256');
  assertKmsKeyCanSign(info, algorithm, 'client-assertion', keyId);
  const signer = createKmsSigner(client, {
    keyId: info.keyArn,
    alg: algorithm,
    kid: 'certificate',
    ...(options.retry !== undefined ? { retry: options.retry } : {}),
  });
  return createCertificateWithSigner({
    publicKey: info.publicKey,
    signer,
    ...(options.commonName !== undefined ? { commonName: options.commonName } : {}),
    ...(options.validityDays !== undefined ? { validityDays: options.validityDays } : {}),
    ...(options.notBefore !== undefined ? { notBefore: options.notBefore } : {}),
  });
}

/** The SPKI PEM (`BEGIN PUBLIC KEY`) of a KMS key. */
export async function kmsPublicKeyPem(client: KMSClient, keyId: string, retry?: KmsRetryOptions): Promise<string> {
  return publicKeyPem((await readKmsKeyInfo(client, keyId, retry)).publicKey);
}

/** A KMS key's public JWK and its RFC 7638 SHA-256 thumbprint (a content-derived `kid`). */
export async function kmsPublicJwk(
  client: KMSClient,
  keyId: string,
  retry?: KmsRetryOptions,
): Promise<{ jwk: JWK; thumbprint: string }> {
  const info = await readKmsKeyInfo(client, keyId, retry);
  const jwk = info.publicKey.export({ format: 'jwk' }) as JWK;
  return { jwk, thumbprint: await calculateJwkThumbprint(jwk, 'sha256') };
}
