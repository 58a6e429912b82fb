/**
 * The Signer port and the one JWS assembler every signing backend shares.
 * Backends (PEM key object, KMS) only turn signing-input bytes into signature bytes.
 */
import { sign as cryptoSign, type KeyObject } from 'node:crypto';

/** JWS algorithms a signer may produce. Qlik's JWT IdP takes RS256 only; OAuth client assertions also RS512/ES384. */
export type JwsAlgorithm = 'RS256' | 'RS384' | 'RS512' | 'ES256' | 'ES384';

/** Signs JWS signing input with one key. */
export interface Signer {
  readonly alg: JwsAlgorithm;
  readonly kid: string;
  /** Returns the raw JWS signature (for ECDSA: fixed-length `r||s`, not DER). */
  sign(signingInput: Uint8Array): Promise<Uint8Array>;
}

/** A signer together with the public facts about its key. */
export interface ActiveSigningKey extends Signer {
  readonly publicKey: KeyObject;
  /** PEM X.509 certificate for the Qlik IdP, when the key store holds one. */
  readonly certificatePem?: string;
  /** Issuer stored beside the key (rotation writes it); when absent, the configured issuer is used. */
  readonly issuer?: string;
  /** Makes a self-signed X.509 certificate for this key (the Qlik console wants one). */
  createCertificate?(options?: { commonName?: string; validityDays?: number }): Promise<string>;
}

/** Yields the key to sign with now. Rotation-aware sources may return a different key later. */
export interface SignerSource {
  current(): Promise<ActiveSigningKey>;
  /**
   * The key `current()` would resolve to right now, when the source holds it fresh in memory; otherwise
   * undefined (then call `current()`). Lets the per-token path skip a promise and an await: after an RSA
   * signature the CPU caches are cold and every promise reaction costs microseconds (docs/performance.md).
   */
  ready?(): ActiveSigningKey | undefined;
}

const HASH_OF: Record<JwsAlgorithm, string> = {
  RS256: 'sha256',
  RS384: 'sha384',
  RS512: 'sha512',
  ES256: 'sha256',
  ES384: 'sha384',
};

/**
 * A signer over a cached node:crypto private key. The key object is parsed once (when the secret
 * changes), so a signature costs one RSA operation and no PEM parsing.
 */
export function createKeyObjectSigner(privateKey: KeyObject, kid: string, alg: JwsAlgorithm): Signer {
  const hash = HASH_OF[alg];
  // JWS wants ECDSA signatures as r||s (RFC 7518 §3.4), which node calls ieee-p1363.
  const key = alg.startsWith('ES') ? { key: privateKey, dsaEncoding: 'ieee-p1363' as const } : privateKey;
  const signNow = (signingInput: Uint8Array) => cryptoSign(hash, signingInput, key);
  const sign: LocalSign = Object.assign(async (signingInput: Uint8Array) => signNow(signingInput), {
    [SIGN_NOW]: signNow,
  });
  return { alg, kid, sign };
}

/**
 * The synchronous form of a key-object signer's `sign`, kept on that very function: the JWS assembler calls
 * it directly and saves a promise and an await per token. Kept on the function, not the signer, so a signer
 * copied with another `sign` (a wrapper, a stub) is never bypassed: its `sign` has no such property. (A
 * property look-up rather than a WeakMap probe on the per-token path.)
 */
const SIGN_NOW = Symbol('signNow');
type LocalSign = Signer['sign'] & { readonly [SIGN_NOW]?: (signingInput: Uint8Array) => Uint8Array };

function localSignerOf(signer: Signer): ((signingInput: Uint8Array) => Uint8Array) | undefined {
  return (signer.sign as LocalSign)[SIGN_NOW];
}

/** Each signer's encoded JOSE header, made once per signer object instead of per token. */
const encodedHeaders = new WeakMap<
  Signer,
  { readonly alg: JwsAlgorithm; readonly kid: string; readonly encoded: string }
>();

function encodeHeader(signer: Signer): string {
  const { alg, kid } = signer;
  const cached = encodedHeaders.get(signer);
  // alg and kid are compared too: a signer is an interface, and nothing stops an implementation changing them.
  if (cached !== undefined && cached.alg === alg && cached.kid === kid) return cached.encoded;
  const encoded = Buffer.from(JSON.stringify({ alg, kid, typ: 'JWT' })).toString('base64url');
  encodedHeaders.set(signer, { alg, kid, encoded });
  return encoded;
}

function signingInputOf(payload: object, signer: Signer): string {
  return `${encodeHeader(signer)}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
}

function compact(signingInput: string, signature: Uint8Array): string {
  const encoded = Buffer.isBuffer(signature)
    ? signature.toString('base64url')
    : Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString('base64url');
  return `${signingInput}.${encoded}`;
}

/**
 * Assembles and signs a compact JWS (`header.payload.signature`) with header `{alg, kid, typ: "JWT"}`.
 * The one place a token is put together, for every backend.
 */
export async function signCompactJws(payload: object, signer: Signer): Promise<string> {
  const signingInput = signingInputOf(payload, signer);
  // The signing input is base64url, i.e. ASCII: latin1 is the same bytes as UTF-8, without the UTF-8 encoder.
  const bytes = Buffer.from(signingInput, 'latin1');
  const signNow = localSignerOf(signer);
  return compact(signingInput, signNow !== undefined ? signNow(bytes) : await signer.sign(bytes));
}

/**
 * {@link signCompactJws} without a promise, for a signer made by {@link createKeyObjectSigner} (its key is in
 * this process); undefined for any other signer (KMS, a wrapper, a stub), which must go through
 * `signCompactJws`. The same token, byte for byte.
 */
export function signCompactJwsNow(payload: object, signer: Signer): string | undefined {
  const signNow = localSignerOf(signer);
  if (signNow === undefined) return undefined;
  const signingInput = signingInputOf(payload, signer);
  return compact(signingInput, signNow(Buffer.from(signingInput, 'latin1')));
}
