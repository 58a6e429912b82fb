/**
 * `qtv secret show`: what a key secret holds (ARN, versions and stages, kid, issuer, key size,
 * certificate expiry) without ever printing the key.
 */
import { X509Certificate } from 'node:crypto';
import { DescribeSecretCommand, type DescribeSecretCommandOutput } from '@aws-sdk/client-secrets-manager';
import { SecretsManagerStore } from '../../functions/secrets/secret-source.js';
import { signingKeyFromSecret } from '../../functions/signing/signing-key.js';
import { awsError, secretsManagerClient } from '../cli/key-source.js';
import { type Command, EXIT, jsonText, parseCommandArgs, usageError } from '../cli/support.js';

const help = `qtv secret show: describe a key secret in Secrets Manager (never prints the key)

usage: qtv secret show --secret-id NAME [--version-stage AWSCURRENT] [--region R] [--json]

Prints the ARN, every version with its stages, and for the chosen stage: kid, issuer, RSA key size,
RFC 7638 thumbprint and the certificate's expiry. Exit 1 when the stored key is unusable.

example:
  qtv secret show --secret-id qtv/signing-key
`;

/** `qtv secret show`. */
export const secretShowCommand: Command = {
  name: 'secret show',
  summary: 'describe a key secret: ARN, versions, kid, issuer, key size, certificate expiry (never the key)',
  help,
  async run(argv, io) {
    const { values } = parseCommandArgs('secret show', argv, {
      'secret-id': { type: 'string' },
      'version-stage': { type: 'string', default: 'AWSCURRENT' },
      region: { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    const secretId = values['secret-id'];
    if (secretId === undefined) throw usageError('--secret-id required: e.g. --secret-id qtv/signing-key');
    const client = secretsManagerClient(values.region);
    let described: DescribeSecretCommandOutput;
    let value: { value: string; versionId: string };
    try {
      described = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
      value = await new SecretsManagerStore(client).fetch(secretId, values['version-stage']);
    } catch (error) {
      throw awsError(error, `cannot read secret ${secretId}`);
    }
    const versions = Object.entries(described.VersionIdsToStages ?? {}).map(([versionId, stages]) => ({
      versionId,
      stages,
    }));
    let key: Record<string, unknown>;
    let usable = true;
    try {
      const parsed = await signingKeyFromSecret(value.value);
      const certificate = parsed.certificatePem === undefined ? undefined : new X509Certificate(parsed.certificatePem);
      key = {
        kid: parsed.kid,
        issuer: parsed.issuer ?? null,
        bits: parsed.publicKey.asymmetricKeyDetails?.modulusLength,
        certificate: certificate
          ? {
              subject: certificate.subject,
              notAfter: new Date(certificate.validTo).toISOString(),
              sha256: certificate.fingerprint256,
            }
          : null,
      };
    } catch (error) {
      usable = false;
      // The reader's messages never contain key material (signing-key.ts guarantees it).
      key = { problem: (error as Error).message };
    }
    const summary = {
      arn: described.ARN,
      name: described.Name,
      rotationEnabled: described.RotationEnabled ?? false,
      versions,
      shown: { stage: values['version-stage'], versionId: value.versionId, ...key },
    };
    if (values.json) io.stdout(jsonText(summary));
    else {
      const cert = key.certificate as { subject: string; notAfter: string; sha256: string } | null | undefined;
      io.stdout(
        [
          `secret:   ${described.ARN}`,
          ...versions.map((v) => `version:  ${v.versionId} [${(v.stages ?? []).join(', ')}]`),
          `${values['version-stage']}: ${value.versionId}`,
          ...(usable
            ? [
                `  key ID:      ${key.kid}`,
                `  issuer:      ${key.issuer ?? '(none stored: the configured qlik.issuer applies)'}`,
                `  key:         RSA ${key.bits} (not shown)`,
                cert
                  ? `  certificate: ${cert.subject}, expires ${cert.notAfter}, SHA-256 ${cert.sha256}`
                  : '  certificate: (none stored: the API makes a self-signed one)',
              ]
            : [`  unusable: ${key.problem}`]),
          '',
        ].join('\n'),
      );
    }
    return usable ? EXIT.ok : EXIT.checkFailed;
  },
};
