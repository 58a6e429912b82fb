/**
 * Sealing: authenticated encryption (AES-256-GCM, node:crypto) of small JSON payloads that travel
 * through the browser (the login state cookie with the PKCE verifier, the session cookie with tokens),
 * so the proxy keeps no server-side storage. A sealed value can be neither read nor altered without
 * the key, and a value sealed for one purpose cannot be opened as another (the purpose is the AAD).
 *
 * Keys: HKDF-SHA256 (RFC 5869) over each configured key material (a dedicated sealing secret, or the
 * client secret(s) when none is configured). The first key seals; every key opens, so a rotation of the
 * material keeps cookies sealed under the previous one readable until they expire.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
// Fixed, public HKDF salt and info: they separate these keys from any other use of the same material.
const HKDF_SALT = Buffer.from('qlik-token-vending/oauth-sealing');
const HKDF_INFO = Buffer.from('aes-256-gcm v1');

/** What a sealed value is for; bound into the ciphertext as additional authenticated data. */
export type SealPurpose = 'oauth-state' | 'oauth-session' | 'oauth-refresh-grace' | 'oauth-refresh-token';

/** Derives one 256-bit AES key per key material (HKDF-SHA256). */
export function deriveSealingKeys(materials: readonly string[]): Buffer[] {
  if (materials.length === 0) throw new TypeError('sealing needs at least one key material');
  return materials.map((material) => Buffer.from(hkdfSync('sha256', material, HKDF_SALT, HKDF_INFO, 32)));
}

/** Seals and opens JSON payloads with AES-256-GCM. */
export class Sealer {
  readonly #keys: readonly Buffer[];

  /** @param keys 32-byte keys; the first seals, all open. */
  constructor(keys: readonly Buffer[]) {
    if (keys.length === 0 || keys.some((key) => key.byteLength !== 32))
      throw new TypeError('a Sealer needs one or more 32-byte keys');
    this.#keys = keys;
  }

  /** Seals `payload` for `purpose`: `v1.<base64url(iv | ciphertext | tag)>`. */
  seal(purpose: SealPurpose, payload: unknown): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#keys[0]!, iv);
    cipher.setAAD(Buffer.from(purpose));
    const body = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
    return `${VERSION}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`;
  }

  /** Opens a sealed value; undefined when it is malformed, tampered with, or sealed for another purpose. */
  open(purpose: SealPurpose, sealed: string | undefined): unknown {
    if (sealed === undefined || !sealed.startsWith(`${VERSION}.`)) return undefined;
    const raw = Buffer.from(sealed.slice(VERSION.length + 1), 'base64url');
    if (raw.byteLength < IV_BYTES + TAG_BYTES + 1) return undefined;
    const iv = raw.subarray(0, IV_BYTES);
    const tag = raw.subarray(raw.byteLength - TAG_BYTES);
    const body = raw.subarray(IV_BYTES, raw.byteLength - TAG_BYTES);
    for (const key of this.#keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(purpose));
        decipher.setAuthTag(tag);
        const plain = Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
        return JSON.parse(plain) as unknown;
      } catch {
        // Wrong key (or tampered): try the next one.
      }
    }
    return undefined;
  }
}
