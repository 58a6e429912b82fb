/**
 * `qtv keys cert --kms` and `qtv token --kms` against moto's KMS, as subprocesses: the private key never
 * leaves KMS; tokens are verified with jsonwebtoken against the certificate and against the public key
 * read straight from moto.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { motoEnv, motoKms } from '../support/aws.js';
import { runQtv, tempDir } from '../support/cli.js';
import { verifyWithJsonwebtoken } from '../support/keys.js';
import { createKmsKey, kmsPublicKey } from '../support/kms.js';
import { publicKeyFromPem } from '../support/tenant-emulator/identity-providers.js';

const ISSUER = 'https://qtv.example.com/kms-test';
let env: Record<string, string>;
let rsaKeyId: string;
let eccKeyId: string;

beforeAll(async () => {
  env = motoEnv();
  rsaKeyId = await createKmsKey(motoKms(), 'RSA_2048');
  eccKeyId = await createKmsKey(motoKms(), 'ECC_NIST_P256');
});

describe.concurrent('Command: qtv keys cert / token --kms', () => {
  it('writes a KMS-signed certificate for the key, then mints tokens that verify with it', async () => {
    // Prepare
    const dir = tempDir();
    const out = join(dir, 'publickey.cer');
    // Act
    const cert = await runQtv(
      ['keys', 'cert', '--kms', rsaKeyId, '--subject', 'qtv kms', '--days', '30', '--out', out, '--json'],
      { env },
    );
    const token = await runQtv(
      [
        'token',
        '--kms',
        rsaKeyId,
        '--issuer',
        ISSUER,
        '--keyid',
        'qtv-kms',
        '--sub',
        'carol',
        '--name',
        'Carol',
        '--email',
        'carol@example.com',
      ],
      { env },
    );
    const inspect = await runQtv(
      ['inspect', token.stdout.trim(), '--cert', out, '--issuer', ISSUER, '--keyid', 'qtv-kms'],
      { env },
    );
    // Assess
    expect(cert.code, cert.stderr).toBe(0);
    expect(token.code, token.stderr).toBe(0);
    const pem = readFileSync(out, 'utf8');
    const certificate = new X509Certificate(pem);
    const { key, pem: publicPem } = await kmsPublicKey(motoKms(), rsaKeyId);
    expect(certificate.subject).toBe('CN=qtv kms');
    expect(certificate.publicKey.equals(key)).toBe(true);
    // Self-signed by KMS: the certificate's signature verifies with its own (KMS) public key.
    expect(certificate.verify(key)).toBe(true);
    expect(statSync(out).mode & 0o777).toBe(0o644);
    expect(JSON.parse(cert.stdout).certificate.sha256).toBe(certificate.fingerprint256);
    const verified = verifyWithJsonwebtoken(token.stdout.trim(), pem, { issuer: ISSUER });
    expect(verified.header).toEqual({ alg: 'RS256', kid: 'qtv-kms', typ: 'JWT' });
    verifyWithJsonwebtoken(token.stdout.trim(), publicPem);
    expect(inspect.code, inspect.stdout).toBe(0);
  });

  it('prints the IdP body for a KMS key, with a KMS-signed certificate, kid = thumbprint by default', async () => {
    // Act
    const result = await runQtv(['idp', 'config', '--kms', rsaKeyId, '--issuer', ISSUER, '--json'], { env });
    const facts = await runQtv(['keys', 'cert', '--kms', rsaKeyId, '--out', join(tempDir(), 'c.cer'), '--json'], {
      env,
    });
    // Assess
    expect(result.code, result.stderr).toBe(0);
    const body = JSON.parse(result.stdout) as {
      options: { issuer: string; staticKeys: { kid: string; pem: string }[] };
    };
    expect(body.options.issuer).toBe(ISSUER);
    expect(body.options.staticKeys[0]?.kid).toBe(JSON.parse(facts.stdout).kid);
    const { key } = await kmsPublicKey(motoKms(), rsaKeyId);
    // Qlik's automation example: "pem must be on a single line"; re-wrapped here to parse it.
    const pem = body.options.staticKeys[0]?.pem ?? '';
    expect(pem).not.toMatch(/[\r\n]/);
    expect(publicKeyFromPem(pem).equals(key)).toBe(true);
  });

  it.each([
    [
      'token with an ECC key',
      () => ['token', '--kms', eccKeyId, '--issuer', ISSUER, '--sub', 'a', '--name', 'A', '--email', 'a@example.com'],
      2,
      /is ECC_NIST_P256, but Qlik Cloud's JWT identity provider accepts RS256 only/,
    ],
    [
      'a certificate for an ECC key',
      () => ['keys', 'cert', '--kms', eccKeyId, '--out', join(tempDir(), 'x.cer')],
      2,
      /is ECC_NIST_P256/,
    ],
    [
      'a key that does not exist',
      () => [
        'token',
        '--kms',
        '11111111-2222-3333-4444-555555555555',
        '--issuer',
        ISSUER,
        '--sub',
        'a',
        '--name',
        'A',
        '--email',
        'a@example.com',
      ],
      2,
      /KMS refused GetPublicKey on 11111111-2222-3333-4444-555555555555 \(NotFoundException\): check the key ID/,
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
