/**
 * The values a tenant admin pastes into Qlik's JWT identity provider, derived from the live
 * signing key (public data only).
 */
import { publicKeyPem } from '../shared/certificates.js';
import { SigningKeyInvalidError } from '../shared/errors.js';
import type { ActiveSigningKey, SignerSource } from '../shared/signer.js';

/** Response body of `GET /qlik/idp-config`. */
export interface IdpConfig {
  readonly issuer: string;
  readonly keyId: string;
  readonly algorithm: string;
  /** PEM certificate for the console's "Certificate" field. */
  readonly certificate: string;
  /** Where the certificate came from: stored beside the key, or made here from the public key. */
  readonly certificateSource: 'stored' | 'generated';
  readonly publicKey: string;
  /** Body for `POST https://<tenant>/api/v1/identity-providers`. */
  readonly identityProviderRequest: Record<string, unknown>;
}

const generatedCertificates = new WeakMap<ActiveSigningKey, Promise<string>>();

/**
 * Describes the current key for Qlik. When no certificate is stored with the key, a self-signed
 * one is made once per key and container: Qlik reads only the public key inside it.
 */
export async function describeIdpConfig(signers: SignerSource, issuer: string): Promise<IdpConfig> {
  const key = await signers.current();
  let certificate = key.certificatePem;
  const certificateSource = certificate === undefined ? 'generated' : 'stored';
  if (certificate === undefined) {
    let pending = generatedCertificates.get(key);
    if (pending === undefined) {
      if (key.createCertificate === undefined) {
        throw new SigningKeyInvalidError(
          `No certificate is stored with key ${key.kid}, and this backend cannot make one.`,
        );
      }
      pending = key.createCertificate({ commonName: issuer });
      generatedCertificates.set(key, pending);
    }
    certificate = await pending;
  }
  const effectiveIssuer = key.issuer ?? issuer;
  return {
    issuer: effectiveIssuer,
    keyId: key.kid,
    algorithm: key.alg,
    certificate,
    certificateSource,
    publicKey: publicKeyPem(key.publicKey),
    identityProviderRequest: {
      provider: 'external',
      protocol: 'jwtAuth',
      interactive: false,
      active: true,
      description: `qlik-token-vending key ${key.kid}`,
      options: {
        jwtLoginEnabled: true,
        issuer: effectiveIssuer,
        staticKeys: [{ kid: key.kid, pem: certificate.trim() }],
      },
    },
  };
}
