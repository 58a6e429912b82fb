/**
 * The packed package, installed as a user would outside the repository (issue 14): `npm pack` (its
 * `prepack` bundles the CLI), `npm install -g <tarball>` into a temporary prefix, then `qtv` from an
 * empty folder: --help, keys create, token, inspect, and qs-jwt's create-qscloud line; and
 * `npx --package=<tarball> qtv`. The tarball holds no TypeScript: the bin runs the bundle with plain Node.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/cli.js';
import { startMotoServer } from '../support/moto-server.js';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');

let tarball: string;
let prefix: string;
let env: NodeJS.ProcessEnv;

/** Runs a command (stdin closed) with the temporary prefix's bin first on PATH; resolves with its exit code. */
function sh(command: string, args: string[], cwd: string, extraEnv: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
    const child = spawn(command, args, { cwd, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  const packDir = tempDir('qtv-pack-');
  prefix = tempDir('qtv-prefix-');
  env = {
    PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? ''}`,
    HOME: process.env.HOME ?? packDir,
  };
  const packed = await run('npm', ['pack', '--pack-destination', packDir, '--json'], {
    cwd: REPO,
    maxBuffer: 16 * 1024 * 1024,
  });
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as [
    { filename: string; files: { path: string }[] },
  ];
  tarball = join(packDir, info.filename);
  // No TypeScript source ships; the construct's type declarations (.d.ts, issue 16) are not sources.
  expect(info.files.map((f) => f.path).filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts'))).toEqual([]);
  expect(info.files.map((f) => f.path)).toContain('dist/cli/qtv.mjs');
  const installed = await sh(
    'npm',
    ['install', '-g', tarball, '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund'],
    packDir,
  );
  expect(installed.code, installed.stderr).toBe(0);
}, 300_000);

describe('Package: qtv installed from the packed tarball', () => {
  it('runs --help, keys create, token and inspect from an empty folder outside the repository', async () => {
    // Prepare
    const folder = tempDir('qtv-user-');
    expect(folder.startsWith(REPO)).toBe(false);
    // Act
    const help = await sh('qtv', ['--help'], folder);
    const keys = await sh('qtv', ['keys', 'create', '--keyid', 'k1'], folder);
    const token = await sh(
      'qtv',
      [
        'token',
        '--key-file',
        'privatekey.pem',
        '--issuer',
        'https://x',
        '--keyid',
        'k1',
        '--sub',
        'anna',
        '--name',
        'Anna Anderson',
        '--email',
        'anna@example.com',
        '--expires',
        '1h',
      ],
      folder,
    );
    const inspect = await sh(
      'qtv',
      ['inspect', token.stdout.trim(), '--cert-file', 'publickey.cer', '--issuer', 'https://x'],
      folder,
    );
    // Assess
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^qtv: keys, certificates, Qlik JWTs/);
    expect(keys.code, keys.stderr).toBe(0);
    expect(token.code, token.stderr).toBe(0);
    expect(inspect.code, inspect.stdout + inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(/ok: Qlik's rules pass and the signature verifies/);
    // The installed bin is the bundle: the installed package holds no TypeScript source to load.
    expect(existsSync(join(prefix, 'lib/node_modules/qlik-token-vending/scripts/cli.ts'))).toBe(false);
  }, 120_000);

  it("runs qs-jwt's create-qscloud line: key, certificate and a token qtv inspect passes", async () => {
    // Prepare
    const folder = join(tempDir('qtv-user-'), 'empty');
    mkdirSync(folder);
    // Act
    const created = await sh(
      'qtv',
      [
        'create-qscloud',
        '--username',
        'Anna Anderson',
        '--useremail',
        'anna@example.com',
        '--useremail-verified',
        'true',
        '--issuer',
        'https://x',
        '--keyid',
        'k1',
        '--expires',
        '30m',
        '--cert-create',
        'true',
      ],
      folder,
    );
    const inspect = await sh(
      'qtv',
      ['inspect', created.stdout.trim(), '--cert', 'publickey.cer', '--keyid', 'k1'],
      folder,
    );
    // Assess
    expect(created.code, created.stderr).toBe(0);
    for (const file of ['privatekey.pem', 'publickey.pem', 'publickey.cer'])
      expect(existsSync(join(folder, file))).toBe(true);
    expect(readFileSync(join(folder, 'publickey.cer'), 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(inspect.code, inspect.stdout + inspect.stderr).toBe(0);
  }, 120_000);

  it('runs through npx --package=<tarball> too', async () => {
    // Act
    const result = await sh('npx', ['--yes', `--package=${tarball}`, '--', 'qtv', '--help'], tempDir('qtv-npx-'));
    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/create-qscloud/);
  }, 180_000);

  it('signs in to a Cognito pool with caller-token (SRP, TOTP enrolment, then the TOTP code) from the bundle', async () => {
    // Prepare: moto's cognito-idp with TOTP checking on, a pool like the stack's, a user made by an admin.
    const moto = await startMotoServer(20_000, { MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP: 'true' });
    try {
      const cognito = async (operation: string, body: unknown) =>
        (await (
          await fetch(moto.endpoint, {
            method: 'POST',
            headers: {
              'content-type': 'application/x-amz-json-1.1',
              'x-amz-target': `AWSCognitoIdentityProviderService.${operation}`,
            },
            body: JSON.stringify(body),
          })
        ).json()) as Record<string, { Id?: string; ClientId?: string }>;
      const poolId = (await cognito('CreateUserPool', { PoolName: 'pkg', UsernameAttributes: ['email'] })).UserPool?.Id;
      await cognito('SetUserPoolMfaConfig', {
        UserPoolId: poolId,
        MfaConfiguration: 'ON',
        SoftwareTokenMfaConfiguration: { Enabled: true },
      });
      const clientId = (
        await cognito('CreateUserPoolClient', {
          UserPoolId: poolId,
          ClientName: 'web',
          ExplicitAuthFlows: ['ALLOW_USER_SRP_AUTH'],
        })
      ).UserPoolClient?.ClientId;
      await cognito('AdminCreateUser', {
        UserPoolId: poolId,
        Username: 'anna@example.com',
        UserAttributes: [{ Name: 'email', Value: 'anna@example.com' }],
        MessageAction: 'SUPPRESS',
      });
      await cognito('AdminSetUserPassword', {
        UserPoolId: poolId,
        Username: 'anna@example.com',
        Password: 'Chosen-Passw0rd-2?',
        Permanent: true,
      });
      const folder = tempDir('qtv-user-');
      const args = ['caller-token', '--user-pool-id', String(poolId), '--client-id', String(clientId)];
      const rest = ['--username', 'anna@example.com', '--totp-secret-file', 'anna.totp', '--endpoint', moto.endpoint];
      // Act
      const enrol = await sh('qtv', [...args, ...rest], folder, { QTV_COGNITO_PASSWORD: 'Chosen-Passw0rd-2?' });
      const later = await sh('qtv', [...args, ...rest], folder, { QTV_COGNITO_PASSWORD: 'Chosen-Passw0rd-2?' });
      // Assess
      expect(enrol.code, enrol.stderr).toBe(0);
      expect(enrol.stderr).toMatch(/MFA_SETUP/);
      expect(later.code, later.stderr).toBe(0);
      expect(later.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    } finally {
      await moto.stop();
    }
  }, 120_000);
});
