/**
 * TOTP (RFC 6238) over HOTP (RFC 4226), as Amazon Cognito's software token MFA uses it: the secret is the
 * base32 `SecretCode` AssociateSoftwareToken returns, codes are 6 digits, HMAC-SHA-1, 30-second steps
 * (https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-settings-mfa-totp.html: "a six-digit
 * TOTP"; an authenticator app's defaults are SHA-1 / 30 s, which the otpauth URI below leaves implicit).
 * Tested with RFC 6238 Appendix B's vectors and against moto's TOTP check (pyca/cryptography's TOTP).
 */
import { createHmac } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Decodes RFC 4648 base32; case, spaces and `=` padding are ignored (apps show secrets in groups). */
export function base32Decode(text: string): Buffer {
  const clean = text.replace(/[\s=-]/g, '').toUpperCase();
  if (clean === '') throw new RangeError('the TOTP secret is empty');
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new RangeError(`the TOTP secret is not base32 (A-Z, 2-7): found ${JSON.stringify(char)}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** HOTP (RFC 4226 section 5.3, dynamic truncation) for a counter. */
export function hotp(key: Buffer, counter: bigint, digits = 6, algorithm: 'sha1' | 'sha256' | 'sha512' = 'sha1') {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(counter);
  const mac = createHmac(algorithm, key).update(message).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** Options for {@link totp}. */
export interface TotpOptions {
  readonly digits?: number;
  readonly stepSeconds?: number;
  readonly algorithm?: 'sha1' | 'sha256' | 'sha512';
}

/** The TOTP code (RFC 6238 section 4) of `key` at `unixSeconds`. */
export function totp(key: Buffer, unixSeconds: number, options: TotpOptions = {}): string {
  const step = BigInt(Math.floor(unixSeconds / (options.stepSeconds ?? 30)));
  return hotp(key, step, options.digits ?? 6, options.algorithm ?? 'sha1');
}

/** The 30-second step number of `unixSeconds` (to avoid sending one code twice). */
export const totpStep = (unixSeconds: number, stepSeconds = 30) => Math.floor(unixSeconds / stepSeconds);

/**
 * The `otpauth://totp/...` URI authenticator apps read (Google Authenticator's Key Uri Format, which Cognito's
 * docs point to for QR codes); issuer and account are labels only.
 */
export function otpauthUri(secret: string, account: string, issuer: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  return `otpauth://totp/${label}?secret=${secret.replace(/\s/g, '')}&issuer=${encodeURIComponent(issuer)}`;
}
