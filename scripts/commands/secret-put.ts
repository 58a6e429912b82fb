/**
 * `qtv secret put`: stores a signing key in Secrets Manager as JSON {privateKey, kid, issuer, certificate},
 * the format functions/signing/signing-key.ts reads; creates the secret or puts a new version.
 */
import type { KeyObject } from 'node:crypto';
import { CreateSecretCommand, PutSecretValueCommand, ResourceNotFoundException } from '@aws-sdk/client-secrets-manager';
import type { KeySecretFields } from '../../functions/signing/signing-key.js';
import { signingKeyFromSecret } from '../../functions/signing/signing-key.js';
import { awsError, secretsManagerClient } from '../cli/key-source.js';
import { putPublicMaterial } from '../cli/public-material.js';
import {
  type Command,
  EXIT,
  inputErrorFrom,
  jsonText,
  parseCommandArgs,
  parsePositiveInt,
  readTextFile,
  usageError,
} from '../cli/support.js';

const help = `qtv secret put: store a signing key in AWS Secrets Manager in the format the token API reads

usage: qtv secret put --secret-id NAME --key-file FILE --issuer ISS [--kid KID] [--cert-file FILE | --days N]
                      [--public-secret-id ID] [--description TEXT] [--kms-key-id KEY] [--region R] [--json]

  --secret-id NAME    secret name or ARN; created when missing, else a new version (AWSCURRENT) is put
  --key-file FILE     PEM RSA private key (2048-4096 bits)
  --issuer ISS        issuer on the Qlik JWT identity provider (stored beside the key)
  --kid KID           key ID (default: RFC 7638 thumbprint)
  --cert-file FILE    certificate to store (must match the key); default: a self-signed one is made
  --days N            validity of the made certificate (default 365)
  --public-secret-id ID  the stack's public-material secret (output SigningPublicSecretArn): kid, issuer,
                      public key and certificate are written there too, for /qlik/idp-config
  --kms-key-id KEY    KMS key that encrypts the secret (only when creating it)
  --json              print {arn, name, versionId, created, kid, issuer} (never the key)

The secret value is JSON {privateKey, kid, issuer, certificate}. AWS_REGION / AWS_ENDPOINT_URL are honoured.

example:
  qtv secret put --secret-id qtv/signing-key --key-file privatekey.pem --cert-file publickey.cer \\
    --issuer https://qtv.example.com --kid qtv-2026-11
`;

/** `qtv secret put`. */
export const secretPutCommand: Command = {
  name: 'secret put',
  summary: 'store a key (+ kid, issuer, certificate) in Secrets Manager as the token API reads it',
  help,
  async run(argv, io) {
    const { values } = parseCommandArgs('secret put', argv, {
      'secret-id': { type: 'string' },
      'key-file': { type: 'string' },
      issuer: { type: 'string' },
      kid: { type: 'string' },
      'cert-file': { type: 'string' },
      days: { type: 'string', default: '365' },
      description: { type: 'string' },
      'kms-key-id': { type: 'string' },
      'public-secret-id': { type: 'string' },
      region: { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    const secretId = values['secret-id'];
    if (secretId === undefined) throw usageError('--secret-id required: e.g. --secret-id qtv/signing-key');
    if (values['key-file'] === undefined) throw usageError('--key-file required: the PEM private key to store');
    if (values.issuer === undefined || values.issuer.trim() === '')
      throw usageError('--issuer required: the issuer configured on the Qlik JWT identity provider');
    const days = parsePositiveInt(values.days, '--days');
    const privateKey = readTextFile(values['key-file'], '--key-file', 'a PEM private key').trim();
    const certificateFile =
      values['cert-file'] === undefined
        ? undefined
        : readTextFile(values['cert-file'], '--cert-file', 'a PEM certificate').trim();

    // Validate with the reader the Lambdas use, so nothing is stored that they would refuse.
    let fields: KeySecretFields;
    let publicKey: KeyObject;
    try {
      const key = await signingKeyFromSecret(
        JSON.stringify({ privateKey, ...(certificateFile ? { certificate: certificateFile } : {}) }),
        values.kid === undefined ? {} : { fallbackKid: values.kid },
      );
      const certificate =
        certificateFile ?? (await key.createCertificate!({ commonName: values.issuer, validityDays: days })).trim();
      fields = { privateKey, kid: key.kid, issuer: values.issuer.trim(), certificate };
      publicKey = key.publicKey;
    } catch (error) {
      return inputErrorFrom(error);
    }

    const client = secretsManagerClient(values.region);
    const secretString = JSON.stringify(fields);
    let out: { ARN?: string; Name?: string; VersionId?: string };
    let created = false;
    try {
      try {
        out = await client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: secretString }));
      } catch (error) {
        if (!(error instanceof ResourceNotFoundException)) throw error;
        out = await client.send(
          new CreateSecretCommand({
            Name: secretId,
            SecretString: secretString,
            Description: values.description ?? `Qlik JWT signing key ${fields.kid} (qlik-token-vending)`,
            ...(values['kms-key-id'] !== undefined ? { KmsKeyId: values['kms-key-id'] } : {}),
          }),
        );
        created = true;
      }
    } catch (error) {
      throw awsError(error, `cannot store secret ${secretId}`);
    }
    // The public half, apart from the private key: the only thing /qlik/idp-config may read.
    const publicSecretId = values['public-secret-id'];
    const publicVersionId =
      publicSecretId === undefined
        ? undefined
        : await putPublicMaterial({
            secretId: publicSecretId,
            region: values.region,
            kid: fields.kid!,
            publicKey,
            certificate: fields.certificate!,
            issuer: fields.issuer!,
          });
    const summary = {
      arn: out.ARN,
      name: out.Name,
      versionId: out.VersionId,
      created,
      kid: fields.kid,
      issuer: fields.issuer,
      ...(publicVersionId !== undefined ? { publicSecretVersionId: publicVersionId } : {}),
    };
    io.stdout(
      values.json
        ? jsonText(summary)
        : `${created ? 'created' : 'updated'} ${out.ARN} (version ${out.VersionId})\nkey ID: ${fields.kid}\nissuer: ${fields.issuer}\n${
            publicVersionId !== undefined ? `public material: ${publicSecretId} (version ${publicVersionId})\n` : ''
          }`,
    );
    return EXIT.ok;
  },
};
