/**
 * Where a command's signing key comes from: `--key-file`, `--key`, `QTV_PRIVATE_KEY`, or
 * `--secret-id` (Secrets Manager, `AWS_ENDPOINT_URL` honoured by the SDK). Every path ends in the
 * shared reader (signingKeyFromSecret), so the CLI accepts exactly what the Lambdas accept.
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { TokenVendingError } from '../../functions/errors.js';
import { loadCliEnvironment } from '../../functions/runtime/config.js';
import { SecretsManagerStore } from '../../functions/secrets/secret-source.js';
import { loadKmsSigningKey } from '../../functions/signing/kms-signer.js';
import type { ActiveSigningKey } from '../../functions/signing/signer.js';
import { assertCertificateMatches, signingKeyFromSecret } from '../../functions/signing/signing-key.js';
import { CliError, EXIT, inputErrorFrom, readTextFile, upstreamError, usageError } from './support.js';

/** Flags that name a key source. */
export interface KeySourceFlags {
  readonly 'key-file'?: string;
  readonly key?: string;
  readonly 'secret-id'?: string;
  readonly kms?: string;
  readonly region?: string;
}

/** parseArgs options for {@link KeySourceFlags}. */
export const keySourceOptions = {
  'key-file': { type: 'string' },
  key: { type: 'string' },
  'secret-id': { type: 'string' },
  kms: { type: 'string' },
  region: { type: 'string' },
} as const;

/** A KMS client; region from `--region` or the SDK's own environment. */
export function kmsClient(region: string | undefined): KMSClient {
  return new KMSClient(region === undefined ? {} : { region });
}

/**
 * Maps the KMS adapter's typed errors to the CLI's: a key that cannot sign for Qlik (wrong spec or
 * usage, unknown ID) is an input error; disabled, denied or unreachable is an upstream one.
 */
export function kmsError(error: unknown, keyId: string): CliError {
  if (error instanceof CliError) return error;
  const cause = (error as { cause?: { message?: string } }).cause;
  if (/region is missing/i.test(String(cause?.message ?? (error as Error).message)))
    return usageError(`cannot use KMS key ${keyId}: no AWS region: set AWS_REGION or pass --region`);
  if (error instanceof TokenVendingError) {
    const message = error.message.replace(/\n\s*/g, ' ');
    return error.code === 'SIGNING_KEY_INVALID'
      ? usageError(message, { cause: error })
      : upstreamError(message, { cause: error });
  }
  return awsError(error, `cannot use KMS key ${keyId}`);
}

/** A Secrets Manager client; region from `--region` or the SDK's own environment. */
export function secretsManagerClient(region: string | undefined): SecretsManagerClient {
  return new SecretsManagerClient(region === undefined ? {} : { region });
}

/** Maps an AWS SDK failure to one line with a fix (exit 3; a missing region is a usage error). */
export function awsError(error: unknown, action: string): CliError {
  if (error instanceof CliError) return error;
  const name = (error as { name?: string }).name ?? 'Error';
  const message = String((error as Error).message ?? '');
  if (/region is missing/i.test(message))
    return usageError(`${action}: no AWS region: set AWS_REGION or pass --region`);
  if (name === 'ResourceNotFoundException')
    return upstreamError(
      `${action}: the secret does not exist (ResourceNotFoundException): check --secret-id, AWS_REGION and the account`,
    );
  if (name === 'AccessDeniedException' || name === 'UnrecognizedClientException')
    return upstreamError(
      `${action}: AWS refused the credentials (${name}): check AWS_PROFILE or the AWS_* credentials`,
    );
  const endpoint = loadCliEnvironment().awsEndpointUrl;
  // Network faults surface as a plain Error with a syscall code (ECONNREFUSED, ENOTFOUND): name that instead.
  const code = (error as { code?: string }).code;
  return upstreamError(
    `${action}: ${code ?? name}${endpoint ? ` at ${endpoint}` : ''}: check network access, AWS_ENDPOINT_URL and credentials`,
    { cause: error },
  );
}

/** Which source the flags name; exactly one is required (the environment counts when no flag is given). */
export function describeKeySource(flags: KeySourceFlags): 'key-file' | 'key' | 'secret-id' | 'kms' | 'env' | undefined {
  const given = (['key-file', 'key', 'secret-id', 'kms'] as const).filter((f) => flags[f] !== undefined);
  if (given.length > 1) throw usageError(`pass only one of ${given.map((f) => `--${f}`).join(', ')}`);
  if (given[0] !== undefined) return given[0];
  return loadCliEnvironment().privateKey === undefined ? undefined : 'env';
}

/**
 * Loads the signing key named by the flags.
 * @param overrides kid/issuer/certificate the caller wants in place of what the store holds.
 */
export async function loadSigningKey(
  flags: KeySourceFlags,
  overrides: { kid?: string; certificate?: string } = {},
): Promise<ActiveSigningKey> {
  const source = describeKeySource(flags);
  if (source === 'kms') {
    // The private key never leaves KMS: the shared adapter signs with one KMS Sign call per token.
    let key: ActiveSigningKey;
    try {
      key = await loadKmsSigningKey(kmsClient(flags.region), {
        keyId: flags.kms!,
        ...(overrides.kid !== undefined ? { kid: overrides.kid } : {}),
      });
    } catch (error) {
      throw kmsError(error, flags.kms!);
    }
    if (overrides.certificate === undefined) return key;
    try {
      assertCertificateMatches(overrides.certificate, key.publicKey);
    } catch (error) {
      return inputErrorFrom(error);
    }
    return { ...key, certificatePem: overrides.certificate };
  }
  let secret: string;
  switch (source) {
    case 'key-file':
      secret = readTextFile(flags['key-file']!, '--key-file', 'a PEM private key');
      break;
    case 'key':
      secret = flags.key!;
      break;
    case 'env':
      secret = loadCliEnvironment().privateKey!;
      break;
    case 'secret-id':
      try {
        secret = (await new SecretsManagerStore(secretsManagerClient(flags.region)).fetch(flags['secret-id']!)).value;
      } catch (error) {
        throw awsError(error, `cannot read secret ${flags['secret-id']}`);
      }
      break;
    default:
      throw new CliError(
        EXIT.usage,
        'no signing key: pass --key-file <privatekey.pem>, --secret-id <secret>, --kms <key-id>, or set QTV_PRIVATE_KEY',
      );
  }
  try {
    const key = await signingKeyFromSecret(secret, overrides.kid === undefined ? {} : { fallbackKid: overrides.kid });
    // An explicit --keyid wins over a kid stored in the secret: the operator asked for it.
    const withKid = overrides.kid !== undefined && key.kid !== overrides.kid ? { ...key, kid: overrides.kid } : key;
    if (overrides.certificate === undefined) return withKid;
    assertCertificateMatches(overrides.certificate, withKid.publicKey);
    return { ...withKid, certificatePem: overrides.certificate };
  } catch (error) {
    const where =
      source === 'secret-id' ? ` (secret ${flags['secret-id']})` : source === 'env' ? ' (QTV_PRIVATE_KEY)' : '';
    if (error instanceof Error && 'code' in error)
      throw usageError(`${error.message.replace(/\n\s*/g, ' ')}${where}`, { cause: error });
    return inputErrorFrom(error);
  }
}
