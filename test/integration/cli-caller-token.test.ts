/**
 * `qtv caller-token` as a subprocess against moto's Cognito user pools (cognito-idp), set up as the stack's
 * pool is: email sign-in, MFA required with TOTP only, an app client allowing USER_SRP_AUTH, users made by
 * admin-create-user. moto gives the real challenge sequence (PASSWORD_VERIFIER, NEW_PASSWORD_REQUIRED,
 * MFA_SETUP, SOFTWARE_TOKEN_MFA) and, started with MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP=true, checks every
 * TOTP code with pyca/cryptography's TOTP against the secret it issued. moto does NOT check the SRP math
 * (any PASSWORD_CLAIM_SIGNATURE passes): test/unit/cli/cognito-srp.test.ts proves that part against AWS's
 * own client, and test/unit/cli/cognito-auth.test.ts covers the refusals moto cannot produce.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, startDevServer } from '../../scripts/dev-server.js';
import { runQtv, tempDir } from '../support/cli.js';
import { type MotoServer, startMotoServer } from '../support/moto-server.js';

let moto: MotoServer;
let dev: DevServer;

/** One Cognito admin call to moto (AWS JSON 1.1; moto does not check signatures). */
async function cognito(operation: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const response = await fetch(moto.endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `AWSCognitoIdentityProviderService.${operation}`,
    },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`${operation}: ${JSON.stringify(json)}`);
  return json;
}

/** A pool like infra/constructs/token-api.ts makes: email sign-in, MFA ON with TOTP only, SRP client. */
async function stackLikePool() {
  const pool = (await cognito('CreateUserPool', {
    PoolName: `qtv-${Math.random().toString(36).slice(2)}`,
    UsernameAttributes: ['email'],
    Policies: {
      PasswordPolicy: {
        MinimumLength: 12,
        RequireUppercase: true,
        RequireLowercase: true,
        RequireNumbers: true,
        RequireSymbols: true,
      },
    },
    AdminCreateUserConfig: { AllowAdminCreateUserOnly: true },
  })) as { UserPool: { Id: string } };
  const poolId = pool.UserPool.Id;
  await cognito('SetUserPoolMfaConfig', {
    UserPoolId: poolId,
    MfaConfiguration: 'ON',
    SoftwareTokenMfaConfiguration: { Enabled: true },
  });
  const client = (await cognito('CreateUserPoolClient', {
    UserPoolId: poolId,
    ClientName: 'WebClient',
    GenerateSecret: false,
    ExplicitAuthFlows: ['ALLOW_USER_SRP_AUTH', 'ALLOW_REFRESH_TOKEN_AUTH'],
    PreventUserExistenceErrors: 'ENABLED',
  })) as { UserPoolClient: { ClientId: string } };
  return { poolId, clientId: client.UserPoolClient.ClientId };
}

const TEMPORARY = 'Temporary-Pass-1!';
const CHOSEN = 'Chosen-Passw0rd-2?';
/** A user as `admin-create-user` then `admin-set-user-password --permanent` leave it: CONFIRMED, no MFA yet. */
async function userWithPermanentPassword(poolId: string, username: string): Promise<void> {
  await cognito('AdminCreateUser', {
    UserPoolId: poolId,
    Username: username,
    UserAttributes: [{ Name: 'email', Value: username }],
    MessageAction: 'SUPPRESS',
  });
  await cognito('AdminSetUserPassword', { UserPoolId: poolId, Username: username, Password: CHOSEN, Permanent: true });
}

const decodePayload = (jwt: string) =>
  JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;

beforeAll(async () => {
  moto = await startMotoServer(20_000, { MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP: 'true' });
  dev = await startDevServer({ port: 0, localDir: tempDir('qtv-dev-'), logLevel: 'SILENT' });
});
afterAll(async () => {
  await dev?.close();
  await moto?.stop();
});

describe('Command: qtv caller-token (moto cognito-idp)', () => {
  it('signs in a user made by admin-create-user: new password, TOTP enrolment, then SOFTWARE_TOKEN_MFA on later runs', async () => {
    // Arrange
    const { poolId, clientId } = await stackLikePool();
    await cognito('AdminCreateUser', {
      UserPoolId: poolId,
      Username: 'alice@example.com',
      TemporaryPassword: TEMPORARY,
      UserAttributes: [
        { Name: 'email', Value: 'alice@example.com' },
        { Name: 'email_verified', Value: 'true' },
        { Name: 'name', Value: 'Alice Example' },
      ],
      MessageAction: 'SUPPRESS',
    });
    const dir = tempDir('qtv-cognito-');
    const secretFile = join(dir, 'totp', 'alice.totp');
    const flags = ['--user-pool-id', poolId, '--client-id', clientId, '--username', 'alice@example.com'];
    // Act: the first run answers NEW_PASSWORD_REQUIRED and MFA_SETUP.
    const first = await runQtv(
      ['caller-token', ...flags, '--totp-secret-file', secretFile, '--endpoint', moto.endpoint],
      { env: { QTV_COGNITO_PASSWORD: TEMPORARY, QTV_COGNITO_NEW_PASSWORD: CHOSEN } },
    );
    // Assess
    expect(first.stderr).toMatch(/NEW_PASSWORD_REQUIRED/);
    expect(first.stderr).toMatch(/MFA_SETUP/);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(decodePayload(first.stdout.trim())).toMatchObject({ token_use: 'id', aud: clientId });
    expect(String(decodePayload(first.stdout.trim()).iss)).toMatch(new RegExp(`/${poolId}$`));
    const saved = readFileSync(secretFile, 'utf8').trim();
    expect(saved).toMatch(/^[A-Za-z2-7]+$/);
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    expect(first.stderr).toContain(`otpauth://totp/`);
    expect(first.stderr).not.toContain(TEMPORARY);
    expect(first.stderr).not.toContain(CHOSEN);
    const user = (await cognito('AdminGetUser', { UserPoolId: poolId, Username: 'alice@example.com' })) as {
      UserStatus: string;
    };
    expect(user.UserStatus).toBe('CONFIRMED');

    // Act: a later run answers SOFTWARE_TOKEN_MFA with a code from the saved secret (moto checks it).
    const later = await runQtv(
      ['caller-token', ...flags, '--totp-secret-file', secretFile, '--endpoint', moto.endpoint],
      { env: { QTV_COGNITO_PASSWORD: CHOSEN } },
    );
    // Assess
    expect(later.stderr).toBe('');
    expect(later.code).toBe(0);
    expect(decodePayload(later.stdout.trim())).toMatchObject({ token_use: 'id', aud: clientId });
  });

  it('enrols a user whose password was set with admin-set-user-password --permanent, secret from the environment afterwards', async () => {
    // Arrange
    const { poolId, clientId } = await stackLikePool();
    await userWithPermanentPassword(poolId, 'bob@example.com');
    const flags = [
      'caller-token',
      '--user-pool-id',
      poolId,
      '--client-id',
      clientId,
      '--cognito-username',
      'bob@example.com',
    ];
    // Act: no --totp-secret-file, so the secret is shown once on stderr.
    const first = await runQtv([...flags, '--endpoint', moto.endpoint, '--password-stdin'], { input: `${CHOSEN}\n` });
    const secret = /otpauth:\/\/totp\/[^?]+\?secret=([A-Za-z2-7]+)/.exec(first.stderr)?.[1];
    const later = await runQtv([...flags, '--endpoint', moto.endpoint, '--password-stdin'], {
      input: `${CHOSEN}\n`,
      env: { QTV_TOTP_SECRET: secret ?? '' },
    });
    // Assess
    expect(first.stderr).not.toMatch(/NEW_PASSWORD_REQUIRED/);
    expect(first.stderr).toMatch(/shown once/);
    expect(first.code).toBe(0);
    expect(secret).toBeDefined();
    expect(later.code).toBe(0);
    expect(decodePayload(later.stdout.trim())).toMatchObject({ token_use: 'id' });
  });

  it('refuses with the fix when the TOTP secret is not the enrolled one (moto: CodeMismatchException) or not given', async () => {
    // Arrange
    const { poolId, clientId } = await stackLikePool();
    await userWithPermanentPassword(poolId, 'carol@example.com');
    const dir = tempDir('qtv-cognito-');
    const secretFile = join(dir, 'carol.totp');
    const flags = [
      'caller-token',
      '--user-pool-id',
      poolId,
      '--client-id',
      clientId,
      '--username',
      'carol@example.com',
    ];
    const env = { QTV_COGNITO_PASSWORD: CHOSEN };
    const enrolled = await runQtv([...flags, '--endpoint', moto.endpoint, '--totp-secret-file', secretFile], { env });
    writeFileSync(secretFile, 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n', { mode: 0o600 });
    // Act
    const wrong = await runQtv([...flags, '--endpoint', moto.endpoint, '--totp-secret-file', secretFile], { env });
    const noSecret = await runQtv([...flags, '--endpoint', moto.endpoint], { env });
    // Assess
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toMatch(
      /asks for a TOTP code \(SOFTWARE_TOKEN_MFA\): give the secret .*--totp-secret-file or QTV_TOTP_SECRET/,
    );
    expect(enrolled.code).toBe(0);
    expect(wrong.code).toBe(3);
    expect(wrong.stdout).toBe('');
    expect(wrong.stderr).toMatch(
      /^qtv: Cognito RespondToAuthChallenge: CodeMismatchException: .*: check that the secret/,
    );
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('names the missing new password at a first sign-in with a temporary password, and where to give it', async () => {
    // Arrange
    const { poolId, clientId } = await stackLikePool();
    await cognito('AdminCreateUser', {
      UserPoolId: poolId,
      Username: 'dave@example.com',
      TemporaryPassword: TEMPORARY,
      UserAttributes: [{ Name: 'email', Value: 'dave@example.com' }],
      MessageAction: 'SUPPRESS',
    });
    const flags = ['caller-token', '--user-pool-id', poolId, '--client-id', clientId, '--username', 'dave@example.com'];
    // Act
    const noNewPassword = await runQtv([...flags, '--endpoint', moto.endpoint], {
      env: { QTV_COGNITO_PASSWORD: TEMPORARY },
    });
    // Assess
    expect(noNewPassword.code).toBe(2);
    expect(noNewPassword.stderr).toMatch(/requires a new password .*QTV_COGNITO_NEW_PASSWORD or --new-password-file/);
  });

  it('says the user is not confirmed, with the fix (moto: UserNotConfirmedException)', async () => {
    // Arrange: a user that signed up and never confirmed (moto allows SignUp on this pool).
    const { poolId, clientId } = await stackLikePool();
    await cognito('SignUp', {
      ClientId: clientId,
      Username: 'erin@example.com',
      Password: CHOSEN,
      UserAttributes: [{ Name: 'email', Value: 'erin@example.com' }],
    });
    // Act
    const result = await runQtv(
      [
        'caller-token',
        '--user-pool-id',
        poolId,
        '--client-id',
        clientId,
        '--username',
        'erin@example.com',
        '--endpoint',
        moto.endpoint,
      ],
      { env: { QTV_COGNITO_PASSWORD: CHOSEN } },
    );
    // Assess
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/UserNotConfirmedException.*admin-confirm-sign-up/);
  });

  it('refuses a password on the command line without echoing it, and a missing password with the three ways to give it', async () => {
    // Act
    const onArgv = await runQtv([
      'caller-token',
      '--user-pool-id',
      'eu-west-1_Ab1',
      '--client-id',
      'c',
      '--username',
      'u',
      '--password',
      'Hunter2-secret!',
    ]);
    const missing = await runQtv([
      'caller-token',
      '--user-pool-id',
      'eu-west-1_Ab1',
      '--client-id',
      'c',
      '--username',
      'u',
    ]);
    const badPool = await runQtv(['caller-token', '--user-pool-id', 'AbCdEf', '--client-id', 'c', '--username', 'u']);
    // Assess
    expect(onArgv.code).toBe(2);
    expect(onArgv.stderr).toMatch(
      /--password is not accepted: .*--password-file, --password-stdin or QTV_COGNITO_PASSWORD/,
    );
    expect(onArgv.stderr).not.toContain('Hunter2');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no password: .*QTV_COGNITO_PASSWORD, --password-file FILE or --password-stdin/);
    expect(badPool.code).toBe(2);
    expect(badPool.stderr).toMatch(/not a Cognito user pool ID: pass <region>_<id>/);
  });
});

describe('Command: qtv doctor with the Cognito pool flags (moto cognito-idp)', () => {
  it("gets its caller token through the pool's flow and sends it to POST /qlik/jwt", async () => {
    // Arrange: an enrolled user. The dev server trusts only its own dev identity provider, so it answers
    // 401 to moto's token: that answer shows doctor sent the Cognito token (and not a dev one) to the API.
    const { poolId, clientId } = await stackLikePool();
    await userWithPermanentPassword(poolId, 'frank@example.com');
    const secretFile = join(tempDir('qtv-cognito-'), 'frank.totp');
    const pool = ['--user-pool-id', poolId, '--client-id', clientId, '--cognito-username', 'frank@example.com'];
    const env = { QTV_COGNITO_PASSWORD: CHOSEN };
    // Act
    const result = await runQtv(
      [
        'doctor',
        '--api-url',
        dev.url,
        ...pool,
        '--cognito-endpoint',
        moto.endpoint,
        '--totp-secret-file',
        secretFile,
        '--json',
      ],
      { env },
    );
    const missingPassword = await runQtv([
      'doctor',
      '--api-url',
      dev.url,
      ...pool,
      '--cognito-endpoint',
      moto.endpoint,
    ]);
    // Assess
    const report = JSON.parse(result.stdout) as {
      checks: { check: string; ok: boolean; detail: string; fix?: string }[];
    };
    const byName = new Map(report.checks.map((c) => [c.check, c]));
    expect(byName.get('caller.token')).toMatchObject({
      ok: true,
      detail: `from Cognito pool ${poolId} (user frank@example.com)`,
    });
    expect(byName.get('qlik-jwt.minted')).toMatchObject({ ok: false });
    expect(byName.get('qlik-jwt.minted')?.detail).toMatch(/answered 401/);
    expect(result.code).toBe(1);
    expect(readFileSync(secretFile, 'utf8')).toMatch(/^[A-Za-z2-7]+\n$/);
    expect(missingPassword.code).toBe(2);
    expect(missingPassword.stderr).toMatch(/^qtv: no password: /);
  });

  it('reports a Cognito refusal as a failed caller.token check with the fix', async () => {
    // Arrange
    const { poolId, clientId } = await stackLikePool();
    await userWithPermanentPassword(poolId, 'gina@example.com');
    const secretFile = join(tempDir('qtv-cognito-'), 'gina.totp');
    const pool = [
      '--user-pool-id',
      poolId,
      '--client-id',
      clientId,
      '--cognito-username',
      'gina@example.com',
      '--cognito-endpoint',
      moto.endpoint,
    ];
    const env = { QTV_COGNITO_PASSWORD: CHOSEN };
    await runQtv(
      [
        'caller-token',
        ...pool.map((a) => (a === '--cognito-endpoint' ? '--endpoint' : a)),
        '--totp-secret-file',
        secretFile,
      ],
      { env },
    );
    writeFileSync(secretFile, 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n');
    // Act
    const result = await runQtv(['doctor', '--api-url', dev.url, ...pool, '--totp-secret-file', secretFile], { env });
    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/FAIL {2}caller\.token +Cognito RespondToAuthChallenge: CodeMismatchException/);
    expect(result.stdout).toMatch(/fix: Follow the fix above/);
  });
});
