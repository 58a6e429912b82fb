/** Makes (once) the dev signing key and certificate under `.local/`. */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSelfSignedCertificate } from '../../functions/signing/certificates.js';

/** Paths of the dev key files. */
export interface DevKeyFiles {
  readonly privateKeyPath: string;
  readonly certificatePath: string;
  readonly created: boolean;
}

/** Ensures `<dir>/dev-signing-key.pem` (RSA 2048, PKCS#8, mode 0600) and its certificate exist. */
export async function ensureDevSigningKey(dir: string): Promise<DevKeyFiles> {
  const privateKeyPath = join(dir, 'dev-signing-key.pem');
  const certificatePath = join(dir, 'dev-signing-cert.pem');
  if (existsSync(privateKeyPath) && existsSync(certificatePath))
    return { privateKeyPath, certificatePath, created: false };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const certificate = await createSelfSignedCertificate({
    privateKey,
    commonName: 'qlik-token-vending dev',
    validityDays: 365,
  });
  writeFileSync(privateKeyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  writeFileSync(certificatePath, certificate);
  return { privateKeyPath, certificatePath, created: true };
}
