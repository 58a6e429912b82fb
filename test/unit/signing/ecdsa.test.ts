import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { derToJoseSignature, MalformedEcdsaSignatureError } from '../../../functions/signing/ecdsa.js';

/** DER-encodes r and s (already minimal, positive big-endian) into an ECDSA-Sig-Value. */
function der(r: Uint8Array, s: Uint8Array): Uint8Array {
  const integer = (v: Uint8Array) => {
    let start = 0;
    while (start < v.length - 1 && v[start] === 0) start++;
    let body = v.subarray(start);
    if ((body[0] ?? 0) & 0x80) body = Uint8Array.from([0, ...body]);
    return Uint8Array.from([0x02, body.length, ...body]);
  };
  const content = Uint8Array.from([...integer(r), ...integer(s)]);
  const length = content.length < 0x80 ? [content.length] : [0x81, content.length];
  return Uint8Array.from([0x30, ...length, ...content]);
}

const filled = (length: number, value: number) => new Uint8Array(length).fill(value);

describe('Function: derToJoseSignature', () => {
  it('turns node DER signatures into the same r||s node makes for JWS, on many P-384 signatures', () => {
    // Prepare
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    for (let i = 0; i < 100; i++) {
      const message = Buffer.from(`message ${i}`);
      // Act
      const converted = derToJoseSignature(sign('sha384', message, privateKey), 48);
      // Assess: the r||s form verifies as ieee-p1363 with an independent implementation (OpenSSL)
      expect(converted).toHaveLength(96);
      expect(verify('sha384', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, converted)).toBe(true);
    }
  });

  it('drops the 0x00 that DER adds when the top bit of r or s is set', () => {
    const r = filled(48, 0xff);
    const s = filled(48, 0x80);
    const input = der(r, s);
    expect(input[3]).toBe(49); // 0x00 + 48 bytes
    expect(Buffer.from(derToJoseSignature(input, 48))).toEqual(Buffer.concat([r, s]));
  });

  it('left-pads a short r with zero bytes to the fixed length', () => {
    const r = Uint8Array.from([...filled(3, 0), ...filled(45, 0x11)]);
    const s = filled(48, 0x22);
    expect(Buffer.from(derToJoseSignature(der(r, s), 48))).toEqual(Buffer.concat([r, s]));
  });

  it('left-pads a short s with zero bytes to the fixed length', () => {
    const r = filled(48, 0x7f);
    const s = Uint8Array.from([...filled(1, 0), ...filled(47, 0x33)]);
    expect(Buffer.from(derToJoseSignature(der(r, s), 48))).toEqual(Buffer.concat([r, s]));
  });

  it('handles one-byte r and s', () => {
    const out = derToJoseSignature(Uint8Array.from([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02]), 48);
    expect(out[47]).toBe(1);
    expect(out[95]).toBe(2);
    expect(out.filter((b) => b !== 0)).toHaveLength(2);
  });

  it('reads the long DER length form that P-521 signatures use', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-521' });
    const publicKey = createPublicKey(privateKey);
    const message = Buffer.from('p521');
    const signature = sign('sha512', message, privateKey);
    const converted = derToJoseSignature(signature, 66);
    expect(verify('sha512', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, converted)).toBe(true);
  });

  it.each([
    ['an empty input', new Uint8Array()],
    ['no SEQUENCE tag', Uint8Array.from([0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01])],
    ['a SEQUENCE length that does not match', Uint8Array.from([0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01])],
    ['a missing INTEGER tag', Uint8Array.from([0x30, 0x06, 0x04, 0x01, 0x01, 0x02, 0x01, 0x01])],
    ['a zero-length INTEGER', Uint8Array.from([0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x01])],
    ['a negative INTEGER', Uint8Array.from([0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01])],
    ['a truncated s', Uint8Array.from([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x02, 0x01])],
    ['an r longer than the curve', der(filled(49, 0x01), filled(48, 0x01))],
  ])('refuses %s', (_name, input) => {
    expect(() => derToJoseSignature(input, 48)).toThrow(MalformedEcdsaSignatureError);
  });
});
