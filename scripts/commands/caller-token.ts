/**
 * `qtv caller-token`: an ID token from the stack's Cognito user pool, signed in with the pool's own flow
 * (USER_SRP_AUTH + TOTP MFA, scripts/cli/cognito-auth.ts), for the smoke test after `cdk deploy` and for
 * `qtv doctor`. The pool stays as strict as the stack makes it: no password flow is enabled, MFA stays required.
 * The token goes to stdout alone (`TOKEN=$(qtv caller-token ...)`); every message goes to stderr; secrets come
 * from files, the environment or stdin, never from argv (visible in `ps` and shell history).
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import { loadCliEnvironment } from '../../functions/runtime/config.js';
import { type CognitoTokens, cognitoSignIn, regionOfUserPool } from '../cli/cognito-auth.js';
import { type CliIo, type Command, EXIT, parseCommandArgs, readTextFile, usageError } from '../cli/support.js';
import { otpauthUri } from '../cli/totp.js';

const help = `qtv caller-token: sign in to the stack's Cognito user pool (SRP + TOTP MFA) and print the ID token

usage: qtv caller-token --user-pool-id ID --client-id ID --username NAME
                        [--password-file FILE | --password-stdin | env QTV_COGNITO_PASSWORD]
                        [--totp-secret-file FILE | env QTV_TOTP_SECRET]
                        [--new-password-file FILE | env QTV_COGNITO_NEW_PASSWORD] [--endpoint URL]

  --user-pool-id ID       the pool (stack output CallerUserPoolId, e.g. eu-west-1_AbCdEf123; the region is its prefix)
  --client-id ID          the app client (stack output CallerUserPoolClientId; it must allow USER_SRP_AUTH)
  --username NAME         the user (the email it was created with); alias --cognito-username
  --password-file FILE    the password (one line); or --password-stdin, or env QTV_COGNITO_PASSWORD
  --totp-secret-file FILE the user's TOTP secret (base32 or otpauth:// URI). At the first sign-in (MFA_SETUP)
                          a missing or empty FILE is created (mode 600) with the secret Cognito issues;
                          later sign-ins read it to answer SOFTWARE_TOKEN_MFA. Or env QTV_TOTP_SECRET
  --new-password-file F   the new password when Cognito asks for one (first sign-in after admin-create-user
                          with a temporary password); or env QTV_COGNITO_NEW_PASSWORD
  --endpoint URL          Cognito's endpoint (default https://cognito-idp.<region>.amazonaws.com/; tests)
  --access-token          print the access token instead of the ID token

Prints the token alone on stdout; progress, the enrolment URI and errors go to stderr. Passwords and the
TOTP secret are never accepted on the command line and never printed (except the new TOTP secret, once,
at enrolment, so you can add it to an authenticator app).
Exit 0 with a token; 2 for a missing or unreadable input; 3 when Cognito refuses (the line says why and the fix).

example (first run enrols TOTP, later runs reuse the saved secret):
  export QTV_COGNITO_PASSWORD='...'   # or --password-file
  TOKEN=$(qtv caller-token --user-pool-id eu-west-1_AbCdEf123 --client-id 1example23456789 \\
            --username alice@example.com --totp-secret-file ~/.qtv/alice.totp)
`;

/** The flags `caller-token` and `doctor` share for a Cognito sign-in. */
export const cognitoFlags = {
  'user-pool-id': { type: 'string' },
  'client-id': { type: 'string' },
  'password-file': { type: 'string' },
  'password-stdin': { type: 'boolean', default: false },
  'totp-secret-file': { type: 'string' },
  'new-password-file': { type: 'string' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

/** Secret-bearing flags people try first; refused before parsing so the value never reaches an error message. */
const SECRET_ON_ARGV = /^--(password|new-password|totp-secret|totp-code|secret)(=|$)/;

/** Refuses a password or TOTP secret on argv, with the safe ways to give it. */
export function refuseSecretsOnArgv(argv: readonly string[]): void {
  const flag = argv.find((a) => SECRET_ON_ARGV.test(a));
  if (flag !== undefined)
    throw usageError(
      `${flag.split('=')[0]} is not accepted: secrets on the command line end up in shell history and ps; use --password-file, --password-stdin or QTV_COGNITO_PASSWORD (--totp-secret-file or QTV_TOTP_SECRET, --new-password-file or QTV_COGNITO_NEW_PASSWORD)`,
    );
}

/** A secret file's content without its final newline (passwords may contain spaces, so nothing else is trimmed). */
const readSecretFile = (path: string, flag: string, what: string) =>
  readTextFile(path, flag, what).replace(/\r?\n$/, '');

/** The base32 secret in `text`: the text itself, or the `secret` parameter of an otpauth:// URI. */
function totpSecretOf(text: string): string {
  const trimmed = text.trim();
  if (!trimmed.startsWith('otpauth://')) return trimmed;
  const secret = new URL(trimmed).searchParams.get('secret');
  if (secret === null) throw usageError('the otpauth:// URI has no secret= parameter: give the base32 secret');
  return secret;
}

/** The parsed shared flags. */
export interface CognitoFlagValues {
  readonly 'user-pool-id'?: string | undefined;
  readonly 'client-id'?: string | undefined;
  readonly 'password-file'?: string | undefined;
  readonly 'password-stdin'?: boolean | undefined;
  readonly 'totp-secret-file'?: string | undefined;
  readonly 'new-password-file'?: string | undefined;
}

/** Signs in with the shared flags (doctor and caller-token); `endpoint` overrides Cognito's URL. */
export async function signInWithFlags(
  values: CognitoFlagValues,
  username: string | undefined,
  endpoint: string | undefined,
  io: CliIo,
  flagPrefix = '',
): Promise<CognitoTokens> {
  const poolId = values['user-pool-id'];
  const clientId = values['client-id'];
  if (poolId === undefined || clientId === undefined || username === undefined)
    throw usageError(
      `--user-pool-id, --client-id and --${flagPrefix}username go together: the stack outputs CallerUserPoolId and CallerUserPoolClientId, and the user's email`,
    );
  regionOfUserPool(poolId);
  if (endpoint !== undefined) {
    try {
      new URL(endpoint);
    } catch {
      throw usageError(`--endpoint ${JSON.stringify(endpoint)} is not a URL: e.g. http://127.0.0.1:5000`);
    }
  }
  const env = loadCliEnvironment();
  let password: string | undefined;
  if (values['password-file'] !== undefined)
    password = readSecretFile(values['password-file'], '--password-file', "a file holding the user's password");
  else if (values['password-stdin'] === true) password = (await io.readStdin()).split(/\r?\n/)[0];
  else password = env.cognitoPassword;
  if (password === undefined || password === '')
    throw usageError(
      "no password: give the Cognito user's password in QTV_COGNITO_PASSWORD, --password-file FILE or --password-stdin (never on the command line)",
    );
  const secretFile = values['totp-secret-file'];
  const storedSecret = () => {
    if (secretFile !== undefined && existsSync(secretFile)) {
      const text = readSecretFile(secretFile, '--totp-secret-file', 'the TOTP secret saved at enrolment');
      if (text.trim() !== '') return totpSecretOf(text);
    }
    return env.totpSecret === undefined ? undefined : totpSecretOf(env.totpSecret);
  };
  const note = (line: string) => io.stderr(`${line}\n`);
  return cognitoSignIn({
    userPoolId: poolId,
    clientId,
    username,
    password,
    ...(endpoint !== undefined ? { endpoint } : {}),
    newPassword: () =>
      values['new-password-file'] !== undefined
        ? readSecretFile(values['new-password-file'], '--new-password-file', 'a file holding the new password')
        : env.cognitoNewPassword,
    totpSecret: storedSecret,
    onTotpSecret: (secret) => {
      const uri = otpauthUri(secret, username, `qtv ${poolId}`);
      if (secretFile !== undefined) {
        mkdirSync(dirname(secretFile), { recursive: true, mode: 0o700 });
        writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
        chmodSync(secretFile, 0o600);
        note(`qtv: TOTP enrolled; the secret is saved in ${secretFile} (mode 600): later runs read it from there`);
      } else
        note(
          'qtv: TOTP enrolled; save this secret now, it is shown once: later runs need it in QTV_TOTP_SECRET or --totp-secret-file',
        );
      note(`qtv: to add it to an authenticator app too: ${uri}`);
    },
    note,
    fetch: io.fetch,
  });
}

/** `qtv caller-token`. */
export const callerTokenCommand: Command = {
  name: 'caller-token',
  summary: "sign in to the stack's Cognito pool (SRP + TOTP MFA, first-sign-in challenges) and print the ID token",
  help,
  async run(argv, io) {
    refuseSecretsOnArgv(argv);
    const { values } = parseCommandArgs('caller-token', argv, {
      ...cognitoFlags,
      username: { type: 'string' },
      endpoint: { type: 'string' },
      'access-token': { type: 'boolean', default: false },
    });
    const tokens = await signInWithFlags(values, values.username, values.endpoint, io);
    io.stdout(`${values['access-token'] ? tokens.accessToken : tokens.idToken}\n`);
    return EXIT.ok;
  },
};
