/** TOTP (RFC 6238) against the RFC's own Appendix B vectors, and the 6-digit codes Cognito uses. */
import { describe, expect, it } from 'vitest';
import { base32Decode, otpauthUri, totp } from '../../../scripts/cli/totp.js';

// RFC 6238 Appendix B: SHA-1 seed "12345678901234567890" (ASCII), T0 = 0, X = 30, 8 digits.
const seed = Buffer.from('12345678901234567890', 'ascii');
const vectors: ReadonlyArray<readonly [number, string]> = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

describe('TOTP (RFC 6238)', () => {
  for (const [time, code] of vectors)
    it(`gives Appendix B's SHA-1 code ${code} at T = ${time}`, () => {
      expect(totp(seed, time, { digits: 8 })).toBe(code);
    });

  it('gives the last six digits of the same truncation for 6-digit codes (what Cognito asks for)', () => {
    for (const [time, code] of vectors) expect(totp(seed, time)).toBe(code.slice(2));
  });

  it('keeps leading zeros (a code is a string of exactly six digits)', () => {
    // Act: T = 1111111109 gives 07081804 in 8 digits, so 081804 in 6.
    expect(totp(seed, 1111111109)).toBe('081804');
  });

  it('decodes base32 secrets as authenticator apps show them (case, spaces, padding)', () => {
    // RFC 4648 section 10 test vectors.
    expect(base32Decode('MZXW6YTBOI======').toString()).toBe('foobar');
    expect(base32Decode('mzxw 6ytb oi').toString()).toBe('foobar');
    expect(base32Decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ')).toEqual(seed);
  });

  it('refuses a secret that is not base32, naming the bad character', () => {
    expect(() => base32Decode('ABC1')).toThrow(/not base32.*"1"/);
  });

  it('writes the otpauth URI an authenticator app reads', () => {
    expect(otpauthUri('JBSW Y3DP', 'alice@example.com', 'qtv eu-west-1_Ab')).toBe(
      'otpauth://totp/qtv%20eu-west-1_Ab:alice%40example.com?secret=JBSWY3DP&issuer=qtv%20eu-west-1_Ab',
    );
  });
});
