/**
 * The values a tenant admin pastes into Qlik's JWT identity provider, derived from the live
 * signing key (public data only).
 */

import { SigningKeyInvalidError } from '../errors.js';
import { identityProviderRequestBody } from '../qlik/identity-providers.js';
import type { PendingSignerSource } from '../runtime/wiring.js';
import { publicKeyPem } from '../signing/certificates.js';
import type { PublicKeyMaterial } from '../signing/public-material.js';
import type { ActiveSigningKey, SignerSource } from '../signing/signer.js';
import type { PublicMaterialSource } from './public-material-source.js';

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
  /**
   * The key a running rotation staged as AWSPENDING (secrets-manager backend only; absent outside a rotation).
   * Qlik allows one key per JWT IdP, so it needs its own IdP, created before the key is promoted.
   */
  readonly pending?: PendingIdpConfig;
}

/** The pending key's values for a second JWT identity provider. */
export interface PendingIdpConfig {
  readonly issuer: string;
  readonly keyId: string;
  readonly certificate: string;
  readonly identityProviderRequest: Record<string, unknown>;
}

const generatedCertificates = new WeakMap<ActiveSigningKey, Promise<string>>();

/**
 * Describes the current key for Qlik. When no certificate is stored with the key, a self-signed
 * one is made once per key and container: Qlik reads only the public key inside it.
 */
export async function describeIdpConfig(
  signers: SignerSource,
  issuer: string,
  pendingSigners?: PendingSignerSource,
): Promise<IdpConfig> {
  const key = await signers.current();
  const { certificate, certificateSource } = await certificateOf(key, issuer);
  const effectiveIssuer = key.issuer ?? issuer;
  // The pending key is extra information: a failure to read it never fails the page for the current key.
  const pendingKey = await pendingSigners?.pending().catch(() => undefined);
  // After finishSecret the pending version may still carry AWSPENDING next to AWSCURRENT: not "pending" then.
  const pending =
    pendingKey !== undefined && pendingKey.kid !== key.kid ? await describePending(pendingKey, issuer) : undefined;
  return {
    issuer: effectiveIssuer,
    keyId: key.kid,
    algorithm: key.alg,
    certificate,
    certificateSource,
    publicKey: publicKeyPem(key.publicKey),
    identityProviderRequest: identityProviderRequestBody({ kid: key.kid, issuer: effectiveIssuer, certificate }),
    ...(pending !== undefined ? { pending } : {}),
  };
}

async function describePending(key: ActiveSigningKey, issuer: string): Promise<PendingIdpConfig> {
  const { certificate } = await certificateOf(key, issuer);
  const effectiveIssuer = key.issuer ?? issuer;
  return {
    issuer: effectiveIssuer,
    keyId: key.kid,
    certificate,
    identityProviderRequest: identityProviderRequestBody({ kid: key.kid, issuer: effectiveIssuer, certificate }),
  };
}

async function certificateOf(
  key: ActiveSigningKey,
  issuer: string,
): Promise<{ certificate: string; certificateSource: 'stored' | 'generated' }> {
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
  return { certificate, certificateSource };
}

/**
 * Describes the key from its stored public material only (every deployed stack): the function that serves
 * this public route can read neither the private key nor ask KMS to sign (docs/security.md).
 */
export async function describePublicIdpConfig(source: PublicMaterialSource, issuer: string): Promise<IdpConfig> {
  const { current, pending } = await source.get();
  const describe = (key: PublicKeyMaterial) => {
    const effectiveIssuer = key.issuer ?? issuer;
    return {
      issuer: effectiveIssuer,
      keyId: key.kid,
      certificate: key.certificate,
      identityProviderRequest: identityProviderRequestBody({
        kid: key.kid,
        issuer: effectiveIssuer,
        certificate: key.certificate,
      }),
    };
  };
  return {
    ...describe(current),
    // Qlik documents RS256 only; every backend signs Qlik tokens with it.
    algorithm: 'RS256',
    certificateSource: 'stored',
    publicKey: current.publicKey,
    ...(pending !== undefined && pending.kid !== current.kid ? { pending: describe(pending) } : {}),
  };
}
