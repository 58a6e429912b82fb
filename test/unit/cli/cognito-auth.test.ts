/**
 * The Cognito sign-in's refusals that moto cannot produce (it checks no SRP proof and knows no auth-flow
 * settings), injected at the port: a fetch that answers as Cognito's JSON protocol does (`__type`, `message`,
 * HTTP 400). Message texts are Cognito's as reported in public issues (cited in scripts/cli/cognito-auth.ts).
 */
import { describe, expect, it } from 'vitest';
import { cognitoSignIn } from '../../../scripts/cli/cognito-auth.js';
import { CliError, EXIT } from '../../../scripts/cli/support.js';
import { totp } from '../../../scripts/cli/totp.js';

type Answer = { status?: number; body: Record<string, unknown> } | Error;

/** A fetch that records each call (target + body) and answers from the script in order. */
function scriptedCognito(answers: Answer[]) {
  const calls: { target: string; contentType: string; body: Record<string, unknown> }[] = [];
  const fetchStub = (async (_url: string | URL | Request, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    calls.push({
      target: headers.get('x-amz-target') ?? '',
      contentType: headers.get('content-type') ?? '',
      body: JSON.parse(String(init?.body)) as Record<string, unknown>,
    });
    const answer = answers.shift();
    if (answer === undefined) throw new Error('no scripted answer left');
    if (answer instanceof Error) throw answer;
    return new Response(JSON.stringify(answer.body), { status: answer.status ?? 200 });
  }) as typeof fetch;
  return { calls, fetch: fetchStub };
}

const verifier: Answer = {
  body: {
    ChallengeName: 'PASSWORD_VERIFIER',
    ChallengeParameters: {
      SRP_B: 'abcdef0123456789abcdef0123456789',
      SALT: '0a1b2c3d',
      SECRET_BLOCK: Buffer.from('secret block').toString('base64'),
      USER_ID_FOR_SRP: 'a1b2c3d4-user-sub',
      USERNAME: 'a1b2c3d4-user-sub',
    },
  },
};
const refusal = (type: string, message: string): Answer => ({ status: 400, body: { __type: type, message } });
const PASSWORD = 'Never-Sent-Pass-1!';

async function signIn(answers: Answer[], extra: Partial<Parameters<typeof cognitoSignIn>[0]> = {}) {
  const cognito = scriptedCognito(answers);
  const notes: string[] = [];
  const outcome = await cognitoSignIn({
    userPoolId: 'eu-west-1_AbCdEf123',
    clientId: 'client123',
    username: 'alice@example.com',
    password: PASSWORD,
    onTotpSecret: () => {},
    note: (line) => notes.push(line),
    fetch: cognito.fetch,
    ...extra,
  }).then(
    (tokens) => ({ tokens, error: undefined }),
    (error: unknown) => ({ tokens: undefined, error: error as CliError }),
  );
  return { ...outcome, calls: cognito.calls, notes };
}

describe('Cognito sign-in: refusals as one line with the fix', () => {
  it('says "incorrect username or password" with how to set a password, exit 3', async () => {
    // Act
    const { error } = await signIn([verifier, refusal('NotAuthorizedException', 'Incorrect username or password.')]);
    // Assess
    expect(error).toBeInstanceOf(CliError);
    expect(error?.exitCode).toBe(EXIT.upstream);
    expect(error?.message).toMatch(
      /^Cognito RespondToAuthChallenge: NotAuthorizedException: Incorrect username or password\.: check --username .*admin-set-user-password .*--permanent$/,
    );
    expect(error?.message).not.toContain(PASSWORD);
  });

  it('says the app client must allow USER_SRP_AUTH, and how', async () => {
    // Act
    const { error } = await signIn([
      refusal('com.amazonaws#InvalidParameterException', 'USER_SRP_AUTH is not enabled for the client.'),
    ]);
    // Assess
    expect(error?.exitCode).toBe(EXIT.upstream);
    expect(error?.message).toMatch(
      /app client client123 does not allow USER_SRP_AUTH: enable it \(CDK authFlows: \{ userSrp: true \}/,
    );
  });

  it('says a client with a secret is the wrong client', async () => {
    const { error } = await signIn([
      refusal('NotAuthorizedException', 'Client client123 is configured with secret but SECRET_HASH was not received'),
    ]);
    expect(error?.message).toMatch(/has a client secret.*CallerUserPoolClientId/);
  });

  it('says a wrong pool or client in the region, and an unreachable endpoint, as upstream errors', async () => {
    const missing = await signIn([refusal('ResourceNotFoundException', 'User pool client client123 does not exist.')]);
    const down = await signIn([new TypeError('fetch failed')]);
    expect(missing.error?.message).toMatch(
      /does not exist in this region: pass the stack outputs CallerUserPoolId and CallerUserPoolClientId/,
    );
    expect(down.error?.exitCode).toBe(EXIT.upstream);
    expect(down.error?.message).toMatch(
      /^Cognito InitiateAuth: https:\/\/cognito-idp\.eu-west-1\.amazonaws\.com\/ unreachable \(TypeError\)/,
    );
  });
});

describe('Cognito sign-in: the requests', () => {
  it("speaks AWS JSON 1.1 to the pool's region and never sends the password", async () => {
    // Act
    const { tokens, calls } = await signIn([
      verifier,
      { body: { AuthenticationResult: { IdToken: 'id.token.x', AccessToken: 'access.token.x', ExpiresIn: 3600 } } },
    ]);
    // Assess
    expect(tokens?.idToken).toBe('id.token.x');
    expect(calls.map((c) => c.target)).toEqual([
      'AWSCognitoIdentityProviderService.InitiateAuth',
      'AWSCognitoIdentityProviderService.RespondToAuthChallenge',
    ]);
    expect(calls.every((c) => c.contentType === 'application/x-amz-json-1.1')).toBe(true);
    expect(calls[0]?.body).toMatchObject({ AuthFlow: 'USER_SRP_AUTH', ClientId: 'client123' });
    expect(calls[1]?.body).toMatchObject({
      ChallengeName: 'PASSWORD_VERIFIER',
      ChallengeResponses: {
        USERNAME: 'a1b2c3d4-user-sub',
        PASSWORD_CLAIM_SECRET_BLOCK: Buffer.from('secret block').toString('base64'),
      },
    });
    expect(JSON.stringify(calls)).not.toContain(PASSWORD);
  });

  it('never sends one TOTP code twice: after enrolment in the same 30 s step it waits for the next code', async () => {
    // Arrange: enrolment (MFA_SETUP) followed by a SOFTWARE_TOKEN_MFA challenge in the same step.
    const secret = 'JBSWY3DPEHPK3PXP';
    let clock = Date.parse('2026-11-26T12:00:05Z');
    const slept: number[] = [];
    // Act
    const { tokens, calls, notes } = await signIn(
      [
        {
          body: {
            ChallengeName: 'MFA_SETUP',
            Session: 's1',
            ChallengeParameters: { MFAS_CAN_SETUP: '["SOFTWARE_TOKEN_MFA"]' },
          },
        },
        { body: { SecretCode: secret, Session: 's2' } },
        { body: { Status: 'SUCCESS', Session: 's3' } },
        { body: { ChallengeName: 'SOFTWARE_TOKEN_MFA', Session: 's4', ChallengeParameters: {} } },
        { body: { AuthenticationResult: { IdToken: 'i.d.t', AccessToken: 'a.c.t' } } },
      ],
      {
        now: () => clock,
        sleep: async (ms) => {
          slept.push(ms);
          clock += ms;
        },
        totpSecret: () => secret,
      },
    );
    // Assess
    const key = Buffer.from('48656c6c6f21deadbeef', 'hex'); // JBSWY3DPEHPK3PXP in base32
    const verifyCode = calls[2]?.body.UserCode;
    const mfaCode = (calls[4]?.body.ChallengeResponses as Record<string, string> | undefined)?.SOFTWARE_TOKEN_MFA_CODE;
    expect(tokens?.idToken).toBe('i.d.t');
    expect(verifyCode).toBe(totp(key, Date.parse('2026-11-26T12:00:05Z') / 1000));
    expect(slept).toHaveLength(1);
    expect(mfaCode).toBe(totp(key, Date.parse('2026-11-26T12:00:30Z') / 1000 + 0.05));
    expect(mfaCode).not.toBe(verifyCode);
    expect(calls[3]?.body).toMatchObject({ ChallengeName: 'MFA_SETUP', Session: 's3' });
    expect(notes.join('\n')).toMatch(/waiting \d+ s for the next TOTP code/);
  });

  it('refuses a challenge it does not answer, naming it', async () => {
    const { error } = await signIn([{ body: { ChallengeName: 'SMS_MFA', Session: 's', ChallengeParameters: {} } }]);
    expect(error?.message).toMatch(/challenge SMS_MFA, which this command does not answer/);
  });
});

describe('Cognito sign-in: TOTP timing', () => {
  it('waits for the next step rather than send a code in the last 2 s of its step', async () => {
    // Arrange
    const secret = 'JBSWY3DPEHPK3PXP';
    const key = Buffer.from('48656c6c6f21deadbeef', 'hex');
    let clock = Date.parse('2026-11-26T12:00:29.200Z');
    const slept: number[] = [];
    // Act
    const { calls } = await signIn(
      [
        { body: { ChallengeName: 'SOFTWARE_TOKEN_MFA', Session: 's', ChallengeParameters: {} } },
        { body: { AuthenticationResult: { IdToken: 'i.d.t', AccessToken: 'a.c.t' } } },
      ],
      {
        now: () => clock,
        sleep: async (ms) => {
          slept.push(ms);
          clock += ms;
        },
        totpSecret: () => secret,
      },
    );
    // Assess
    const sent = (calls[1]?.body.ChallengeResponses as Record<string, string> | undefined)?.SOFTWARE_TOKEN_MFA_CODE;
    expect(slept).toEqual([850]);
    expect(sent).toBe(totp(key, Date.parse('2026-11-26T12:00:30Z') / 1000));
    expect(sent).not.toBe(totp(key, Date.parse('2026-11-26T12:00:29Z') / 1000));
  });
});
