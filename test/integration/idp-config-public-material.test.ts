/**
 * The public-material secret end to end against moto: `qtv secret put --public-secret-id` and
 * `qtv keys cert --kms … --public-secret-id` write it; GET /qlik/idp-config serves it through a runtime whose
 * private-key paths fail on use (Secrets Manager backend) or that has only kms:GetPublicKey to call (KMS).
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/idp-config/handler.js';
import { parseConfig } from '../../functions/runtime/config.js';
import { createRuntime } from '../../functions/runtime/wiring.js';
import { parsePublicMaterial } from '../../functions/signing/public-material.js';
import { motoEnv, motoKms, motoSecretsManager, uniqueName } from '../support/aws.js';
import { runQtv, tempDir } from '../support/cli.js';
import { httpEvent, lambdaContext } from '../support/events.js';
import { pkcs8Pem, rsaKeyPair } from '../support/keys.js';
import { createKmsKey, kmsPublicKey } from '../support/kms.js';
import { capturingLogger } from '../support/logs.js';

const ISSUER = 'https://qtv.example.com/public-material';
const secretsManager = motoSecretsManager();
const kms = motoKms();
let env: Record<string, string>;

beforeAll(() => {
  env = motoEnv();
});
afterAll(() => {
  secretsManager.destroy();
  kms.destroy();
});

/** An empty public-material secret, as the stack creates it. */
async function publicSecret(): Promise<string> {
  const name = uniqueName('qtv/public');
  await secretsManager.send(new CreateSecretCommand({ Name: name, SecretString: 'placeholder' }));
  return name;
}

async function idpConfig(config: Parameters<typeof parseConfig>[0]) {
  const runtime = createRuntime(parseConfig(config), {
    logger: capturingLogger('ERROR').logger,
    secretsManager,
    kms,
    // Any use of the private key fails the request: the public route must not need it.
    signers: { current: () => Promise.reject(new Error('the private key was used')) },
    pendingSigners: null,
  });
  const response = await createHandler(runtime)(
    httpEvent({ method: 'GET', path: '/qlik/idp-config' }),
    lambdaContext(),
  );
  return { status: response?.statusCode, body: JSON.parse(response?.body ?? '{}') };
}

describe('Public key material for /qlik/idp-config', () => {
  it('secrets-manager: qtv secret put --public-secret-id writes it, and /qlik/idp-config serves it without the key', async () => {
    // Prepare
    const dir = tempDir();
    const keyFile = join(dir, 'privatekey.pem');
    const { privateKey } = rsaKeyPair(2048);
    writeFileSync(keyFile, pkcs8Pem(privateKey), { mode: 0o600 });
    const secretId = uniqueName('qtv/private');
    const publicSecretId = await publicSecret();
    // Act
    const put = await runQtv(
      ['secret', 'put', '--secret-id', secretId, '--key-file', keyFile, '--issuer', ISSUER, '--kid', 'qtv-pm-1'].concat(
        ['--public-secret-id', publicSecretId, '--json'],
      ),
      { env },
    );
    const served = await idpConfig({
      qlik: { issuer: 'https://configured.example' },
      signing: { backend: 'secrets-manager', secretId, publicSecretId },
    });
    // Assess
    expect(put.code, put.stderr).toBe(0);
    expect(JSON.parse(put.stdout).publicSecretVersionId).toEqual(expect.any(String));
    const stored = await secretsManager.send(new GetSecretValueCommand({ SecretId: publicSecretId }));
    expect(stored.SecretString).not.toMatch(/PRIVATE KEY/);
    const document = parsePublicMaterial(stored.SecretString ?? '');
    expect(document.current).toMatchObject({ kid: 'qtv-pm-1', issuer: ISSUER });
    expect(served.status).toBe(200);
    expect(served.body).toMatchObject({
      keyId: 'qtv-pm-1',
      issuer: ISSUER,
      algorithm: 'RS256',
      certificateSource: 'stored',
      certificate: document.current.certificate,
    });
    // The certificate holds the stored key's public half.
    expect(new X509Certificate(served.body.certificate).publicKey.equals(createPublicKey(privateKey))).toBe(true);
    expect(createPublicKey(privateKey).export({ format: 'pem', type: 'spki' })).toBe(served.body.publicKey);
  });

  it('kms: qtv keys cert --public-secret-id stores the KMS-signed certificate; /qlik/idp-config needs only GetPublicKey', async () => {
    // Prepare
    const keyId = await createKmsKey(kms, 'RSA_2048');
    const publicSecretId = await publicSecret();
    const out = join(tempDir(), 'publickey.cer');
    // Act
    const cert = await runQtv(
      ['keys', 'cert', '--kms', keyId, '--out', out, '--public-secret-id', publicSecretId, '--issuer', ISSUER],
      { env },
    );
    const served = await idpConfig({
      qlik: { issuer: ISSUER, keyId: 'qtv-kms-1' },
      signing: { backend: 'kms', keyId, publicSecretId },
    });
    // Assess
    expect(cert.code, cert.stderr).toBe(0);
    expect(served.status).toBe(200);
    const { key, pem } = await kmsPublicKey(kms, keyId);
    expect(served.body).toMatchObject({
      keyId: 'qtv-kms-1',
      issuer: ISSUER,
      publicKey: pem,
      certificateSource: 'stored',
    });
    expect(new X509Certificate(served.body.certificate).publicKey.equals(key)).toBe(true);
  });

  it('kms: refuses to serve a stored certificate made for another key', async () => {
    // Prepare: the public material of key A, served for key B.
    const keyA = await createKmsKey(kms, 'RSA_2048');
    const keyB = await createKmsKey(kms, 'RSA_2048');
    const publicSecretId = await publicSecret();
    const cert = await runQtv(
      ['keys', 'cert', '--kms', keyA, '--out', join(tempDir(), 'a.cer'), '--public-secret-id', publicSecretId],
      { env },
    );
    expect(cert.code, cert.stderr).toBe(0);
    // Act
    const served = await idpConfig({
      qlik: { issuer: ISSUER },
      signing: { backend: 'kms', keyId: keyB, publicSecretId },
    });
    // Assess: a server fault (the deployment is wrong), not a certificate that Qlik would use to reject every token.
    expect(served.status).toBeGreaterThanOrEqual(500);
    expect(served.body.certificate).toBeUndefined();
  });
});
