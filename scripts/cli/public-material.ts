/**
 * Writes a signing key's public material (functions/signing/public-material.ts) to the stack's
 * public-material secret, the only thing the public `/qlik/idp-config` function may read.
 */
import type { KeyObject } from 'node:crypto';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { publicKeyMaterial, serializePublicMaterial } from '../../functions/signing/public-material.js';
import { awsError, secretsManagerClient } from './key-source.js';

/** Puts `{current: {kid, issuer?, publicKey, certificate}}` as a new AWSCURRENT version; returns its version ID. */
export async function putPublicMaterial(options: {
  readonly secretId: string;
  readonly region: string | undefined;
  readonly kid: string;
  readonly publicKey: KeyObject;
  readonly certificate: string;
  readonly issuer?: string;
}): Promise<string | undefined> {
  const current = publicKeyMaterial(options);
  try {
    const out = await secretsManagerClient(options.region).send(
      new PutSecretValueCommand({ SecretId: options.secretId, SecretString: serializePublicMaterial({ current }) }),
    );
    return out.VersionId;
  } catch (error) {
    throw awsError(error, `cannot store the public key material in ${options.secretId}`);
  }
}
