/**
 * `qtv keys create`, `qtv keys convert`, `qtv token` and `qtv inspect`, run as subprocesses with
 * real files. Every minted token is verified with jsonwebtoken against the written certificate.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSelfSignedCertificate } from '../../functions/signing/certificates.js';
import { runQtv, tempDir } from '../support/cli.js';
import { pkcs8Pem, rsaKeyPair, verifyWithJsonwebtoken } from '../support/keys.js';

const ISSUER = 'https://qtv.example.com';
const NOW = 1_790_000_000; // 2026-09-21T14:13:20Z: a fixed clock for --now
const mode = (path: string) => statSync(path).mode & 0o777;
const identity = ['--sub', 'alice', '--name', 'Alice Example', '--email', 'alice@example.com'];

let dir: string;
let files: { privateKey: string; publicKey: string; certificate: string };
let createdKid: string;

beforeAll(async () => {
  dir = tempDir();
  const result = await runQtv(['keys', 'create', '--subject', 'qtv test', '--days', '30', '--json'], { cwd: dir });
  expect(result.code, result.stderr).toBe(0);
  const summary = JSON.parse(result.stdout) as { kid: string; files: typeof files };
  createdKid = summary.kid;
  files = {
    privateKey: join(dir, summary.files.privateKey),
    publicKey: join(dir, summary.files.publicKey),
    certificate: join(dir, summary.files.certificate),
  };
});

describe.concurrent('Command: qtv keys create', () => {
  it('writes privatekey.pem (PKCS#8, 0600), publickey.pem and publickey.cer as qs-jwt names them', async () => {
    // Assess
    expect(files.privateKey).toBe(join(dir, 'privatekey.pem'));
    expect(files.publicKey).toBe(join(dir, 'publickey.pem'));
    expect(files.certificate).toBe(join(dir, 'publickey.cer'));
    expect(mode(files.privateKey)).toBe(0o600);
    const pem = readFileSync(files.privateKey, 'utf8');
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const privateKey = createPrivateKey(pem);
    expect(privateKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const certificate = new X509Certificate(readFileSync(files.certificate));
    expect(certificate.subject).toBe('CN=qtv test');
    expect(certificate.publicKey.equals(createPublicKey(privateKey))).toBe(true);
    expect(certificate.checkPrivateKey(privateKey)).toBe(true);
    const days = (Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)) / 86_400_000;
    expect(Math.round(days)).toBe(30);
    expect(createPublicKey(readFileSync(files.publicKey)).equals(createPublicKey(privateKey))).toBe(true);
    // The default kid is the RFC 7638 thumbprint, computed here independently with jose.
    expect(createdKid).toBe(await calculateJwkThumbprint(createPublicKey(privateKey).export({ format: 'jwk' }) as JWK));
  });

  it('refuses to overwrite existing files without --force, and --force rewrites the key with mode 0600', async () => {
    // Prepare
    const own = tempDir();
    expect((await runQtv(['keys', 'create', '--prefix', 'p-', '--kid', 'qtv-2026-11'], { cwd: own })).code).toBe(0);
    const before = readFileSync(join(own, 'p-privatekey.pem'), 'utf8');
    chmodSync(join(own, 'p-privatekey.pem'), 0o644);
    // Act
    const refused = await runQtv(['keys', 'create', '--prefix', 'p-'], { cwd: own });
    const forced = await runQtv(['keys', 'create', '--prefix', 'p-', '--force', '--kid', 'qtv-2026-12'], { cwd: own });
    // Assess
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^qtv: .*p-privatekey\.pem.* already exist: pass --force to overwrite/);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('key ID: qtv-2026-12');
    expect(readFileSync(join(own, 'p-privatekey.pem'), 'utf8')).not.toBe(before);
    expect(mode(join(own, 'p-privatekey.pem'))).toBe(0o600);
  });

  it.each([
    [['--bits', '1024'], /--bits must be one of 2048, 3072, 4096/],
    [['--days', '0'], /--days must be a positive whole number/],
    [['--dir', '/nonexistent/qtv'], /folder \/nonexistent\/qtv does not exist/],
    [['--colour', 'red'], /unknown option --colour.*see qtv keys create --help/],
    [['--keyd', 'x'], /unknown option --keyd: did you mean --keyid\?/],
  ])('refuses %j with exit 2 and one line', async (args, message) => {
    // Act
    const result = await runQtv(['keys', 'create', ...args], { cwd: tempDir() });
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe.concurrent('Command: qtv keys convert', () => {
  it('converts PKCS#8 to PKCS#1 into a 0600 file and prints the thumbprint', async () => {
    // Prepare
    const out = join(tempDir(), 'rsa.pem');
    // Act
    const result = await runQtv(['keys', 'convert', files.privateKey, '--to', 'pkcs1', '--out', out]);
    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`RFC 7638 thumbprint (default key ID): ${createdKid}`);
    const pem = readFileSync(out, 'utf8');
    expect(pem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----/);
    expect(mode(out)).toBe(0o600);
    expect(createPublicKey(pem).equals(createPublicKey(readFileSync(files.privateKey)))).toBe(true);
  });

  it("shows a certificate's SHA-256 fingerprint and turns it into a public JWK", async () => {
    // Act
    const facts = await runQtv(['keys', 'convert', files.certificate, '--json']);
    const jwk = await runQtv(['keys', 'convert', files.certificate, '--to', 'jwk']);
    // Assess
    const certificate = new X509Certificate(readFileSync(files.certificate));
    expect(JSON.parse(facts.stdout)).toMatchObject({
      kind: 'certificate',
      bits: 2048,
      thumbprint: createdKid,
      certificate: { sha256: certificate.fingerprint256, subject: 'CN=qtv test' },
    });
    const parsed = JSON.parse(jwk.stdout) as JWK;
    expect(parsed).toMatchObject({ kty: 'RSA', kid: createdKid, alg: 'RS256', use: 'sig' });
    expect(parsed.d).toBeUndefined();
    expect(createPublicKey({ key: parsed, format: 'jwk' } as never).equals(certificate.publicKey)).toBe(true);
  });

  it('prints private key material only with --private', async () => {
    // Act
    const refused = await runQtv(['keys', 'convert', files.privateKey, '--to', 'pkcs8']);
    const publicOnly = await runQtv(['keys', 'convert', files.privateKey, '--to', 'jwk']);
    const privateJwk = await runQtv(['keys', 'convert', files.privateKey, '--to', 'jwk', '--private']);
    // Assess
    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/prints a private key: add --private to print it, or --out FILE/);
    expect(refused.stderr).not.toContain('PRIVATE KEY-----');
    expect((JSON.parse(publicOnly.stdout) as JWK).d).toBeUndefined();
    const jwk = JSON.parse(privateJwk.stdout) as JWK;
    expect(jwk.d).toBeTypeOf('string');
    expect(
      createPrivateKey({ key: jwk, format: 'jwk' } as never).equals(createPrivateKey(readFileSync(files.privateKey))),
    ).toBe(true);
  });

  it.each([
    ['a missing file', () => join(tempDir(), 'missing.pem'), /^qtv: cannot read .*missing\.pem \(ENOENT\): pass/],
    [
      'an EC key',
      () => writeTemp(pkcs8Pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)),
      /is ec, but Qlik Cloud's JWT identity provider accepts RS256 only/,
    ],
    ['a file that is no key', () => writeTemp('hello'), /holds no PEM key, PEM certificate or JWK/],
  ])('refuses %s with exit 2 and one line', async (_name, makePath, message) => {
    // Act
    const result = await runQtv(['keys', 'convert', makePath()]);
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});

function writeTemp(content: string): string {
  const path = join(tempDir(), 'input.pem');
  writeFileSync(path, content);
  return path;
}

describe.concurrent('Command: qtv token', () => {
  it('mints a token Qlik accepts: groups array, boolean email_verified, kid and issuer as given', async () => {
    // Act
    const result = await runQtv([
      'token',
      '--key-file',
      files.privateKey,
      '--issuer',
      ISSUER,
      '--keyid',
      'qtv-2026-11',
      ...identity,
      '--groups',
      'Sales',
      'Sales EMEA',
      '--expires',
      '10m',
    ]);
    // Assess
    expect(result.code, result.stderr).toBe(0);
    const token = result.stdout.trim();
    const { header, payload } = verifyWithJsonwebtoken(token, readFileSync(files.certificate, 'utf8'), {
      audience: 'qlik.api/login/jwt-session',
      issuer: ISSUER,
    });
    expect(header).toEqual({ alg: 'RS256', kid: 'qtv-2026-11', typ: 'JWT' });
    expect(payload).toMatchObject({
      sub: 'alice',
      subType: 'user',
      name: 'Alice Example',
      email: 'alice@example.com',
      email_verified: true,
      groups: ['Sales', 'Sales EMEA'],
    });
    expect(payload.group).toBeUndefined();
    expect((payload.exp as number) - (payload.nbf as number)).toBe(630);
    expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('takes the key from QTV_PRIVATE_KEY and prints {token, header, payload} with --json at a fixed time', async () => {
    // Act
    const result = await runQtv(['token', '--issuer', ISSUER, ...identity, '--now', String(NOW), '--json'], {
      env: { QTV_PRIVATE_KEY: readFileSync(files.privateKey, 'utf8') },
    });
    // Assess
    expect(result.code, result.stderr).toBe(0);
    const out = JSON.parse(result.stdout) as { token: string; header: object; payload: Record<string, unknown> };
    expect(out.header).toEqual({ alg: 'RS256', kid: createdKid, typ: 'JWT' });
    expect(out.payload).toMatchObject({ iat: NOW, nbf: NOW - 30, exp: NOW + 300, email_verified: true });
    expect(out.payload.groups).toBeUndefined();
    const verified = verifyWithJsonwebtoken(out.token, readFileSync(files.publicKey, 'utf8'), { clockTimestamp: NOW });
    expect(verified.payload).toEqual(out.payload);
  });

  it.each([
    [
      'a qs-jwt lifetime of 365d',
      ['--expires', '365d'],
      /--expires 365d is 31536000 s: Qlik rejects a JWT whose exp - nbf exceeds 3600 s \(60 minutes\); the largest value that works is --expires 60m$/m,
    ],
    [
      '60m with an explicit 30s nbf back-dating',
      ['--expires', '60m', '--not-before-skew', '30s'],
      /exp - nbf 3630 s: Qlik rejects a JWT whose exp - nbf exceeds 3600 s \(60 minutes\); the largest value that works is --expires 3570s/,
    ],
    [
      '61m with no back-dating',
      ['--expires', '61m', '--not-before-skew', '0'],
      /--expires 61m is 3660 s: Qlik rejects a JWT whose exp - nbf exceeds 3600 s .*the largest value that works is --expires 60m/,
    ],
    [
      'an email address Qlik would refuse',
      ['--email', 'notanemail'],
      /^qtv: --email: Qlik requires that email is an email address; Set email to the user's email address\.$/m,
    ],
    [
      '--email-verified false, which Qlik refuses',
      ['--email-verified', 'false'],
      /--email-verified: Qlik requires that email_verified is the boolean true/,
    ],
    [
      'a lifetime that is not a duration',
      ['--expires', 'soon'],
      /--expires "soon" is not a duration: use e.g. 30s, 5m or 1h/,
    ],
    ['--email-verified yes', ['--email-verified', 'yes'], /--email-verified must be true or false/],
  ])('refuses %s with exit 2', async (_name, args, message) => {
    // Act
    const result = await runQtv(['token', '--key-file', files.privateKey, '--issuer', ISSUER, ...identity, ...args]);
    // Assess
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it.each([
    [
      'a missing key file',
      () => ['--key-file', 'nope.pem'],
      /^qtv: cannot read nope\.pem \(ENOENT\): pass --key-file with the path of a PEM private key/,
    ],
    [
      'an EC key',
      () => ['--key-file', writeTemp(pkcs8Pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey))],
      /The signing key is ec, but Qlik Cloud's JWT identity provider accepts RS256 only: use an RSA key/,
    ],
    [
      'a 1024-bit RSA key',
      () => ['--key-file', writeTemp(pkcs8Pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey))],
      /has 1024 bits; use 2048 to 4096 bits/,
    ],
    [
      'no key at all',
      () => [],
      /no signing key: pass --key-file <privatekey\.pem>, --secret-id <secret>, --kms <key-id>, or set QTV_PRIVATE_KEY/,
    ],
    ['two key sources', () => ['--key-file', 'a.pem', '--secret-id', 's'], /pass only one of --key-file, --secret-id/],
  ])('refuses %s with exit 2 and a fix', async (_name, keyArgs, message) => {
    // Act
    const result = await runQtv(['token', '--issuer', ISSUER, ...identity, ...keyArgs()], { cwd: tempDir() });
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe.concurrent('Command: qtv inspect', () => {
  it('passes a minted token read from stdin, every rule listed, signature verified with the certificate', async () => {
    // Prepare
    const token = (
      await runQtv(['token', '--key-file', files.privateKey, '--issuer', ISSUER, '--keyid', 'qtv-1', ...identity])
    ).stdout;
    // Act
    const result = await runQtv(['inspect', '--issuer', ISSUER, '--keyid', 'qtv-1', '--cert', files.certificate], {
      input: token,
    });
    // Assess
    expect(result.code, result.stdout).toBe(0);
    for (const rule of [
      'header.alg',
      'header.kid.matches',
      'claim.iss.matches',
      'claim.aud',
      'claim.nbf.present',
      'claim.lifetime',
      'signature',
    ])
      expect(result.stdout).toMatch(new RegExp(`^PASS  ${rule.replace('.', '\\.')}\\s`, 'm'));
    expect(result.stdout).not.toMatch(/^FAIL/m);
    expect(result.stdout).toContain("ok: Qlik's rules pass and the signature verifies");
    verifyWithJsonwebtoken(token.trim(), readFileSync(files.certificate, 'utf8'));
  });

  it('explains every rule a qs-jwt style token breaks, with fixes, and exits 1', async () => {
    // Prepare: what qs-jwt create-qscloud makes: group (not groups), email_verified as a string, no nbf/jti, 365 days.
    const privateKey = readFileSync(files.privateKey, 'utf8');
    const token = jsonwebtoken.sign(
      {
        sub: 'f3a1',
        subType: 'user',
        name: 'Alice',
        email: 'alice@example.com',
        email_verified: 'true',
        group: ['Sales'],
      },
      privateKey,
      { algorithm: 'RS256', keyid: 'qtv-1', issuer: ISSUER, audience: 'qlik.api/login/jwt-session', expiresIn: '365d' },
    );
    // Act
    const result = await runQtv(['inspect', token, '--cert', files.certificate, '--json']);
    // Assess
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as { ok: boolean; results: { rule: string; ok: boolean; fix?: string }[] };
    expect(report.ok).toBe(false);
    const failed = Object.fromEntries(report.results.filter((r) => !r.ok).map((r) => [r.rule, r.fix]));
    expect(Object.keys(failed).sort()).toEqual([
      'claim.email_verified',
      'claim.group.misnamed',
      'claim.jti',
      'claim.lifetime',
      'claim.nbf.present',
    ]);
    expect(failed['claim.lifetime']).toMatch(/more than 60 minutes/);
    expect(failed['claim.nbf.present']).toMatch(/^nbf is missing: Qlik has required it since June 2022/);
    expect(failed['claim.email_verified']).toMatch(/not the string "true"/);
    expect(failed['claim.group.misnamed']).toMatch(/Rename the "group" claim to "groups"/);
    expect(report.results.find((r) => r.rule === 'signature')?.ok).toBe(true);
  });

  it.each([
    ['an expired token', ['--now', String(NOW + 3600)], 'time.not_expired', /Mint a new token just before using it/],
    [
      'a token signed by another key',
      ['--cert', 'OTHER_CERT'],
      'signature',
      /Sign with the private key whose certificate is on the Qlik JWT identity provider/,
    ],
    [
      'an unexpected issuer',
      ['--issuer', 'https://other.example'],
      'claim.iss.matches',
      /Set iss to "https:\/\/other\.example" exactly/,
    ],
  ])('fails %s with exit 1 and a fix', async (_name, args, rule, fix) => {
    // Prepare
    const token = (
      await runQtv(['token', '--key-file', files.privateKey, '--issuer', ISSUER, ...identity, '--now', String(NOW)])
    ).stdout.trim();
    const otherCert = join(tempDir(), 'other.cer');
    writeFileSync(otherCert, await createSelfSignedCertificate({ privateKey: rsaKeyPair().privateKey }));
    // Act
    const result = await runQtv([
      'inspect',
      token,
      '--now',
      String(NOW),
      ...args.map((a) => (a === 'OTHER_CERT' ? otherCert : a)),
    ]);
    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`^FAIL  ${rule.replaceAll('.', '\\.')}\\s`, 'm'));
    expect(result.stdout).toMatch(fix);
    expect(result.stdout).toContain('Qlik would reject this token');
  });

  it.each([
    ['garbage', 'not-a-token'],
    ['two parts', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0'],
    ['parts that are not JSON', 'aGVsbG8.d29ybGQ.c2ln'],
  ])('refuses %s with exit 2 and one line', async (_name, input) => {
    // Act
    const result = await runQtv(['inspect', input]);
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'qtv: the input is not a compact JWT (three base64url parts holding JSON, joined by dots): pass the token exactly as issued\n',
    );
  });
});
