/**
 * ECDSA signature encodings. KMS (like OpenSSL) returns an ECDSA signature as a DER
 * `SEQUENCE { INTEGER r, INTEGER s }`; JWS wants the fixed-length concatenation `r||s`
 * (RFC 7518 §3.4), each integer left-padded to the curve's byte size.
 */

/** Byte length of one signature component (r or s) per JWS ECDSA algorithm. */
export const ECDSA_COMPONENT_BYTES = { ES256: 32, ES384: 48, ES512: 66 } as const;

/** Raised when bytes are not a well-formed DER ECDSA signature for the expected curve size. */
export class MalformedEcdsaSignatureError extends Error {
  readonly code = 'ERR_MALFORMED_ECDSA_SIGNATURE';
  constructor(message: string) {
    super(message);
    this.name = 'MalformedEcdsaSignatureError';
  }
}

function readLength(der: Uint8Array, offset: number): { length: number; next: number } {
  const first = der[offset];
  if (first === undefined) throw new MalformedEcdsaSignatureError('DER length is missing');
  if (first < 0x80) return { length: first, next: offset + 1 };
  // Long form: the low bits say how many length bytes follow. A P-521 signature needs 0x81 (one byte).
  const count = first & 0x7f;
  if (count === 0 || count > 2) throw new MalformedEcdsaSignatureError('DER length form is not supported');
  let length = 0;
  for (let i = 1; i <= count; i++) {
    const byte = der[offset + i];
    if (byte === undefined) throw new MalformedEcdsaSignatureError('DER length is truncated');
    length = (length << 8) | byte;
  }
  return { length, next: offset + 1 + count };
}

function readInteger(der: Uint8Array, offset: number, size: number): { value: Uint8Array; next: number } {
  if (der[offset] !== 0x02) throw new MalformedEcdsaSignatureError('expected a DER INTEGER');
  const { length, next } = readLength(der, offset + 1);
  if (length === 0 || next + length > der.length) throw new MalformedEcdsaSignatureError('DER INTEGER is truncated');
  let bytes = der.subarray(next, next + length);
  if ((bytes[0] ?? 0) & 0x80) throw new MalformedEcdsaSignatureError('ECDSA integers must be positive');
  // DER prepends 0x00 when the top bit is set, and drops leading zeros when the number is short:
  // strip every leading zero, then left-pad to the fixed size below.
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  bytes = bytes.subarray(start);
  if (bytes.length > size) throw new MalformedEcdsaSignatureError(`ECDSA integer is longer than ${size} bytes`);
  const value = new Uint8Array(size);
  value.set(bytes, size - bytes.length);
  return { value, next: next + length };
}

/**
 * Converts a DER ECDSA signature into the JWS form `r||s`, each `componentBytes` long
 * (48 for ES384).
 * @throws MalformedEcdsaSignatureError when the bytes are not a DER ECDSA signature of that size.
 */
export function derToJoseSignature(der: Uint8Array, componentBytes: number): Uint8Array {
  if (der[0] !== 0x30) throw new MalformedEcdsaSignatureError('expected a DER SEQUENCE');
  const { length, next } = readLength(der, 1);
  if (next + length !== der.length) throw new MalformedEcdsaSignatureError('DER SEQUENCE length does not match');
  const r = readInteger(der, next, componentBytes);
  const s = readInteger(der, r.next, componentBytes);
  if (s.next !== der.length) throw new MalformedEcdsaSignatureError('unexpected bytes after the DER SEQUENCE');
  const out = new Uint8Array(componentBytes * 2);
  out.set(r.value, 0);
  out.set(s.value, componentBytes);
  return out;
}
