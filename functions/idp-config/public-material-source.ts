/**
 * Where `GET /qlik/idp-config` reads the signing key's public facts when `signing.publicSecretId` is set
 * (every deployed stack sets it): the public-material secret, and on the KMS backend `kms:GetPublicKey`.
 * Neither needs, nor may use, the private key secret or `kms:Sign` (docs/security.md).
 */
import { createPublicKey as createKey } from 'node:crypto';
import type { KMSClient } from '@aws-sdk/client-kms';
import { SigningKeyInvalidError } from '../errors.js';
import { describeErrorForLog } from '../http/lambda-http.js';
import type { Clock } from '../runtime/clock.js';
import { CachedSecret, type SecretStore } from '../secrets/secret-source.js';
import { type KmsRetryOptions, readKmsKeyInfo } from '../signing/kms-signer.js';
import { type PublicMaterialDocument, parsePublicMaterial } from '../signing/public-material.js';
import { keyThumbprint } from '../signing/signing-key.js';

/** Yields the current (and pending) public key material. */
export interface PublicMaterialSource {
  get(): Promise<PublicMaterialDocument>;
}

/** The public-material secret, cached like the key (TTL, stale on error, one fetch in flight). */
export function secretPublicMaterialSource(options: {
  readonly store: SecretStore;
  readonly secretId: string;
  readonly ttlMs: number;
  readonly clock: Clock;
  readonly logger: { warn(message: string, extra: Record<string, unknown>): void };
}): PublicMaterialSource {
  const cache = new CachedSecret<PublicMaterialDocument>({
    store: options.store,
    secretId: options.secretId,
    ttlMs: options.ttlMs,
    clock: options.clock,
    transform: async (value) => parsePublicMaterial(value),
    onRefreshError: (error, servingStale) =>
      options.logger.warn('public key material refresh failed', { servingStale, ...describeErrorForLog(error) }),
  });
  return { get: () => cache.get() };
}

/**
 * KMS backend: the public key from `kms:GetPublicKey` (read once per container: a key's public key never
 * changes), the certificate from the public-material secret, which must certify that very key.
 */
export function kmsPublicMaterialSource(
  client: KMSClient,
  options: { readonly keyId: string; readonly kid?: string; readonly retry?: KmsRetryOptions },
  stored: PublicMaterialSource,
): PublicMaterialSource {
  let info: ReturnType<typeof readKmsKeyInfo> | undefined;
  return {
    async get() {
      info ??= readKmsKeyInfo(client, options.keyId, options.retry);
      const key = await info.catch((error: unknown) => {
        info = undefined;
        throw error;
      });
      const document = await stored.get();
      const publicKey = key.publicKey.export({ format: 'pem', type: 'spki' }).toString();
      if (!key.publicKey.equals(createKey(document.current.publicKey)))
        throw new SigningKeyInvalidError(
          'The stored certificate is not for the KMS signing key: store the certificate made from this key (docs/kms.md).',
        );
      const kid = options.kid ?? (await keyThumbprint(key.publicKey));
      return { current: { ...document.current, kid, publicKey } };
    },
  };
}
