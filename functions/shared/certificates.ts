/**
 * Self-signed X.509 certificates for the Qlik JWT identity provider, which wants a certificate
 * (not a bare key) in its console. Only the public key inside matters to Qlik.
 */
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata polyfill.
import 'reflect-metadata';
import { createPublicKey, type KeyObject, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/** What goes into a self-signed certificate. */
export interface SelfSignedCertificateOptions {
  readonly privateKey: KeyObject;
  /** Common name of subject and issuer. @default 'qlik-token-vending' */
  readonly commonName?: string;
  /** @default 365 */
  readonly validityDays?: number;
  /** Start of validity; default now. */
  readonly notBefore?: Date;
}

/** Creates a PEM self-signed certificate (RSA, SHA-256) for an RSA private key. */
export async function createSelfSignedCertificate(options: SelfSignedCertificateOptions): Promise<string> {
  const algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const pkcs8 = options.privateKey.export({ format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(options.privateKey).export({ format: 'der', type: 'spki' });
  const privateKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, algorithm, false, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('spki', spki, algorithm, true, ['verify']);
  const notBefore = options.notBefore ?? new Date();
  const notAfter = new Date(notBefore.getTime() + (options.validityDays ?? 365) * 86_400_000);
  const name = `CN=${(options.commonName ?? 'qlik-token-vending').replace(/[,=+<>#;"\\]/g, ' ')}`;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: webcrypto
      .getRandomValues(new Uint8Array(16))
      .reduce((s, b) => s + b.toString(16).padStart(2, '0'), '')
      .replace(/^[89a-f]/, '1'),
    name,
    notBefore,
    notAfter,
    signingAlgorithm: algorithm,
    keys: { privateKey, publicKey } as CryptoKeyPair,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
  });
  return certificate.toString('pem');
}

/** PEM of a public key, SPKI ("BEGIN PUBLIC KEY"). */
export function publicKeyPem(publicKey: KeyObject): string {
  return publicKey.export({ format: 'pem', type: 'spki' }).toString();
}
