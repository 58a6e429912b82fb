/**
 * `qtv secret put`, `qtv secret show` and `qtv token --secret-id` against moto (real Secrets Manager API),
 * as subprocesses. What `secret put` writes is read back with the Lambdas' own reader.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSelfSignedCertificate } from '../../functions/signing/certificates.js';
import { signingKeyFromSecret } from '../../functions/signing/signing-key.js';
import { motoEnv, motoSecretsManager, uniqueName } from '../support/aws.js';
import { runQtv, tempDir } from '../support/cli.js';
import { pkcs1Pem, pkcs8Pem, rsaKeyPair, verifyWithJsonwebtoken } from '../support/keys.js';

const ISSUER = 'https://qtv.example.com/secret-test';
let dir: string;
let keyFile: string;
let certFile: string;
let env: Record<string, string>;

beforeAll(async () => {
  dir = tempDir();
  env = motoEnv();
  keyFile = join(dir, 'privatekey.pem');
  certFile = join(dir, 'publickey.cer');
  const { privateKey } = rsaKeyPair(2048);
  writeFileSync(keyFile, pkcs8Pem(privateKey), { mode: 0o600 });
  writeFileSync(
    certFile,
    await createSelfSignedCertificate({ privateKey, commonName: 'qtv secret test', validityDays: 90 }),
  );
});

/** `qtv secret put` arguments storing the test key and certificate under `kid`. */
function putArgs(secretId: string, kid: string): string[] {
  return [
    'secret',
    'put',
    '--secret-id',
    secretId,
    '--key-file',
    keyFile,
    '--cert-file',
    certFile,
    '--issuer',
    ISSUER,
    '--kid',
    kid,
  ];
}

/** Runs `qtv secret put` as a test's preparation; a failed put fails the test here, not later. */
async function putSecret(secretId: string, kid: string): Promise<void> {
  const result = await runQtv(putArgs(secretId, kid), { env });
  expect(result.code, result.stderr).toBe(0);
}

describe.concurrent('Command: qtv secret put / show', () => {
  it('creates the secret in the format the token API reads, then puts a new version on the second run', async () => {
    // Prepare
    const secretId = uniqueName('qtv/cli-put');
    const secondKey = join(tempDir(), 'rsa.pem');
    writeFileSync(secondKey, pkcs1Pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey));
    // Act
    const first = await runQtv([...putArgs(secretId, 'qtv-a'), '--json'], { env });
    const second = await runQtv(
      [
        'secret',
        'put',
        '--secret-id',
        secretId,
        '--key-file',
        secondKey,
        '--issuer',
        ISSUER,
        '--kid',
        'qtv-b',
        '--json',
      ],
      { env },
    );
    // Assess
    expect(first.code, first.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    const firstOut = JSON.parse(first.stdout);
    const secondOut = JSON.parse(second.stdout);
    expect(firstOut).toMatchObject({ created: true, kid: 'qtv-a', issuer: ISSUER, name: secretId });
    expect(secondOut).toMatchObject({ created: false, kid: 'qtv-b', arn: firstOut.arn });
    expect(secondOut.versionId).not.toBe(firstOut.versionId);
    for (const out of [first.stdout, second.stdout]) expect(out).not.toContain('PRIVATE KEY');

    const stored = await motoSecretsManager().send(new GetSecretValueCommand({ SecretId: secretId }));
    const fields = JSON.parse(stored.SecretString ?? '{}');
    expect(Object.keys(fields).sort()).toEqual(['certificate', 'issuer', 'kid', 'privateKey']);
    const key = await signingKeyFromSecret(stored.SecretString ?? '');
    expect(key.kid).toBe('qtv-b');
    expect(key.issuer).toBe(ISSUER);
    // No --cert-file on the second run: a self-signed certificate for the new key was made and stored.
    expect(new X509Certificate(fields.certificate).publicKey.equals(key.publicKey)).toBe(true);
  });

  it('shows ARN, versions with stages, kid, issuer, key size and certificate expiry, never the key', async () => {
    // Prepare
    const secretId = uniqueName('qtv/cli-show');
    await putSecret(secretId, 'qtv-1');
    await putSecret(secretId, 'qtv-2');
    // Act
    const text = await runQtv(['secret', 'show', '--secret-id', secretId], { env });
    const json = await runQtv(['secret', 'show', '--secret-id', secretId, '--json'], { env });
    // Assess
    expect(text.code, text.stderr).toBe(0);
    const certificate = new X509Certificate(readFileSync(certFile));
    expect(text.stdout).toMatch(/^secret: +arn:aws:secretsmanager:eu-west-1:\d+:secret:qtv\/cli-show/m);
    expect(text.stdout).toMatch(/\[AWSCURRENT\]/);
    expect(text.stdout).toMatch(/\[AWSPREVIOUS\]/);
    expect(text.stdout).toContain('key ID:      qtv-2');
    expect(text.stdout).toContain(`issuer:      ${ISSUER}`);
    expect(text.stdout).toContain('RSA 2048 (not shown)');
    expect(text.stdout).toContain(`SHA-256 ${certificate.fingerprint256}`);
    const shown = JSON.parse(json.stdout);
    expect(shown.versions).toHaveLength(2);
    expect(shown.shown).toMatchObject({
      stage: 'AWSCURRENT',
      kid: 'qtv-2',
      bits: 2048,
      certificate: { notAfter: new Date(certificate.validTo).toISOString() },
    });
    const pemBody = pkcs8Pem(rsaKeyPair(2048).privateKey).split('\n')[5] ?? 'x';
    for (const out of [text, json]) {
      expect(out.stdout + out.stderr).not.toContain('PRIVATE KEY');
      expect(out.stdout + out.stderr).not.toContain(pemBody);
    }
  });

  it('mints with --secret-id: issuer and kid come from the secret, the token verifies with the stored certificate', async () => {
    // Prepare
    const secretId = uniqueName('qtv/cli-token');
    await putSecret(secretId, 'qtv-sm');
    // Act
    const result = await runQtv(
      [
        'token',
        '--secret-id',
        secretId,
        '--sub',
        'bob',
        '--name',
        'Bob',
        '--email',
        'bob@example.com',
        '--groups',
        'Finance',
      ],
      { env },
    );
    // Assess
    expect(result.code, result.stderr).toBe(0);
    const { header, payload } = verifyWithJsonwebtoken(result.stdout.trim(), readFileSync(certFile, 'utf8'), {
      issuer: ISSUER,
    });
    expect(header.kid).toBe('qtv-sm');
    expect(payload.groups).toEqual(['Finance']);
  });

  it.each([
    [
      'show of a secret that does not exist',
      () => ['secret', 'show', '--secret-id', uniqueName('qtv/missing')],
      3,
      /^qtv: cannot read secret qtv\/missing-\S+: the secret does not exist \(ResourceNotFoundException\): check --secret-id/,
    ],
    [
      'token from a secret that does not exist',
      () => [
        'token',
        '--secret-id',
        uniqueName('qtv/missing'),
        '--issuer',
        ISSUER,
        '--sub',
        'a',
        '--name',
        'A',
        '--email',
        'a@example.com',
      ],
      3,
      /the secret does not exist/,
    ],
    [
      'put of an EC key',
      () => ['secret', 'put', '--secret-id', uniqueName('qtv/ec'), '--key-file', ecKeyFile(), '--issuer', ISSUER],
      2,
      /is ec, but Qlik Cloud's JWT identity provider accepts RS256 only/,
    ],
    [
      'put of a certificate for another key',
      () => [
        'secret',
        'put',
        '--secret-id',
        uniqueName('qtv/mismatch'),
        '--key-file',
        otherKeyFile(),
        '--cert-file',
        certFile,
        '--issuer',
        ISSUER,
      ],
      2,
      /The stored certificate does not belong to the stored private key/,
    ],
  ])('refuses %s with its exit code and one line', async (_name, args, code, message) => {
    // Act
    const result = await runQtv(args(), { env });
    // Assess
    expect(result.code).toBe(code);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});

function ecKeyFile() {
  const path = join(tempDir(), 'ec.pem');
  writeFileSync(path, pkcs8Pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey));
  return path;
}

function otherKeyFile() {
  const path = join(tempDir(), 'other.pem');
  writeFileSync(path, pkcs8Pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey));
  return path;
}
