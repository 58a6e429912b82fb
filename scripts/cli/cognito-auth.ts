/**
 * Signs a user in to an Amazon Cognito user pool with the pool's own flow, as an app would, and returns the
 * tokens: USER_SRP_AUTH (the password never leaves this process), then whichever challenges Cognito sets:
 * PASSWORD_VERIFIER, NEW_PASSWORD_REQUIRED (first sign-in of a user made by admin-create-user), MFA_SETUP
 * (TOTP enrolment: AssociateSoftwareToken, VerifySoftwareToken), SELECT_MFA_TYPE, SOFTWARE_TOKEN_MFA.
 *
 * The calls are Cognito's unauthenticated user-pool API (no AWS credentials, no SigV4: "Amazon Cognito doesn't
 * evaluate IAM policies in requests for this API operation"), spoken as AWS JSON 1.1 with plain fetch so the
 * packaged CLI keeps no runtime dependency:
 * - InitiateAuth: https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_InitiateAuth.html
 *   (USER_SRP_AUTH takes USERNAME and SRP_A, answers PASSWORD_VERIFIER);
 * - RespondToAuthChallenge: https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_RespondToAuthChallenge.html
 *   and the per-challenge responses in
 *   https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_ChallengeResponseType.html
 *   (PASSWORD_VERIFIER: PASSWORD_CLAIM_SIGNATURE, PASSWORD_CLAIM_SECRET_BLOCK, TIMESTAMP, USERNAME;
 *   NEW_PASSWORD_REQUIRED: NEW_PASSWORD, USERNAME; SOFTWARE_TOKEN_MFA: SOFTWARE_TOKEN_MFA_CODE, USERNAME;
 *   MFA_SETUP: USERNAME with the session VerifySoftwareToken returned; SELECT_MFA_TYPE: ANSWER);
 * - MFA_SETUP: "If MFA is required, users who don't have at least one of the MFA methods set up are presented
 *   with an MFA_SETUP challenge"; "Complete setup with AssociateSoftwareToken and VerifySoftwareToken", both
 *   authorised "with ... a session string from a challenge response"
 *   (https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_AssociateSoftwareToken.html,
 *   https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_VerifySoftwareToken.html);
 *   "After you set up software token MFA for your user, Amazon Cognito generates a SOFTWARE_TOKEN_MFA
 *   challenge when they authenticate" (same pages; TOTP in
 *   https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-settings-mfa-totp.html).
 * Error types (`__type`) and their messages are Cognito's (NotAuthorizedException, CodeMismatchException, ...,
 * listed under "Errors" on the pages above); each becomes one line with the fix.
 */

import { CognitoSrpSession } from './cognito-srp.js';
import { CliError, EXIT } from './support.js';
import { base32Decode, totp, totpStep } from './totp.js';

/** The tokens Cognito's AuthenticationResult carries. */
export interface CognitoTokens {
  readonly idToken: string;
  readonly accessToken: string;
  readonly expiresIn: number;
}

/** Everything a sign-in needs; secrets come in as values read from files, env or stdin, never argv. */
export interface CognitoSignInOptions {
  readonly userPoolId: string;
  readonly clientId: string;
  readonly username: string;
  readonly password: string;
  /** Cognito's endpoint; default `https://cognito-idp.<region>.amazonaws.com/` (region from the pool ID). */
  readonly endpoint?: string;
  /** The new password for NEW_PASSWORD_REQUIRED (asked only if Cognito sets that challenge). */
  readonly newPassword?: () => string | undefined;
  /** The user's TOTP secret (base32) for SOFTWARE_TOKEN_MFA (asked only if Cognito sets that challenge). */
  readonly totpSecret?: () => string | undefined;
  /**
   * Called once with the secret AssociateSoftwareToken returned (MFA_SETUP), before it is verified: the caller
   * shows it to the operator and/or saves it; without it a later sign-in cannot answer SOFTWARE_TOKEN_MFA.
   */
  readonly onTotpSecret: (secret: string) => void;
  /** Progress lines (stderr). Never given a secret. */
  readonly note: (line: string) => void;
  readonly fetch: typeof fetch;
  /** Milliseconds since the epoch (tests fix it). */
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Device name VerifySoftwareToken records. */
  readonly deviceName?: string;
}

/** `eu-west-1_AbC123` → `eu-west-1`; anything else is a usage error naming the format. */
export function regionOfUserPool(userPoolId: string): string {
  const match = /^([a-z]{2}(?:-[a-z]+)+-\d+)_[0-9A-Za-z]+$/.exec(userPoolId);
  if (match?.[1] === undefined)
    throw new CliError(
      EXIT.usage,
      `--user-pool-id ${JSON.stringify(userPoolId)} is not a Cognito user pool ID: pass <region>_<id>, e.g. eu-west-1_AbCdEf123 (the stack's CallerUserPoolId output)`,
    );
  return match[1];
}

interface CognitoResponse {
  ChallengeName?: string;
  Session?: string;
  ChallengeParameters?: Record<string, string | undefined>;
  AuthenticationResult?: { IdToken?: string; AccessToken?: string; ExpiresIn?: number };
  SecretCode?: string;
  Status?: string;
}

/** A Cognito error as the JSON protocol returns it: `__type` (maybe `ns#Name`) and `message`. */
export class CognitoApiError extends Error {
  readonly type: string;
  constructor(type: string, message: string) {
    super(message);
    this.name = 'CognitoApiError';
    this.type = type;
  }
}

/** What the operator did wrong, or what Cognito needs, as one line with the fix. `step` names the call. */
export function explainCognitoError(
  error: CognitoApiError,
  step: string,
  options: { username: string; clientId: string },
) {
  const user = JSON.stringify(options.username);
  const said = `Cognito ${step}: ${error.type}: ${error.message}`;
  const refuse = (fix: string) => new CliError(EXIT.upstream, `${said}: ${fix}`);
  switch (error.type) {
    case 'NotAuthorizedException':
      if (/password attempts exceeded/i.test(error.message))
        return refuse('wait a few minutes before the next try, and check the password first');
      if (/disabled/i.test(error.message))
        return refuse(
          `the user is disabled: aws cognito-idp admin-enable-user --user-pool-id <pool> --username ${user}`,
        );
      // "Client <id> is configured with secret but SECRET_HASH was not received" (aws-amplify/amplify-android#2504).
      if (/SECRET_HASH/.test(error.message))
        return refuse(
          `app client ${options.clientId} has a client secret; this command signs in as a public client: pass the stack's CallerUserPoolClientId (no secret)`,
        );
      if (/session/i.test(error.message))
        return refuse('the sign-in session expired (3 minutes per step): run the command again');
      // "Incorrect username or password." (RespondToAuthChallenge in the SRP flow: iprak/winix#162).
      return refuse(
        `check --username (the email the user was created with) and the password (QTV_COGNITO_PASSWORD, --password-file or --password-stdin); to set one: aws cognito-idp admin-set-user-password --user-pool-id <pool> --username ${user} --password <password> --permanent`,
      );
    case 'UserNotFoundException':
      return refuse(
        `no user ${user} in this pool: create it with aws cognito-idp admin-create-user (docs/deploy.md, Smoke test)`,
      );
    case 'UserNotConfirmedException':
      return refuse(
        `the user is not confirmed: aws cognito-idp admin-confirm-sign-up --user-pool-id <pool> --username ${user}, or create it with admin-create-user`,
      );
    case 'PasswordResetRequiredException':
      return refuse(
        `a password reset is required: aws cognito-idp admin-set-user-password --user-pool-id <pool> --username ${user} --password <password> --permanent`,
      );
    case 'CodeMismatchException':
    case 'EnableSoftwareTokenMFAException':
    case 'ExpiredCodeException':
      return refuse(
        "the TOTP code was refused: check that the secret (--totp-secret-file or QTV_TOTP_SECRET) is the one enrolled for this user and that this machine's clock is right (date -u); a code is valid for 30 s and only once, so wait for the next one and run again",
      );
    case 'InvalidPasswordException':
      return refuse(
        "the new password breaks the pool's policy (12+ characters with upper and lower case, a digit and a symbol): choose another (QTV_COGNITO_NEW_PASSWORD or --new-password-file)",
      );
    case 'InvalidParameterException':
      // "USER_SRP_AUTH is not enabled for the client." (aws-samples/aws-serverless-workshops#277).
      if (/USER_SRP_AUTH|auth flow|not enabled/i.test(error.message))
        return refuse(
          `app client ${options.clientId} does not allow USER_SRP_AUTH: enable it (CDK authFlows: { userSrp: true }; console: app client > Authentication flows > ALLOW_USER_SRP_AUTH), or pass the stack's CallerUserPoolClientId`,
        );
      return refuse('check --user-pool-id, --client-id and --username');
    case 'ResourceNotFoundException':
      return refuse(
        'the user pool or app client does not exist in this region: pass the stack outputs CallerUserPoolId and CallerUserPoolClientId',
      );
    case 'SoftwareTokenMFANotFoundException':
      return refuse(
        'TOTP MFA is not enabled on this user pool: enable software token MFA (the stack does: mfaSecondFactor otp)',
      );
    case 'TooManyRequestsException':
    case 'LimitExceededException':
      return refuse('Cognito is throttling: wait a minute and run again');
    default:
      return refuse('check the pool, client and user, and run again');
  }
}

/** Signs in and returns the tokens. Every failure is a CliError whose message says the fix. */
export async function cognitoSignIn(options: CognitoSignInOptions): Promise<CognitoTokens> {
  const region = regionOfUserPool(options.userPoolId);
  const endpoint = options.endpoint ?? `https://cognito-idp.${region}.amazonaws.com/`;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const context = { username: options.username, clientId: options.clientId };

  const call = async (operation: string, body: Record<string, unknown>): Promise<CognitoResponse> => {
    let response: Response;
    try {
      response = await options.fetch(endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': `AWSCognitoIdentityProviderService.${operation}`,
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(20_000),
      });
    } catch (error) {
      throw new CliError(
        EXIT.upstream,
        `Cognito ${operation}: ${endpoint} unreachable (${(error as Error).name}): check the network, the region in --user-pool-id${options.endpoint === undefined ? '' : ' and --endpoint'}`,
      );
    }
    const text = await response.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch {
      throw new CliError(
        EXIT.upstream,
        `Cognito ${operation}: HTTP ${response.status} with a body that is not JSON: check --endpoint (it must be Cognito's user-pool API)`,
      );
    }
    if (!response.ok) {
      const rawType = String(parsed.__type ?? response.headers.get('x-amzn-errortype') ?? `HTTP${response.status}`);
      const type = rawType.split('#').pop()?.split(':')[0] ?? rawType;
      const message = String(parsed.message ?? parsed.Message ?? '');
      throw explainCognitoError(new CognitoApiError(type, message), operation, context);
    }
    return parsed as CognitoResponse;
  };

  let lastTotpStep = -1;
  /** A TOTP code for now; never the same step twice (Cognito accepts each code once), waiting for the next one. */
  const code = async (secret: string) => {
    let key: Buffer;
    try {
      key = base32Decode(secret);
    } catch (error) {
      throw new CliError(EXIT.usage, `${(error as Error).message}: give the base32 secret shown at enrolment`);
    }
    let seconds = now() / 1000;
    // A code computed in the last 2 s of its 30 s step may reach Cognito in the next step. Whether Cognito
    // accepts the previous step is not documented (guessed; moto accepts only the current one): wait it out.
    const leftMs = (totpStep(seconds) + 1) * 30_000 - now();
    if (leftMs < 2_000) {
      await sleep(leftMs + 50);
      seconds = now() / 1000;
    }
    if (totpStep(seconds) === lastTotpStep) {
      const waitMs = (lastTotpStep + 1) * 30_000 - now() + 50;
      options.note(`qtv: waiting ${Math.ceil(waitMs / 1000)} s for the next TOTP code (each code is accepted once)`);
      await sleep(waitMs);
      seconds = now() / 1000;
    }
    lastTotpStep = totpStep(seconds);
    return totp(key, seconds);
  };

  const srp = new CognitoSrpSession(options.userPoolId);
  let result = await call('InitiateAuth', {
    AuthFlow: 'USER_SRP_AUTH',
    ClientId: options.clientId,
    AuthParameters: { USERNAME: options.username, SRP_A: srp.srpA },
  });
  // Cognito names the user in later challenges by USER_ID_FOR_SRP (a sign-in alias such as email maps to it).
  let username = options.username;
  for (let round = 0; round < 8; round++) {
    const tokens = result.AuthenticationResult;
    if (tokens !== undefined) {
      if (typeof tokens.IdToken !== 'string' || typeof tokens.AccessToken !== 'string')
        throw new CliError(EXIT.upstream, 'Cognito signed the user in but returned no ID token: check the app client');
      return { idToken: tokens.IdToken, accessToken: tokens.AccessToken, expiresIn: tokens.ExpiresIn ?? 0 };
    }
    const parameters = result.ChallengeParameters ?? {};
    const respond = (challenge: string, responses: Record<string, string>, session = result.Session) =>
      call('RespondToAuthChallenge', {
        ChallengeName: challenge,
        ClientId: options.clientId,
        ChallengeResponses: responses,
        ...(session === undefined ? {} : { Session: session }),
      });
    switch (result.ChallengeName) {
      case 'PASSWORD_VERIFIER': {
        const { SRP_B, SALT, SECRET_BLOCK, USER_ID_FOR_SRP } = parameters;
        if (SRP_B === undefined || SALT === undefined || SECRET_BLOCK === undefined || USER_ID_FOR_SRP === undefined)
          throw new CliError(
            EXIT.upstream,
            'Cognito PASSWORD_VERIFIER came without SRP_B, SALT, SECRET_BLOCK or USER_ID_FOR_SRP',
          );
        username = USER_ID_FOR_SRP;
        let claim: ReturnType<CognitoSrpSession['passwordClaim']>;
        try {
          claim = srp.passwordClaim(
            { srpB: SRP_B, salt: SALT, secretBlock: SECRET_BLOCK, userIdForSrp: USER_ID_FOR_SRP },
            options.password,
            new Date(now()),
          );
        } catch (error) {
          throw new CliError(
            EXIT.upstream,
            `Cognito sent SRP values this client refuses (${(error as Error).message})`,
          );
        }
        result = await respond('PASSWORD_VERIFIER', { USERNAME: username, ...claim });
        break;
      }
      case 'NEW_PASSWORD_REQUIRED': {
        const required = parseJsonList(parameters.requiredAttributes);
        if (required.length > 0)
          throw new CliError(
            EXIT.upstream,
            `Cognito asks for attributes ${required.join(', ')} with the new password: set them first with aws cognito-idp admin-update-user-attributes`,
          );
        const newPassword = options.newPassword?.();
        if (newPassword === undefined)
          throw new CliError(
            EXIT.usage,
            `Cognito requires a new password for ${JSON.stringify(options.username)} (first sign-in after admin-create-user): give it in QTV_COGNITO_NEW_PASSWORD or --new-password-file, or set a permanent one with aws cognito-idp admin-set-user-password --permanent`,
          );
        options.note('qtv: setting the new password (NEW_PASSWORD_REQUIRED)');
        result = await respond('NEW_PASSWORD_REQUIRED', { USERNAME: username, NEW_PASSWORD: newPassword });
        break;
      }
      case 'MFA_SETUP': {
        const can = parseJsonList(parameters.MFAS_CAN_SETUP);
        if (can.length > 0 && !can.includes('SOFTWARE_TOKEN_MFA'))
          throw new CliError(
            EXIT.upstream,
            `Cognito offers only ${can.join(', ')} for MFA setup; this command enrols TOTP: enable software token MFA on the pool`,
          );
        options.note('qtv: enrolling a TOTP authenticator for this user (MFA_SETUP)');
        const associated = await call('AssociateSoftwareToken', { Session: result.Session });
        if (typeof associated.SecretCode !== 'string')
          throw new CliError(EXIT.upstream, 'Cognito AssociateSoftwareToken returned no SecretCode: run again');
        options.onTotpSecret(associated.SecretCode);
        const verified = await call('VerifySoftwareToken', {
          Session: associated.Session ?? result.Session,
          UserCode: await code(associated.SecretCode),
          FriendlyDeviceName: options.deviceName ?? 'qtv caller-token',
        });
        if (verified.Status !== 'SUCCESS')
          throw new CliError(
            EXIT.upstream,
            `Cognito VerifySoftwareToken answered ${String(verified.Status)}: run again`,
          );
        result = await respond('MFA_SETUP', { USERNAME: username }, verified.Session);
        break;
      }
      case 'SELECT_MFA_TYPE':
        result = await respond('SELECT_MFA_TYPE', { USERNAME: username, ANSWER: 'SOFTWARE_TOKEN_MFA' });
        break;
      case 'SOFTWARE_TOKEN_MFA': {
        const secret = options.totpSecret?.();
        if (secret === undefined)
          throw new CliError(
            EXIT.usage,
            'Cognito asks for a TOTP code (SOFTWARE_TOKEN_MFA): give the secret saved at enrolment with --totp-secret-file or QTV_TOTP_SECRET',
          );
        result = await respond('SOFTWARE_TOKEN_MFA', {
          USERNAME: username,
          SOFTWARE_TOKEN_MFA_CODE: await code(secret),
        });
        break;
      }
      default:
        throw new CliError(
          EXIT.upstream,
          `Cognito set the challenge ${String(result.ChallengeName)}, which this command does not answer (it answers PASSWORD_VERIFIER, NEW_PASSWORD_REQUIRED, MFA_SETUP, SELECT_MFA_TYPE, SOFTWARE_TOKEN_MFA): sign in through your app instead`,
        );
    }
  }
  throw new CliError(
    EXIT.upstream,
    'Cognito kept setting challenges (8 rounds): check the pool settings and run again',
  );
}

/** Cognito sends list parameters (MFAS_CAN_SETUP, requiredAttributes) as JSON text. */
function parseJsonList(text: unknown): string[] {
  if (text === undefined) return [];
  // moto sends a JSON array where Cognito sends the array as text: accept both.
  if (Array.isArray(text)) return text.map(String);
  try {
    const value: unknown = JSON.parse(String(text));
    return Array.isArray(value) ? value.map(String) : [];
  } catch {
    return [];
  }
}
