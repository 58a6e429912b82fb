/** KMS fixtures for integration tests: keys created in moto, public keys read straight from moto. */
import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  CreateKeyCommand,
  GetPublicKeyCommand,
  type KeySpec,
  type KeyUsageType,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { uniqueName } from './aws.js';

/** Creates a KMS key in moto and returns its ID. */
export async function createKmsKey(
  kms: KMSClient,
  keySpec: KeySpec,
  keyUsage: KeyUsageType = 'SIGN_VERIFY',
): Promise<string> {
  const created = await kms.send(
    new CreateKeyCommand({ KeySpec: keySpec, KeyUsage: keyUsage, Description: uniqueName('qtv-test') }),
  );
  const keyId = created.KeyMetadata?.KeyId;
  if (keyId === undefined) throw new Error('moto returned no key ID');
  return keyId;
}

/** The key's public key as KMS publishes it (read directly, not through the code under test). */
export async function kmsPublicKey(kms: KMSClient, keyId: string): Promise<{ key: KeyObject; pem: string }> {
  const response = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
  const key = createPublicKey({ key: Buffer.from(response.PublicKey ?? []), format: 'der', type: 'spki' });
  return { key, pem: key.export({ format: 'pem', type: 'spki' }).toString() };
}
