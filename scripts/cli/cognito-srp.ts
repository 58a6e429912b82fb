/**
 * The client side of Amazon Cognito's USER_SRP_AUTH flow: SRP-6a over the 3072-bit group of RFC 5054
 * (appendix A) with SHA-256, in Cognito's variant (what `amazon-cognito-identity-js`'s AuthenticationHelper and
 * CognitoUser compute; test/unit/cli/cognito-srp.test.ts proves ours equal to theirs for the same inputs):
 *
 * - k = H(N | g), u = H(A | B), x = H(salt | H(poolName | userId | ":" | password)), with every number
 *   written as "padded hex" (even length, a leading 00 when the top bit is set, so it reads as positive);
 * - S = (B - k·g^x)^(a + u·x) mod N;
 * - the key is HKDF-SHA-256(ikm = S, salt = u, info = "Caldera Derived Key"), first 16 bytes;
 * - PASSWORD_CLAIM_SIGNATURE = base64(HMAC-SHA-256(key, poolName | userId | SECRET_BLOCK bytes | TIMESTAMP)),
 *   with TIMESTAMP as `ddd MMM D HH:mm:ss UTC YYYY` (day not zero-padded).
 *
 * Sources: InitiateAuth with AuthFlow USER_SRP_AUTH takes USERNAME and SRP_A and answers the PASSWORD_VERIFIER
 * challenge (https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_InitiateAuth.html);
 * its response carries PASSWORD_CLAIM_SIGNATURE, PASSWORD_CLAIM_SECRET_BLOCK and TIMESTAMP "after the client-side
 * SRP calculations" (https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_RespondToAuthChallenge.html).
 * AWS documents no formula for those calculations; the formula above is AWS's own client's, pinned as a
 * devDependency and compared in tests. Plain node:crypto and BigInt: the packaged CLI has no runtime dependency.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';

/** RFC 5054 appendix A, 3072-bit group (the N AWS's client uses). */
const N = BigInt(
  '0x' +
    'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD' +
    'EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED' +
    'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F' +
    '83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B' +
    'E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510' +
    '15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7' +
    'ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C' +
    'BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF',
);
const g = 2n;

/** A number as Cognito hashes it: hex of even length, with `00` in front when the top bit is set. */
export function padHex(value: bigint): string {
  if (value < 0n) throw new RangeError('padHex: negative numbers do not occur in this protocol');
  let hex = value.toString(16);
  if (hex.length % 2 !== 0) hex = `0${hex}`;
  return /^[89a-f]/i.test(hex) ? `00${hex}` : hex;
}

const sha256Hex = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
const hexHash = (hex: string) => sha256Hex(Buffer.from(hex, 'hex'));

/** base^exponent mod modulus, square and multiply (BigInt has no built-in modPow). */
export function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = ((base % modulus) + modulus) % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

const k = BigInt(`0x${hexHash(padHex(N) + padHex(g))}`);

/** Cognito's TIMESTAMP for PASSWORD_VERIFIER: `ddd MMM D HH:mm:ss UTC YYYY`, in UTC, day not zero-padded. */
export function cognitoTimestamp(date: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const two = (n: number) => String(n).padStart(2, '0');
  return `${days[date.getUTCDay()]} ${months[date.getUTCMonth()]} ${date.getUTCDate()} ${two(date.getUTCHours())}:${two(
    date.getUTCMinutes(),
  )}:${two(date.getUTCSeconds())} UTC ${date.getUTCFullYear()}`;
}

/** The server's PASSWORD_VERIFIER challenge parameters this computation needs. */
export interface PasswordVerifierChallenge {
  /** SRP_B, hex. */
  readonly srpB: string;
  /** SALT, hex. */
  readonly salt: string;
  /** SECRET_BLOCK, base64 (sent back unchanged, and signed). */
  readonly secretBlock: string;
  /** USER_ID_FOR_SRP: the user's name as Cognito hashed it (not necessarily what was typed). */
  readonly userIdForSrp: string;
}

/** One SRP session: a fresh private `a` and its public `A` (SRP_A). */
export class CognitoSrpSession {
  readonly #a: bigint;
  /** SRP_A = g^a mod N. */
  readonly A: bigint;
  readonly #poolName: string;

  /**
   * @param userPoolId e.g. `eu-west-1_AbCdEf123`; the part after `_` is the "pool name" Cognito hashes.
   * @param smallA the private exponent; only tests pass one (to compare with AWS's client), otherwise 128 random bytes.
   */
  constructor(userPoolId: string, smallA?: bigint) {
    const poolName = userPoolId.split('_')[1];
    if (poolName === undefined || poolName === '') throw new RangeError(`not a user pool ID: ${userPoolId}`);
    this.#poolName = poolName;
    // 1024 random bits, as AWS's client draws (N is 3072 bits, so no reduction is needed).
    this.#a = smallA ?? BigInt(`0x${randomBytes(128).toString('hex')}`);
    this.A = modPow(g, this.#a, N);
    // SRP-6a: the client aborts if A = 0 mod N (cannot happen with 1 < a < N, checked anyway).
    if (this.A % N === 0n) throw new RangeError('SRP: A mod N is 0');
  }

  /** SRP_A as Cognito expects it in InitiateAuth's AuthParameters (hex). */
  get srpA(): string {
    return this.A.toString(16);
  }

  /** The 16-byte key both sides derive (exposed for tests). */
  passwordAuthenticationKey(challenge: PasswordVerifierChallenge, password: string): Buffer {
    const B = BigInt(`0x${challenge.srpB}`);
    // SRP-6a safety checks: a server value B = 0 mod N, or u = 0, would let anyone pass.
    if (B % N === 0n) throw new RangeError('SRP: the server sent SRP_B = 0 mod N');
    const u = BigInt(`0x${hexHash(padHex(this.A) + padHex(B))}`);
    if (u === 0n) throw new RangeError('SRP: u is 0');
    const salt = BigInt(`0x${challenge.salt}`);
    const identityHash = sha256Hex(`${this.#poolName}${challenge.userIdForSrp}:${password}`);
    const x = BigInt(`0x${hexHash(padHex(salt) + identityHash)}`);
    const base = (((B - k * modPow(g, x, N)) % N) + N) % N;
    const S = modPow(base, this.#a + u * x, N);
    // HKDF-SHA-256 (RFC 5869) with one output block: PRK = HMAC(u, S); OKM = HMAC(PRK, info | 0x01)[0..16).
    const prk = createHmac('sha256', Buffer.from(padHex(u), 'hex'))
      .update(Buffer.from(padHex(S), 'hex'))
      .digest();
    return createHmac('sha256', prk)
      .update(Buffer.concat([Buffer.from('Caldera Derived Key', 'utf8'), Buffer.from([1])]))
      .digest()
      .subarray(0, 16);
  }

  /** PASSWORD_VERIFIER's ChallengeResponses signature fields for this password at `now`. */
  passwordClaim(
    challenge: PasswordVerifierChallenge,
    password: string,
    now: Date,
  ): { PASSWORD_CLAIM_SIGNATURE: string; PASSWORD_CLAIM_SECRET_BLOCK: string; TIMESTAMP: string } {
    const key = this.passwordAuthenticationKey(challenge, password);
    const timestamp = cognitoTimestamp(now);
    const signature = createHmac('sha256', key)
      .update(
        Buffer.concat([
          Buffer.from(this.#poolName, 'utf8'),
          Buffer.from(challenge.userIdForSrp, 'utf8'),
          Buffer.from(challenge.secretBlock, 'base64'),
          Buffer.from(timestamp, 'utf8'),
        ]),
      )
      .digest('base64');
    return {
      PASSWORD_CLAIM_SIGNATURE: signature,
      PASSWORD_CLAIM_SECRET_BLOCK: challenge.secretBlock,
      TIMESTAMP: timestamp,
    };
  }
}
