/**
 * `qtv keys convert`: PKCS#1 <-> PKCS#8, PEM <-> JWK, and fingerprints (RFC 7638 thumbprint; SHA-256
 * of a certificate). Private output needs an explicit `--private` (stdout) or `--out` (mode 0600).
 */
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { publicKeyPem } from '../../functions/signing/certificates.js';
import { assertQlikCompatible, keyThumbprint } from '../../functions/signing/signing-key.js';
import {
  type Command,
  EXIT,
  inputErrorFrom,
  jsonText,
  parseCommandArgs,
  readTextFile,
  usageError,
} from '../cli/support.js';

const help = `qtv keys convert: convert an RSA key between PKCS#1, PKCS#8, SPKI and JWK, and show its fingerprints

usage: qtv keys convert <file> [--to pkcs8|pkcs1|spki|jwk] [--private] [--out FILE] [--keyid ID] [--json]

  <file>          a PEM private key (PKCS#1 or PKCS#8), PEM public key, PEM certificate, or a JWK (JSON)
  --to FORMAT     pkcs8 / pkcs1: private key PEM; spki: public key PEM; jwk: public JWK (private with --private)
  --private       allow private key material on stdout (needed for --to pkcs8|pkcs1, and for a private JWK)
  --out FILE      write the converted key to FILE instead (private keys get mode 0600)
  --keyid ID      put this kid in a JWK (default: the RFC 7638 thumbprint; alias --kid)
  --json          print the fingerprints as JSON (without --to)

Without --to it prints what the file holds and its fingerprints: the RFC 7638 thumbprint (the default
key ID qtv uses) and, for a certificate, its SHA-256 fingerprint.

examples:
  qtv keys convert privatekey.pem                        # fingerprints
  qtv keys convert publickey.cer --to jwk                # public JWK of a certificate
  qtv keys convert old-rsa.pem --to pkcs8 --out privatekey.pem
`;

interface Loaded {
  readonly kind: 'private key' | 'public key' | 'certificate';
  readonly format: string;
  readonly privateKey?: KeyObject;
  readonly publicKey: KeyObject;
  readonly certificate?: X509Certificate;
}

function load(text: string, path: string): Loaded {
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith('{')) {
      const jwk = JSON.parse(trimmed) as { d?: string };
      if (jwk.d !== undefined) {
        const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
        return { kind: 'private key', format: 'JWK', privateKey, publicKey: createPublicKey(privateKey) };
      }
      return { kind: 'public key', format: 'JWK', publicKey: createPublicKey({ key: jwk, format: 'jwk' }) };
    }
    if (trimmed.includes('-----BEGIN CERTIFICATE-----')) {
      const certificate = new X509Certificate(trimmed);
      return { kind: 'certificate', format: 'X.509 PEM', publicKey: certificate.publicKey, certificate };
    }
    if (/-----BEGIN (RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.test(trimmed)) {
      const privateKey = createPrivateKey({ key: trimmed, format: 'pem' });
      const format = trimmed.includes('BEGIN RSA PRIVATE KEY') ? 'PKCS#1 PEM' : 'PKCS#8 PEM';
      return { kind: 'private key', format, privateKey, publicKey: createPublicKey(privateKey) };
    }
    if (/-----BEGIN (RSA )?PUBLIC KEY-----/.test(trimmed)) {
      const format = trimmed.includes('BEGIN RSA PUBLIC KEY') ? 'PKCS#1 PEM' : 'SPKI PEM';
      return { kind: 'public key', format, publicKey: createPublicKey({ key: trimmed, format: 'pem' }) };
    }
  } catch (error) {
    const reason = /passphrase/i.test(String((error as Error).message))
      ? 'it is encrypted with a passphrase'
      : 'it is malformed';
    throw usageError(`cannot read the key in ${path}: ${reason}: pass an unencrypted PEM key, PEM certificate or JWK`);
  }
  throw usageError(`${path} holds no PEM key, PEM certificate or JWK: pass e.g. privatekey.pem or publickey.cer`);
}

/** `qtv keys convert`. */
export const keysConvertCommand: Command = {
  name: 'keys convert',
  summary: 'PKCS#1 <-> PKCS#8, PEM <-> JWK; RFC 7638 thumbprint and certificate SHA-256',
  help,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(
      'keys convert',
      argv,
      {
        to: { type: 'string' },
        private: { type: 'boolean', default: false },
        out: { type: 'string' },
        keyid: { type: 'string' },
        json: { type: 'boolean', default: false },
      },
      true,
    );
    const path = positionals[0];
    if (path === undefined || positionals.length > 1)
      throw usageError('pass exactly one input file: e.g. qtv keys convert privatekey.pem --to jwk');
    const to = values.to;
    if (to !== undefined && !['pkcs8', 'pkcs1', 'spki', 'jwk'].includes(to))
      throw usageError(`--to ${JSON.stringify(to)} is not a format: use pkcs8, pkcs1, spki or jwk`);
    const loaded = load(readTextFile(path, 'a file argument', 'a PEM key, certificate or JWK'), path);
    try {
      // Only RSA 2048-4096 can sign for Qlik; converting anything else would only postpone the surprise.
      assertQlikCompatible(loaded.privateKey ?? loaded.publicKey);
    } catch (error) {
      inputErrorFrom(error);
    }
    const thumbprint = await keyThumbprint(loaded.publicKey);
    const facts = {
      file: path,
      kind: loaded.kind,
      format: loaded.format,
      bits: loaded.publicKey.asymmetricKeyDetails?.modulusLength,
      thumbprint,
      ...(loaded.certificate
        ? {
            certificate: {
              sha256: loaded.certificate.fingerprint256,
              subject: loaded.certificate.subject,
              notAfter: loaded.certificate.validTo,
            },
          }
        : {}),
    };
    const factLines = [
      `${path}: RSA ${facts.bits} ${loaded.kind} (${loaded.format})`,
      `RFC 7638 thumbprint (default key ID): ${thumbprint}`,
      ...(loaded.certificate
        ? [
            `certificate SHA-256: ${loaded.certificate.fingerprint256}`,
            `certificate subject: ${loaded.certificate.subject}, valid until ${loaded.certificate.validTo}`,
          ]
        : []),
    ];
    if (to === undefined) {
      io.stdout(values.json ? jsonText(facts) : `${factLines.join('\n')}\n`);
      return EXIT.ok;
    }

    const wantsPrivate = to === 'pkcs8' || to === 'pkcs1' || (to === 'jwk' && values.private);
    if (wantsPrivate && loaded.privateKey === undefined)
      throw usageError(
        `${path} holds a ${loaded.kind}, not a private key: use --to spki or --to jwk for public output`,
      );
    if (wantsPrivate && values.out === undefined && !values.private)
      throw usageError(
        `--to ${to} prints a private key: add --private to print it, or --out FILE to write it with mode 0600`,
      );
    let output: string;
    if (to === 'pkcs8' || to === 'pkcs1') output = loaded.privateKey!.export({ format: 'pem', type: to }).toString();
    else if (to === 'spki') output = publicKeyPem(loaded.publicKey);
    else {
      const source = wantsPrivate ? loaded.privateKey! : loaded.publicKey;
      const jwk = { ...source.export({ format: 'jwk' }), kid: values.keyid ?? thumbprint, alg: 'RS256', use: 'sig' };
      output = jsonText(jwk);
    }
    if (values.out !== undefined) {
      const mode = wantsPrivate ? 0o600 : 0o644;
      try {
        writeFileSync(values.out, output, { mode });
        chmodSync(values.out, mode);
      } catch (error) {
        throw usageError(
          `cannot write ${values.out} (${(error as NodeJS.ErrnoException).code ?? 'error'}): pass another --out`,
        );
      }
      io.stdout(`${factLines.join('\n')}\nwrote ${values.out} (${to}${wantsPrivate ? ', private, mode 0600' : ''})\n`);
    } else {
      io.stderr(`${factLines.join('\n')}\n`);
      io.stdout(output);
    }
    return EXIT.ok;
  },
};
