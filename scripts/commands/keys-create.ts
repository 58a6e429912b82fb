/**
 * `qtv keys create`: an RSA key pair and a self-signed certificate for the Qlik JWT identity provider,
 * written as qs-jwt names them (privatekey.pem, publickey.pem, publickey.cer), the private key mode 0600.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSelfSignedCertificate, publicKeyPem } from '../../functions/signing/certificates.js';
import { keyThumbprint } from '../../functions/signing/signing-key.js';
import { type Command, EXIT, jsonText, parseCommandArgs, parsePositiveInt, usageError } from '../cli/support.js';

const help = `qtv keys create: make an RSA signing key, its public key and a self-signed X.509 certificate

usage: qtv keys create [--bits 2048|3072|4096] [--subject CN] [--days N] [--keyid ID]
                       [--dir DIR] [--prefix P] [--force] [--json]

  --bits N        RSA modulus size (default 2048; Qlik's guides use 2048-4096)
  --subject CN    certificate subject and issuer common name (default qlik-token-vending)
  --days N        certificate validity in days (default 365)
  --keyid ID      key ID to print for the Qlik IdP (default: RFC 7638 thumbprint of the key; alias --kid)
  --dir DIR       folder to write to (default: current folder)
  --prefix P      file name prefix: P + privatekey.pem, publickey.pem, publickey.cer (as qs-jwt)
  --force         overwrite existing files (refused otherwise)
  --json          print {kid, files, certificate} as JSON (never the private key)

The private key is PKCS#8 PEM written with mode 0600; the certificate is what Qlik's console wants.

example:
  qtv keys create --bits 3072 --subject "qtv prod" --days 730 --prefix prod-
`;

/** What {@link createKeyFiles} wrote. */
export interface KeyFilesSummary {
  readonly kid: string;
  readonly bits: number;
  readonly files: { readonly privateKey: string; readonly publicKey: string; readonly certificate: string };
  readonly certificate: { subject: string; notBefore: string; notAfter: string; sha256: string };
}

/**
 * Generates an RSA key and self-signed certificate and writes privatekey.pem (0600), publickey.pem and
 * publickey.cer under `dir` with `prefix`, refusing to overwrite unless `force`. Shared by
 * `keys create` and `create-qscloud --cert-create true`.
 */
export async function createKeyFiles(options: {
  bits: number;
  subject: string;
  days: number;
  kid?: string;
  dir: string;
  prefix: string;
  force: boolean;
}): Promise<KeyFilesSummary> {
  if (!existsSync(options.dir))
    throw usageError(`folder ${options.dir} does not exist: create it or pass another --dir`);
  const files = {
    privateKey: join(options.dir, `${options.prefix}privatekey.pem`),
    publicKey: join(options.dir, `${options.prefix}publickey.pem`),
    certificate: join(options.dir, `${options.prefix}publickey.cer`),
  };
  const existing = Object.values(files).filter((f) => existsSync(f));
  if (existing.length > 0 && !options.force)
    throw usageError(
      `${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}: pass --force to overwrite, or another --prefix/--dir`,
    );

  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: options.bits });
  const certificate = await createSelfSignedCertificate({
    privateKey,
    commonName: options.subject,
    validityDays: options.days,
  });
  const kid = options.kid ?? (await keyThumbprint(publicKey));
  const write = (path: string, content: string, mode: number) => {
    try {
      writeFileSync(path, content, { mode, flag: options.force ? 'w' : 'wx' });
      // mode applies only when a file is created; an overwritten key must still end up 0600.
      chmodSync(path, mode);
    } catch (error) {
      throw usageError(
        `cannot write ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'}): check the folder's permissions`,
      );
    }
  };
  write(files.privateKey, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), 0o600);
  write(files.publicKey, publicKeyPem(publicKey), 0o644);
  write(files.certificate, certificate, 0o644);

  const x509 = new X509Certificate(certificate);
  return {
    kid,
    bits: options.bits,
    files,
    certificate: {
      subject: x509.subject,
      notBefore: x509.validFrom,
      notAfter: x509.validTo,
      sha256: x509.fingerprint256,
    },
  };
}

/** `qtv keys create`. */
export const keysCreateCommand: Command = {
  name: 'keys create',
  summary: 'make an RSA key, public key and self-signed certificate (files as qs-jwt names them)',
  help,
  async run(argv, io) {
    const { values } = parseCommandArgs('keys create', argv, {
      bits: { type: 'string', default: '2048' },
      subject: { type: 'string', default: 'qlik-token-vending' },
      days: { type: 'string', default: '365' },
      keyid: { type: 'string' },
      dir: { type: 'string', default: '.' },
      prefix: { type: 'string', default: '' },
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    });
    const bits = parsePositiveInt(values.bits, '--bits', [2048, 3072, 4096]);
    const days = parsePositiveInt(values.days, '--days');
    if (values.subject.trim() === '') throw usageError('--subject must not be empty: e.g. --subject "qtv prod"');
    if (values.keyid !== undefined && values.keyid.trim() === '') throw usageError('--keyid must not be empty');
    const summary = await createKeyFiles({
      bits,
      subject: values.subject,
      days,
      ...(values.keyid !== undefined ? { kid: values.keyid } : {}),
      dir: values.dir,
      prefix: values.prefix,
      force: values.force,
    });
    const { files, kid } = summary;
    if (values.json) io.stdout(jsonText(summary));
    else
      io.stdout(
        [
          `wrote ${files.privateKey} (RSA ${bits}, PKCS#8, mode 0600: keep it secret)`,
          `wrote ${files.publicKey}`,
          `wrote ${files.certificate} (${summary.certificate.subject}, valid until ${summary.certificate.notAfter})`,
          `key ID: ${kid}`,
          `certificate SHA-256: ${summary.certificate.sha256}`,
          `next: qtv idp config --key-file ${files.privateKey} --cert-file ${files.certificate} --issuer <issuer> --keyid ${kid}`,
          '',
        ].join('\n'),
      );
    return EXIT.ok;
  },
};
