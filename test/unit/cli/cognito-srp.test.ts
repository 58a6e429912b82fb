/**
 * Our Cognito SRP client against AWS's own (amazon-cognito-identity-js, pinned as a devDependency): for the
 * same private a, server B, salt, secret block, user, password, pool and clock, AWS's CognitoUser sends the
 * SRP_A and PASSWORD_CLAIM_SIGNATURE that ours computes. AWS's client is driven through its public
 * `authenticateUser` path; only its network client is replaced (to hand it the challenge and capture what it
 * sends), its random `a` fixed, and the clock frozen.
 */

import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { AuthenticationDetails, CognitoUser, CognitoUserPool } from 'amazon-cognito-identity-js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CognitoSrpSession, cognitoTimestamp, modPow, padHex } from '../../../scripts/cli/cognito-srp.js';

const require = createRequire(import.meta.url);
// AWS's helper and its BigInteger (jsbn), CommonJS modules inside the package.
const AuthenticationHelper = require('amazon-cognito-identity-js/lib/AuthenticationHelper.js').default as {
  prototype: { generateRandomSmallA: () => unknown };
};
const BigInteger = require('amazon-cognito-identity-js/lib/BigInteger.js').default as new (
  hex: string,
  radix: number,
) => unknown;

interface Captured {
  srpA?: string;
  responses?: Record<string, string>;
}

/** Runs AWS's client up to its PASSWORD_VERIFIER answer and returns what it sent. */
async function awsClientAnswer(input: {
  poolId: string;
  username: string;
  userIdForSrp: string;
  password: string;
  aHex: string;
  srpB: string;
  salt: string;
  secretBlock: string;
}): Promise<Captured> {
  const captured: Captured = {};
  const spy = vi
    .spyOn(AuthenticationHelper.prototype, 'generateRandomSmallA')
    .mockImplementation(() => new BigInteger(input.aHex, 16));
  try {
    const pool = new CognitoUserPool({ UserPoolId: input.poolId, ClientId: 'client123' });
    const user = new CognitoUser({ Username: input.username, Pool: pool });
    // The network client: answer InitiateAuth with the challenge, capture RespondToAuthChallenge.
    (user as unknown as { client: unknown }).client = {
      request(
        operation: string,
        params: Record<string, Record<string, string>>,
        callback: (e: unknown, d?: unknown) => void,
      ) {
        if (operation === 'InitiateAuth') {
          captured.srpA = params.AuthParameters?.SRP_A;
          callback(null, {
            ChallengeName: 'PASSWORD_VERIFIER',
            ChallengeParameters: {
              SRP_B: input.srpB,
              SALT: input.salt,
              SECRET_BLOCK: input.secretBlock,
              USER_ID_FOR_SRP: input.userIdForSrp,
              USERNAME: input.userIdForSrp,
            },
          });
        } else {
          captured.responses = params.ChallengeResponses;
          callback(new Error('captured'));
        }
      },
    };
    await new Promise<void>((resolve) => {
      user.authenticateUser(new AuthenticationDetails({ Username: input.username, Password: input.password }), {
        onSuccess: () => resolve(),
        onFailure: () => resolve(),
      });
    });
  } finally {
    spy.mockRestore();
  }
  return captured;
}

const N = BigInt(
  '0xFFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF',
);

afterEach(() => {
  vi.useRealTimers();
});

describe("Cognito SRP: our client computes what AWS's amazon-cognito-identity-js sends", () => {
  // Inputs that exercise the padding rules: a salt and B with the top bit set (00 prefix) and with leading
  // zero nibbles (odd-length hex once parsed), a user ID like Cognito's (a UUID sub), non-ASCII passwords.
  const cases = [
    {
      name: 'salt and B with the top bit set',
      salt: 'f3a1c2d4e5f60718293a4b5c6d7e8f90',
      b: modPow(2n, BigInt(`0x${'c7'.repeat(64)}`), N),
      password: 'Correct-Horse-42!',
      time: '2026-11-06T09:05:03Z',
    },
    {
      name: 'salt with leading zero nibbles and a non-ASCII password',
      salt: '000b1c2d3e4f',
      b: modPow(3n, BigInt(`0x${'5a'.repeat(100)}`), N),
      password: 'Pässwörd-Ünïcødé-€1',
      time: '2026-01-31T23:59:59Z',
    },
    {
      name: 'random values',
      salt: randomBytes(16).toString('hex'),
      b: BigInt(`0x${randomBytes(384).toString('hex')}`) % N,
      password: `P-${randomBytes(12).toString('base64')}`,
      time: '2026-11-26T11:07:04Z',
    },
  ];

  for (const c of cases) {
    it(`gives the same SRP_A and PASSWORD_CLAIM_SIGNATURE (${c.name})`, async () => {
      // Arrange
      const poolId = 'eu-west-1_AbCdEf123';
      const aHex = randomBytes(128).toString('hex');
      const userIdForSrp = '7c5e2a10-1b2c-4d3e-8f90-a1b2c3d4e5f6';
      const secretBlock = randomBytes(64).toString('base64');
      const srpB = c.b.toString(16);
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date(c.time));
      // Act
      const aws = await awsClientAnswer({
        poolId,
        username: 'alice@example.com',
        userIdForSrp,
        password: c.password,
        aHex,
        srpB,
        salt: c.salt,
        secretBlock,
      });
      const ours = new CognitoSrpSession(poolId, BigInt(`0x${aHex}`));
      const claim = ours.passwordClaim({ srpB, salt: c.salt, secretBlock, userIdForSrp }, c.password, new Date(c.time));
      // Assess
      expect(aws.srpA).toBe(ours.srpA);
      expect(aws.responses?.TIMESTAMP).toBe(claim.TIMESTAMP);
      expect(aws.responses?.PASSWORD_CLAIM_SECRET_BLOCK).toBe(claim.PASSWORD_CLAIM_SECRET_BLOCK);
      expect(aws.responses?.USERNAME).toBe(userIdForSrp);
      expect(claim.PASSWORD_CLAIM_SIGNATURE).toMatch(/^[A-Za-z0-9+/]{43}=$/);
      expect(aws.responses?.PASSWORD_CLAIM_SIGNATURE).toBe(claim.PASSWORD_CLAIM_SIGNATURE);
    });
  }

  it('gives a different signature for a different password (the comparison can fail)', async () => {
    // Arrange
    const poolId = 'us-east-1_Pool9';
    const aHex = randomBytes(128).toString('hex');
    const challenge = {
      srpB: modPow(2n, 12345678901234567890n, N).toString(16),
      salt: 'abcdef0123456789',
      secretBlock: randomBytes(32).toString('base64'),
      userIdForSrp: 'bob',
    };
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-11-26T10:00:00Z'));
    // Act
    const aws = await awsClientAnswer({ poolId, username: 'bob', ...challenge, aHex, password: 'Right-Password-1' });
    const ours = new CognitoSrpSession(poolId, BigInt(`0x${aHex}`)).passwordClaim(
      challenge,
      'Wrong-Password-1',
      new Date('2026-11-26T10:00:00Z'),
    );
    // Assess
    expect(aws.responses?.PASSWORD_CLAIM_SIGNATURE).toBeDefined();
    expect(aws.responses?.PASSWORD_CLAIM_SIGNATURE).not.toBe(ours.PASSWORD_CLAIM_SIGNATURE);
  });
});

describe('Cognito SRP helpers', () => {
  it('pads hex to even length and prefixes 00 when the top bit is set', () => {
    expect(padHex(0xabcn)).toBe('0abc');
    expect(padHex(0x8123n)).toBe('008123');
    expect(padHex(0x7fn)).toBe('7f');
  });

  it("writes Cognito's TIMESTAMP with an unpadded day and padded clock", () => {
    expect(cognitoTimestamp(new Date('2026-03-05T04:03:02Z'))).toBe('Thu Mar 5 04:03:02 UTC 2026');
  });

  it('refuses a server B that is 0 mod N (SRP-6a abort rule)', () => {
    const session = new CognitoSrpSession('eu-west-1_X1');
    expect(() =>
      session.passwordClaim(
        { srpB: N.toString(16), salt: '01', secretBlock: 'AA==', userIdForSrp: 'u' },
        'p',
        new Date(),
      ),
    ).toThrow(/SRP_B = 0 mod N/);
  });
});
