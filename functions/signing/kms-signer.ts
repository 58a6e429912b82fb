/**
 * The KMS adapter of the Signer port: the private key never leaves KMS. The key's public key and
 * spec are read once per container (`GetPublicKey`); each token costs exactly one `Sign` call
 * (MessageType RAW). Faults are mapped to typed errors: throttling and 5xx are retried with
 * jittered backoff inside a small budget, then become 503 with Retry-After; a disabled key, a wrong
 * key and an access denial are operator faults (500) whose messages are logged, never shown.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  GetPublicKeyCommand,
  type GetPublicKeyCommandOutput,
  type KMSClient,
  SignCommand,
  type SigningAlgorithmSpec,
} from '@aws-sdk/client-kms';
import {
  SigningBackendThrottledError,
  SigningKeyAccessDeniedError,
  SigningKeyDisabledError,
  SigningKeyInvalidError,
  SigningKeyUnavailableError,
  TokenVendingError,
} from '../errors.js';
import { describeErrorForLog } from '../http/lambda-http.js';
import type { Clock } from '../runtime/clock.js';
import { systemClock } from '../runtime/clock.js';
import { derToJoseSignature, ECDSA_COMPONENT_BYTES } from './ecdsa.js';
import type { ActiveSigningKey, Signer, SignerSource } from './signer.js';
import { keyThumbprint } from './signing-key.js';

/**
 * JWS algorithms the KMS adapter makes, and the KMS signing algorithm behind each.
 * RS256 is the one algorithm Qlik documents for its JWT IdP; RS512 and ES384 are the other two
 * Qlik accepts for OAuth private-key-JWT client assertions (see /work/shared/docs/qlik-auth.md).
 * KMS algorithm names: https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html
 */
export const KMS_SIGNING_ALGORITHMS = {
  RS256: 'RSASSA_PKCS1_V1_5_SHA_256',
  RS512: 'RSASSA_PKCS1_V1_5_SHA_512',
  ES384: 'ECDSA_SHA_384',
} as const satisfies Record<string, SigningAlgorithmSpec>;

/** A JWS algorithm the KMS adapter can produce. */
export type KmsJwsAlgorithm = keyof typeof KMS_SIGNING_ALGORITHMS;

/** KMS key specs each algorithm may use. RSA below 2048 bits does not exist in KMS; Qlik wants ≥ 2048. */
export const KMS_KEY_SPECS_FOR: Record<KmsJwsAlgorithm, readonly string[]> = {
  RS256: ['RSA_2048', 'RSA_3072', 'RSA_4096'],
  RS512: ['RSA_2048', 'RSA_3072', 'RSA_4096'],
  ES384: ['ECC_NIST_P384'],
};

/** What the signature will be used for; Qlik JWTs allow RS256 only. */
export type KmsSigningPurpose = 'qlik-jwt' | 'client-assertion';

/** Retry policy for KMS calls that fail transiently (throttling, 5xx, network). */
export interface KmsRetryOptions {
  /** Attempts in all, including the first. @default 3 */
  readonly maxAttempts?: number;
  /** Cap of the first backoff; doubles per attempt, full jitter. @default 50 */
  readonly baseDelayMs?: number;
  /** Total time an operation may spend before giving up (time spent waiting and in calls). @default 1000 */
  readonly budgetMs?: number;
  /** Source of jitter in [0, 1); injected by tests. @default Math.random */
  readonly random?: () => number;
  /** Waits; injected by tests. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Monotonic milliseconds; injected by tests. @default performance.now */
  readonly now?: () => number;
}

/** Default retry policy: small, because a browser is waiting for the token. */
export const DEFAULT_KMS_RETRY = { maxAttempts: 3, baseDelayMs: 50, budgetMs: 1000 } as const;

/** The public facts of a KMS key, read once. */
export interface KmsKeyInfo {
  /** The key's ARN as KMS resolved it (an alias is resolved once, so signatures match this public key). */
  readonly keyArn: string;
  /** KMS key spec, e.g. `RSA_2048`; derived from the public key when KMS omits it. */
  readonly keySpec: string;
  readonly keyUsage: string | undefined;
  readonly signingAlgorithms: readonly string[] | undefined;
  readonly publicKey: KeyObject;
}

type KmsFault = 'throttled' | 'transient' | 'disabled' | 'access-denied' | 'invalid' | 'other';

/** Sorts an SDK error by what the caller can do about it. */
export function classifyKmsError(error: unknown): KmsFault {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number }; $retryable?: { throttling?: boolean } };
  const name = e?.name ?? '';
  const status = e?.$metadata?.httpStatusCode;
  if (name === 'ThrottlingException' || e?.$retryable?.throttling === true || status === 429) return 'throttled';
  if (name === 'DisabledException' || name === 'KMSInvalidStateException') return 'disabled';
  if (name === 'AccessDeniedException' || status === 403) return 'access-denied';
  if (
    [
      'NotFoundException',
      'InvalidKeyUsageException',
      'InvalidArnException',
      'ValidationException',
      'UnsupportedOperationException',
      'IncorrectKeyException',
    ].includes(name)
  )
    return 'invalid';
  if (
    ['KMSInternalException', 'DependencyTimeoutException', 'KeyUnavailableException', 'TimeoutError'].includes(name) ||
    (status !== undefined && status >= 500) ||
    // No HTTP status at all: the request never got an answer (connection refused or reset).
    (status === undefined && error instanceof Error && !(error instanceof TokenVendingError))
  )
    return 'transient';
  return 'other';
}

function toTypedError(error: unknown, operation: string, keyId: string): TokenVendingError {
  if (error instanceof TokenVendingError) return error;
  const fault = classifyKmsError(error);
  const name = (error as { name?: string })?.name ?? 'Error';
  // Messages name the key for the operator's log; status >= 500 keeps them out of response bodies.
  switch (fault) {
    case 'throttled':
      return new SigningBackendThrottledError(`KMS ${operation} on ${keyId} was throttled after retries.`, {
        cause: error,
      });
    case 'transient':
      return new SigningKeyUnavailableError(`KMS ${operation} on ${keyId} failed after retries (${name}).`, {
        cause: error,
        retryAfterSeconds: 2,
      });
    case 'disabled':
      return new SigningKeyDisabledError(
        `KMS key ${keyId} is disabled or pending deletion (${name}): enable it, or configure another key.`,
        { cause: error },
      );
    case 'access-denied':
      return new SigningKeyAccessDeniedError(
        `This role may not call kms:${operation} on ${keyId}: grant kms:GetPublicKey and kms:Sign on the key.`,
        { cause: error },
      );
    case 'invalid':
      return new SigningKeyInvalidError(
        `KMS refused ${operation} on ${keyId} (${name}): check the key ID and that the key is an asymmetric SIGN_VERIFY key.`,
        { cause: error },
      );
    default:
      return new TokenVendingError('SIGNING_FAILED', 500, `KMS ${operation} on ${keyId} failed (${name}).`, {
        cause: error,
      });
  }
}

/**
 * Runs `call`, retrying throttling and transient faults with full-jitter exponential backoff while
 * the attempt count and the time budget allow, then throws a typed error.
 */
export async function withKmsRetry<T>(
  operation: string,
  keyId: string,
  call: () => Promise<T>,
  options: KmsRetryOptions = {},
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? DEFAULT_KMS_RETRY.maxAttempts;
  const baseDelayMs = options.baseDelayMs ?? DEFAULT_KMS_RETRY.baseDelayMs;
  const budgetMs = options.budgetMs ?? DEFAULT_KMS_RETRY.budgetMs;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = options.now ?? (() => performance.now());
  const started = now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const fault = classifyKmsError(error);
      const retryable = fault === 'throttled' || fault === 'transient';
      // Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): spreads retries of
      // many containers throttled at the same moment instead of synchronising them.
      const delay = Math.floor(random() * baseDelayMs * 2 ** (attempt - 1));
      if (!retryable || attempt >= maxAttempts || now() - started + delay > budgetMs)
        throw toTypedError(error, operation, keyId);
      await sleep(delay);
    }
  }
}

const EC_CURVE_SPEC: Record<string, string> = {
  prime256v1: 'ECC_NIST_P256',
  secp384r1: 'ECC_NIST_P384',
  secp521r1: 'ECC_NIST_P521',
  secp256k1: 'ECC_SECG_P256K1',
};

function keySpecOf(publicKey: KeyObject): string {
  const details = publicKey.asymmetricKeyDetails;
  if (publicKey.asymmetricKeyType === 'rsa') return `RSA_${details?.modulusLength ?? 0}`;
  if (publicKey.asymmetricKeyType === 'ec') return EC_CURVE_SPEC[details?.namedCurve ?? ''] ?? 'ECC_UNKNOWN';
  return (publicKey.asymmetricKeyType ?? 'unknown').toUpperCase();
}

/**
 * Reads a KMS key's public key and spec (`GetPublicKey`, retried on transient faults).
 * Call once per container. The key spec is taken from the public key itself when KMS's answer
 * lacks it (moto 5.2.1 omits `KeySpec`).
 * @throws a typed TokenVendingError (SIGNING_KEY_INVALID, SIGNING_KEY_DISABLED, SIGNING_KEY_ACCESS_DENIED, ...)
 */
export async function readKmsKeyInfo(client: KMSClient, keyId: string, retry?: KmsRetryOptions): Promise<KmsKeyInfo> {
  const response: GetPublicKeyCommandOutput = await withKmsRetry(
    'GetPublicKey',
    keyId,
    () => client.send(new GetPublicKeyCommand({ KeyId: keyId })),
    retry,
  );
  if (response.PublicKey === undefined)
    throw new SigningKeyInvalidError(`KMS returned no public key for ${keyId}: it is not an asymmetric key.`);
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(response.PublicKey), format: 'der', type: 'spki' });
  } catch {
    throw new SigningKeyInvalidError(`KMS returned a public key for ${keyId} that is not a DER SPKI key.`);
  }
  return {
    keyArn: response.KeyId ?? keyId,
    keySpec: keySpecOf(publicKey),
    keyUsage: response.KeyUsage,
    signingAlgorithms: response.SigningAlgorithms,
    publicKey,
  };
}

/**
 * Refuses, with the reason, a KMS key that cannot make `algorithm` for `purpose`.
 * @throws SigningKeyInvalidError
 */
export function assertKmsKeyCanSign(
  info: KmsKeyInfo,
  algorithm: KmsJwsAlgorithm,
  purpose: KmsSigningPurpose,
  keyId: string,
): void {
  if (info.keyUsage !== undefined && info.keyUsage !== 'SIGN_VERIFY')
    throw new SigningKeyInvalidError(
      `KMS key ${keyId} has key usage ${info.keyUsage}; signing needs an asymmetric key with key usage SIGN_VERIFY.`,
    );
  if (purpose === 'qlik-jwt' && algorithm !== 'RS256')
    throw new SigningKeyInvalidError(
      `Qlik Cloud's JWT identity provider accepts RS256 only, but ${algorithm} was configured for Qlik JWTs.`,
    );
  const specs = KMS_KEY_SPECS_FOR[algorithm];
  if (!specs.includes(info.keySpec)) {
    const why =
      purpose === 'qlik-jwt'
        ? "Qlik Cloud's JWT identity provider accepts RS256 only"
        : `${algorithm} client assertions need it`;
    throw new SigningKeyInvalidError(
      `KMS key ${keyId} is ${info.keySpec}, but ${why}: use a SIGN_VERIFY key with spec ${specs.join(', ')}.`,
    );
  }
  const kmsAlgorithm = KMS_SIGNING_ALGORITHMS[algorithm];
  if (info.signingAlgorithms !== undefined && !info.signingAlgorithms.includes(kmsAlgorithm))
    throw new SigningKeyInvalidError(`KMS key ${keyId} does not offer the signing algorithm ${kmsAlgorithm}.`);
}

/** Options of {@link createKmsSigner}. */
export interface KmsSignerOptions {
  /** Key ARN (preferred: stable even if an alias moves) or ID or alias. */
  readonly keyId: string;
  readonly alg: KmsJwsAlgorithm;
  readonly kid: string;
  readonly retry?: KmsRetryOptions;
}

/**
 * A Signer that makes each signature with exactly one KMS `Sign` call (plus retries on transient
 * faults). MessageType RAW: KMS hashes the message itself; the JWS signing input is far below the
 * 4096-byte RAW limit, and moto 5.2.1 mishandles DIGEST.
 */
export function createKmsSigner(client: KMSClient, options: KmsSignerOptions): Signer {
  const signingAlgorithm = KMS_SIGNING_ALGORITHMS[options.alg];
  const componentBytes = options.alg === 'ES384' ? ECDSA_COMPONENT_BYTES.ES384 : undefined;
  return {
    alg: options.alg,
    kid: options.kid,
    sign: async (signingInput) => {
      const response = await withKmsRetry(
        'Sign',
        options.keyId,
        () =>
          client.send(
            new SignCommand({
              KeyId: options.keyId,
              Message: signingInput,
              MessageType: 'RAW',
              SigningAlgorithm: signingAlgorithm,
            }),
          ),
        options.retry,
      );
      if (response.Signature === undefined)
        throw new TokenVendingError('SIGNING_FAILED', 500, `KMS Sign on ${options.keyId} returned no signature.`);
      // KMS returns ECDSA as DER; JWS (and WebCrypto) want fixed-length r||s.
      return componentBytes === undefined ? response.Signature : derToJoseSignature(response.Signature, componentBytes);
    },
  };
}

/** Options of {@link loadKmsSigningKey}. */
export interface LoadKmsSigningKeyOptions {
  /** Key ID, ARN or alias. */
  readonly keyId: string;
  /** @default 'RS256' */
  readonly algorithm?: KmsJwsAlgorithm;
  /** @default 'qlik-jwt' (RS256 only) */
  readonly purpose?: KmsSigningPurpose;
  /** Key ID in the JWS header; default the RFC 7638 thumbprint of the public key. */
  readonly kid?: string;
  readonly retry?: KmsRetryOptions;
}

/**
 * Reads a KMS key once and returns a ready signing key (Signer + public key + certificate maker).
 * Refuses a key that cannot make what it is configured for, with the reason.
 */
export async function loadKmsSigningKey(
  client: KMSClient,
  options: LoadKmsSigningKeyOptions,
): Promise<ActiveSigningKey> {
  const algorithm = options.algorithm ?? 'RS256';
  const info = await readKmsKeyInfo(client, options.keyId, options.retry);
  assertKmsKeyCanSign(info, algorithm, options.purpose ?? 'qlik-jwt', options.keyId);
  const kid = options.kid ?? (await keyThumbprint(info.publicKey));
  const signer = createKmsSigner(client, {
    keyId: info.keyArn,
    alg: algorithm,
    kid,
    ...(options.retry !== undefined ? { retry: options.retry } : {}),
  });
  return {
    ...signer,
    publicKey: info.publicKey,
    // Loaded lazily, and only in bundles that make certificates (runtime/bundle-flags.ts): certificate
    // code (x509, its ASN.1 stack, tsyringe) stays out of the token routes entirely.
    ...(typeof QTV_BUNDLE_CERTIFICATES === 'undefined' || QTV_BUNDLE_CERTIFICATES
      ? {
          createCertificate: async (certOptions?: { commonName?: string; validityDays?: number }) =>
            (await import('./certificates.js')).createCertificateWithSigner({
              publicKey: info.publicKey,
              signer,
              ...certOptions,
            }),
        }
      : {}),
  };
}

/** Options of {@link kmsSignerSource}. */
export interface KmsSignerSourceOptions extends LoadKmsSigningKeyOptions {
  readonly logger: { error(message: string, extra: Record<string, unknown>): void };
  readonly clock?: Clock;
  /**
   * After a permanent refusal (disabled, wrong key, access denied), the same error is served
   * without asking KMS again for this long, then the key is read again (an operator may fix it).
   * @default 60000
   */
  readonly recheckAfterMs?: number;
}

/**
 * A SignerSource over one KMS key: reads the key once per container and serves it for the
 * container's life. A refusal is logged once and served to every caller until the recheck time;
 * a transient failure is logged and retried by the next caller.
 */
export function kmsSignerSource(client: KMSClient, options: KmsSignerSourceOptions): SignerSource {
  const clock = options.clock ?? systemClock;
  const recheckAfterMs = options.recheckAfterMs ?? 60_000;
  let pending: Promise<ActiveSigningKey> | undefined;
  let failedAtMs: number | undefined;
  return {
    current: () => {
      if (pending !== undefined && failedAtMs !== undefined && clock.nowMs() - failedAtMs >= recheckAfterMs) {
        pending = undefined;
        failedAtMs = undefined;
      }
      if (pending === undefined) {
        const attempt = loadKmsSigningKey(client, options).catch((error: unknown) => {
          const typed = toTypedError(error, 'GetPublicKey', options.keyId);
          const transient = typed.status === 503;
          options.logger.error(transient ? 'KMS signing key not reachable' : 'KMS signing key refused', {
            keyId: options.keyId,
            ...describeErrorForLog(typed),
          });
          if (transient) pending = undefined;
          else failedAtMs = clock.nowMs();
          throw typed;
        });
        pending = attempt;
        return attempt;
      }
      return pending;
    },
  };
}
