/**
 * Self-signed X.509 certificates for the Qlik JWT identity provider, which wants a certificate
 * (not a bare key) in its console. Only the public key inside matters to Qlik.
 */
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata polyfill.
import 'reflect-metadata';
import { createPublicKey, type KeyObject, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { JwsAlgorithm, Signer } from './signer.js';

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

/** Options of {@link createCertificateWithSigner}. */
export interface SignerCertificateOptions {
  /** The public key the certificate certifies (it must belong to the signer's key). */
  readonly publicKey: KeyObject;
  /** Makes the certificate's signature; for KMS this is one `Sign` call and the private key stays in KMS. */
  readonly signer: Pick<Signer, 'alg' | 'sign'>;
  /** Common name of subject and issuer. @default 'qlik-token-vending' */
  readonly commonName?: string;
  /** @default 365 */
  readonly validityDays?: number;
  /** Start of validity; default now. */
  readonly notBefore?: Date;
}

/** WebCrypto names of each JWS algorithm, as @peculiar/x509 maps them to certificate signature OIDs. */
const WEBCRYPTO_ALGORITHM: Record<JwsAlgorithm, { name: string; hash: string; namedCurve?: string }> = {
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  RS384: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' },
  RS512: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' },
  ES256: { name: 'ECDSA', hash: 'SHA-256', namedCurve: 'P-256' },
  ES384: { name: 'ECDSA', hash: 'SHA-384', namedCurve: 'P-384' },
};

function randomSerialNumber(): string {
  // 16 random bytes, top bit cleared so the DER INTEGER stays positive without padding.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

/**
 * Creates a PEM self-signed certificate whose signature comes from a {@link Signer}, so the private
 * key never has to be in this process (KMS). @peculiar/x509 builds the TBSCertificate and calls
 * `crypto.subtle.sign` once; we hand it a crypto object whose `sign` is the signer. The signer
 * returns JWS form (`r||s` for ECDSA), which is what WebCrypto returns, so x509's own formatter
 * turns it into the DER `ECDSA-Sig-Value` a certificate carries.
 */
export async function createCertificateWithSigner(options: SignerCertificateOptions): Promise<string> {
  const algorithm = WEBCRYPTO_ALGORITHM[options.signer.alg];
  const signingCrypto = {
    getRandomValues: <T extends ArrayBufferView | null>(array: T) => webcrypto.getRandomValues(array as never) as T,
    subtle: {
      sign: async (_algorithm: unknown, _key: unknown, data: BufferSource) => {
        const bytes = ArrayBuffer.isView(data)
          ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
          : new Uint8Array(data);
        const signature = await options.signer.sign(bytes);
        return signature.slice().buffer;
      },
    },
  } as unknown as Crypto;
  const notBefore = options.notBefore ?? new Date();
  const notAfter = new Date(notBefore.getTime() + (options.validityDays ?? 365) * 86_400_000);
  const name = `CN=${(options.commonName ?? 'qlik-token-vending').replace(/[,=+<>#;"\\]/g, ' ')}`;
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialNumber(),
      subject: name,
      issuer: name,
      notBefore,
      notAfter,
      publicKey: options.publicKey.export({ format: 'der', type: 'spki' }),
      // Only `algorithm` is read from the key; the signing itself goes through signingCrypto.
      signingKey: { algorithm, type: 'private', extractable: false, usages: ['sign'] } as unknown as CryptoKey,
      signingAlgorithm: algorithm,
      extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
    },
    signingCrypto,
  );
  return certificate.toString('pem');
}

/** PEM of a public key, SPKI ("BEGIN PUBLIC KEY"). */
export function publicKeyPem(publicKey: KeyObject): string {
  return publicKey.export({ format: 'pem', type: 'spki' }).toString();
}
