/**
 * qs-jwt's habits in `qtv` (issue 14): its `create-qscloud` command and flags as aliases, its documented
 * Qlik Cloud examples run with only the expiry changed, lifetimes that Qlik's 60-minute rule allows,
 * "did you mean", and `qtv inspect` reading what users paste. Every result is judged by `qtv inspect`
 * and verified with jsonwebtoken against the written certificate.
 *
 * The examples are qs-jwt's own (ptarmiganlabs/qs-jwt-docs, docs/guide/qscloud-examples.md, modes 1-3),
 * kept verbatim (placeholder issuer and key ID included) except `--expires 365d`, which Qlik refuses.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runQtv, tempDir } from '../support/cli.js';
import { verifyWithJsonwebtoken } from '../support/keys.js';

const QS_ISSUER = '<your-tenant>.eu.qlikcloud.com';
const QS_KEYID = '<your-key-id>';
const anna = [
  '--username',
  'Anna Anderson',
  '--useremail',
  'anna@grusgrus.com',
  '--useremail-verified',
  'true',
  '--issuer',
  QS_ISSUER,
  '--keyid',
  QS_KEYID,
];

let keyDir: string;

beforeAll(async () => {
  keyDir = tempDir();
  const made = await runQtv(['keys', 'create'], { cwd: keyDir });
  expect(made.code, made.stderr).toBe(0);
});

async function inspectPasses(token: string, cwd: string, certificate: string) {
  const result = await runQtv(
    ['inspect', token, '--cert', certificate, '--issuer', QS_ISSUER, '--keyid', QS_KEYID, '--json'],
    { cwd },
  );
  expect(result.code, result.stdout + result.stderr).toBe(0);
  return JSON.parse(result.stdout) as { payload: Record<string, unknown>; ok: boolean };
}

describe.concurrent("Command: qtv create-qscloud (qs-jwt's documented Cloud examples, expiry changed)", () => {
  it('mode 1, --cert-privatekey-file: a token qtv inspect passes, sub = the email, groups as an array', async () => {
    // Act
    const result = await runQtv(
      [
        'create-qscloud',
        ...anna,
        '--expires',
        '30m',
        '--cert-privatekey-file',
        './privatekey.pem',
        '--groups',
        'group1',
        'group 2',
      ],
      { cwd: keyDir },
    );
    // Assess
    expect(result.code, result.stderr).toBe(0);
    const token = result.stdout.trim();
    const { payload } = await inspectPasses(token, keyDir, 'publickey.cer');
    expect(payload).toMatchObject({
      sub: 'anna@grusgrus.com',
      name: 'Anna Anderson',
      email: 'anna@grusgrus.com',
      email_verified: true,
      groups: ['group1', 'group 2'],
    });
    expect((payload.exp as number) - (payload.nbf as number)).toBe(1830);
    verifyWithJsonwebtoken(token, readFileSync(join(keyDir, 'publickey.pem'), 'utf8'));
  });

  it('mode 2, --cert-privatekey "$QSJWTPRIVKEY": the key given as a value signs the same way', async () => {
    // Prepare
    const pem = readFileSync(join(keyDir, 'privatekey.pem'), 'utf8');
    // Act
    const result = await runQtv(
      ['create-qscloud', ...anna, '--expires', '60m', '--cert-privatekey', pem, '--groups', 'group1', 'group 2'],
      { cwd: keyDir },
    );
    // Assess
    expect(result.code, result.stderr).toBe(0);
    const { payload } = await inspectPasses(result.stdout.trim(), keyDir, 'publickey.cer');
    expect((payload.exp as number) - (payload.nbf as number)).toBe(3600);
  });

  it('mode 3, --cert-create true with prefix and days: writes the three files and signs with the new key', async () => {
    // Prepare
    const dir = tempDir();
    // Act
    const result = await runQtv(
      [
        'create-qscloud',
        ...anna,
        '--expires',
        '1h',
        '--cert-create',
        'true',
        '--cert-create-expires-days',
        '400',
        '--cert-file-prefix',
        'qsjwt_',
        '--groups',
        'group1',
        'group 2',
      ],
      { cwd: dir },
    );
    // Assess
    expect(result.code, result.stderr).toBe(0);
    for (const file of ['qsjwt_privatekey.pem', 'qsjwt_publickey.pem', 'qsjwt_publickey.cer'])
      expect(existsSync(join(dir, file)), file).toBe(true);
    expect(statSync(join(dir, 'qsjwt_privatekey.pem')).mode & 0o777).toBe(0o600);
    const { payload } = await inspectPasses(result.stdout.trim(), dir, 'qsjwt_publickey.cer');
    expect((payload.exp as number) - (payload.nbf as number)).toBe(3600);
    const days =
      (Date.parse(
        execFileSync('openssl', ['x509', '-enddate', '-noout', '-in', join(dir, 'qsjwt_publickey.cer')])
          .toString()
          .replace('notAfter=', ''),
      ) -
        Date.now()) /
      86_400_000;
    expect(Math.round(days)).toBe(400);
  });

  it("refuses qs-jwt's documented --expires 365d with the rule and the largest value that works, writing no files", async () => {
    // Prepare
    const dir = tempDir();
    // Act
    const result = await runQtv(['create-qscloud', ...anna, '--expires', '365d', '--cert-create', 'true'], {
      cwd: dir,
    });
    // Assess
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim()).toBe(
      'qtv: --expires 365d is 31536000 s: Qlik rejects a JWT whose exp - nbf exceeds 3600 s (60 minutes); the largest value that works is --expires 60m',
    );
    expect(existsSync(join(dir, 'privatekey.pem'))).toBe(false);
  });
});

describe.concurrent('Command: qtv token (advertised lifetimes and qs-jwt aliases)', () => {
  it.each([
    ['1h', 3600],
    ['60m', 3600],
    ['59m', 3570],
    ['5m', 330],
  ])('--expires %s works: exp - nbf is %i s and qtv inspect passes', async (expires, lifetime) => {
    // Act
    const minted = await runQtv(
      [
        'token',
        '--cert-privatekey-file',
        'privatekey.pem',
        '--kid',
        QS_KEYID,
        '--issuer',
        QS_ISSUER,
        '--sub',
        'a',
        '--username',
        'A',
        '--useremail',
        'a@example.com',
        '--expires',
        expires,
      ],
      { cwd: keyDir },
    );
    // Assess
    expect(minted.code, minted.stderr).toBe(0);
    const { payload } = await inspectPasses(minted.stdout.trim(), keyDir, 'publickey.cer');
    expect((payload.exp as number) - (payload.nbf as number)).toBe(lifetime);
  });

  it('says "did you mean" for a misspelt flag and for a misspelt command', async () => {
    // Act
    const flag = await runQtv(['token', '--usremail', 'a@example.com']);
    const command = await runQtv(['create-qscluod']);
    // Assess
    expect(flag.code).toBe(2);
    expect(flag.stderr).toBe('qtv: unknown option --usremail: did you mean --email? (see qtv token --help)\n');
    expect(command.code).toBe(2);
    expect(command.stderr).toMatch(/^qtv: unknown command "create-qscluod": did you mean qtv create-qscloud\?/);
  });
});

describe.concurrent('Command: qtv inspect (what users paste)', () => {
  it.each([
    ['the JSON body of POST /qlik/jwt', (t: string) => JSON.stringify({ token: t, expiresIn: 300, keyId: QS_KEYID })],
    ['a Bearer token', (t: string) => `Bearer ${t}`],
    ['an Authorization header line', (t: string) => `Authorization: Bearer ${t}\n`],
  ])('accepts %s on stdin', async (_name, wrap) => {
    // Prepare
    const minted = await runQtv(
      [
        'token',
        '--key-file',
        'privatekey.pem',
        '--keyid',
        QS_KEYID,
        '--issuer',
        QS_ISSUER,
        '--sub',
        'a',
        '--name',
        'A',
        '--email',
        'a@example.com',
      ],
      { cwd: keyDir },
    );
    expect(minted.code, minted.stderr).toBe(0);
    // Act
    const result = await runQtv(['inspect', '--cert-file', 'publickey.cer'], {
      cwd: keyDir,
      input: wrap(minted.stdout.trim()),
    });
    // Assess
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/ok: Qlik's rules pass and the signature verifies/);
  });

  it('refuses an error body with a fix instead of "not a JWT"', async () => {
    // Act
    const result = await runQtv(['inspect'], { input: '{"type":"about:blank","status":401,"code":"UNAUTHENTICATED"}' });
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/the JSON input has no "token" string: pass the body POST \/qlik\/jwt returned/);
  });
});

describe('Repository: keys written by qtv in the repository root', () => {
  it('are ignored by git, so keys create / create-qscloud leave no untracked key behind', () => {
    // Act
    const ignored = execFileSync(
      'git',
      ['check-ignore', 'privatekey.pem', 'publickey.pem', 'publickey.cer', 'qsjwt_privatekey.pem'],
      {
        cwd: resolve(import.meta.dirname, '../..'),
      },
    ).toString();
    // Assess
    expect(ignored.trim().split('\n')).toEqual([
      'privatekey.pem',
      'publickey.pem',
      'publickey.cer',
      'qsjwt_privatekey.pem',
    ]);
  });
});
