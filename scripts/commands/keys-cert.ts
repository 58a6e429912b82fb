/**
 * `qtv keys cert --kms <key-id>`: a self-signed X.509 certificate for an AWS KMS key, signed by KMS
 * (the private key never leaves KMS), for the Qlik JWT identity provider. Uses kmsCertificate from
 * functions/signing/kms-certificate.ts.
 */
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { kmsCertificate, kmsPublicJwk } from '../../functions/signing/kms-certificate.js';
import { kmsClient, kmsError } from '../cli/key-source.js';
import { putPublicMaterial } from '../cli/public-material.js';
import { type Command, EXIT, jsonText, parseCommandArgs, parsePositiveInt, usageError } from '../cli/support.js';

const help = `qtv keys cert: make a self-signed X.509 certificate for an AWS KMS signing key (signed by KMS)

usage: qtv keys cert --kms KEY-ID [--subject CN] [--days N] [--out FILE] [--force] [--region R] [--json]
                     [--public-secret-id ID [--issuer ISS]]

  --kms KEY-ID   key ID, ARN or alias of an RSA SIGN_VERIFY key (RSA_2048/3072/4096 for Qlik)
  --public-secret-id ID  also store kid, public key and certificate in the stack's public-material secret
                 (output SigningPublicSecretArn): /qlik/idp-config serves them without any kms:Sign
  --issuer ISS   issuer stored with them (default: the configured qlik.issuer)
  --subject CN   certificate subject and issuer common name (default qlik-token-vending)
  --days N       validity in days (default 365)
  --out FILE     where to write the certificate (default publickey.cer); refused if it exists, unless --force
  --json         print {kid, keyId, file, certificate}

The key ID printed is the RFC 7638 thumbprint of the KMS public key (what qtv token --kms uses by default).

example:
  qtv keys cert --kms alias/qtv-signing --subject "qtv prod" --days 730 --out publickey.cer
`;

/** `qtv keys cert`. */
export const keysCertCommand: Command = {
  name: 'keys cert',
  summary: 'make a self-signed certificate for an AWS KMS key (signed by KMS, for the Qlik IdP)',
  help,
  async run(argv, io) {
    const { values } = parseCommandArgs('keys cert', argv, {
      kms: { type: 'string' },
      subject: { type: 'string', default: 'qlik-token-vending' },
      days: { type: 'string', default: '365' },
      out: { type: 'string', default: 'publickey.cer' },
      force: { type: 'boolean', default: false },
      region: { type: 'string' },
      json: { type: 'boolean', default: false },
      'public-secret-id': { type: 'string' },
      issuer: { type: 'string' },
    });
    if (values.kms === undefined)
      throw usageError('--kms required: the KMS key ID, ARN or alias, e.g. --kms alias/qtv-signing');
    const days = parsePositiveInt(values.days, '--days');
    if (existsSync(values.out) && !values.force)
      throw usageError(`${values.out} already exists: pass --force to overwrite, or another --out`);
    const client = kmsClient(values.region);
    let certificate: string;
    let thumbprint: string;
    try {
      certificate = await kmsCertificate(client, values.kms, {
        commonName: values.subject,
        validityDays: days,
        algorithm: 'RS256',
      });
      thumbprint = (await kmsPublicJwk(client, values.kms)).thumbprint;
    } catch (error) {
      throw kmsError(error, values.kms);
    }
    try {
      writeFileSync(values.out, certificate, { mode: 0o644 });
      chmodSync(values.out, 0o644);
    } catch (error) {
      throw usageError(
        `cannot write ${values.out} (${(error as NodeJS.ErrnoException).code ?? 'error'}): pass another --out`,
      );
    }
    const x509 = new X509Certificate(certificate);
    const publicSecretId = values['public-secret-id'];
    if (publicSecretId !== undefined)
      await putPublicMaterial({
        secretId: publicSecretId,
        region: values.region,
        kid: thumbprint,
        publicKey: x509.publicKey,
        certificate,
        ...(values.issuer !== undefined ? { issuer: values.issuer } : {}),
      });
    const summary = {
      kid: thumbprint,
      keyId: values.kms,
      file: values.out,
      certificate: { subject: x509.subject, notAfter: x509.validTo, sha256: x509.fingerprint256 },
    };
    io.stdout(
      values.json
        ? jsonText(summary)
        : `wrote ${values.out} (${x509.subject}, valid until ${x509.validTo}, signed by KMS)\nkey ID (RFC 7638 thumbprint): ${thumbprint}\ncertificate SHA-256: ${x509.fingerprint256}\n`,
    );
    return EXIT.ok;
  },
};
