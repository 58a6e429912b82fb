/**
 * `qtv inspect`: decodes a JWT and lists every Qlik rule with pass/fail and a plain fix, using
 * checkQlikToken (the same rules as the vending handler and the tenant emulator), and verifies
 * the signature against a certificate or public key when given one.
 */
import { createPublicKey, type KeyObject, verify, X509Certificate } from 'node:crypto';
import { checkQlikToken, type QlikRuleResult } from '../../functions/qlik/claims.js';
import {
  type Command,
  EXIT,
  jsonText,
  parseCommandArgs,
  parseDuration,
  parseNow,
  readTextFile,
  usageError,
} from '../cli/support.js';

const help = `qtv inspect: check a JWT against every Qlik Cloud rule, with a fix for each failure

usage: qtv inspect [<jwt>] [--issuer ISS] [--keyid KID] [--cert-file FILE | --public-key FILE]
                   [--clock-tolerance 0s] [--now TIME] [--strict] [--json]
       (reads the token from stdin when no argument is given)

The input may be the bare token, "Bearer <token>", or the JSON body POST /qlik/jwt answers with
({"token": "..."}), so  curl ... /qlik/jwt | qtv inspect  works.

  --issuer ISS        expect this issuer (as configured on the Qlik JWT identity provider)
  --keyid KID         expect this key ID
  --cert-file FILE    verify the signature with this PEM certificate (what Qlik holds; alias --cert)
  --public-key FILE   verify the signature with this PEM public key
  --clock-tolerance D the IdP's clockToleranceSec, for the exp/nbf checks (default 0s)
  --now TIME          judge exp/nbf at this time (ISO 8601 or epoch seconds; default now)
  --strict            fail on warnings too (e.g. a "group" claim, which Qlik ignores)
  --json              print {header, payload, signature, results, ok}

Exit code 1 when Qlik would reject the token (or the signature does not verify), 2 when the input is not a JWT.

example:
  qtv token --key-file privatekey.pem --issuer https://qtv.example.com --sub a --name A --email a@example.com \\
    | qtv inspect --issuer https://qtv.example.com --cert publickey.cer
`;

function decodePart(part: string | undefined): Record<string, unknown> | undefined {
  if (part === undefined || !/^[A-Za-z0-9_-]+$/.test(part)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Decodes a compact JWS; undefined when it is not one. */
export function decodeCompactJwt(token: string) {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const header = decodePart(parts[0]);
  const payload = decodePart(parts[1]);
  if (header === undefined || payload === undefined || !/^[A-Za-z0-9_-]*$/.test(parts[2] ?? '')) return undefined;
  return {
    header,
    payload,
    signingInput: `${parts[0]}.${parts[1]}`,
    signature: Buffer.from(parts[2] ?? '', 'base64url'),
  };
}

/** Verifies an RS256 signature with node:crypto (independent of the signer's code path). */
export function verifyRs256(decoded: NonNullable<ReturnType<typeof decodeCompactJwt>>, key: KeyObject): boolean {
  if (decoded.header.alg !== 'RS256') return false;
  return verify('sha256', Buffer.from(decoded.signingInput), key, decoded.signature);
}

function readVerificationKey(values: { 'cert-file'?: string; 'public-key'?: string }): KeyObject | undefined {
  const cert = values['cert-file'];
  if (cert !== undefined && values['public-key'] !== undefined)
    throw usageError('pass --cert-file (--cert) or --public-key, not both');
  if (cert !== undefined) {
    const text = readTextFile(cert, '--cert-file', 'a PEM certificate');
    try {
      return new X509Certificate(text).publicKey;
    } catch {
      throw usageError(`${cert} is not a PEM X.509 certificate: pass the certificate given to Qlik (publickey.cer)`);
    }
  }
  if (values['public-key'] !== undefined) {
    const text = readTextFile(values['public-key'], '--public-key', 'a PEM public key');
    try {
      return createPublicKey(text);
    } catch {
      throw usageError(`${values['public-key']} is not a PEM public key: pass e.g. publickey.pem`);
    }
  }
  return undefined;
}

/**
 * The token in what a user pastes: a bare compact JWT, `Bearer <jwt>` (or a whole `Authorization:` header
 * line), or the JSON body of `POST /qlik/jwt` (`{"token": ...}`).
 */
export function tokenFromInput(text: string): string {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let body: unknown;
    try {
      body = JSON.parse(trimmed);
    } catch {
      throw usageError(
        'the input starts with { but is not JSON: pass the token, or the JSON body POST /qlik/jwt returned',
      );
    }
    const token = (body as { token?: unknown }).token;
    if (typeof token !== 'string')
      throw usageError(
        'the JSON input has no "token" string: pass the body POST /qlik/jwt returned (an error body has none: read its detail)',
      );
    return token.trim();
  }
  return trimmed.replace(/^(authorization:\s*)?Bearer\s+/i, '');
}

const mark = (r: QlikRuleResult) => (r.ok ? 'PASS' : r.severity === 'error' ? 'FAIL' : 'WARN');

/** `qtv inspect`. */
export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'check a JWT against every Qlik rule, with fixes; verify its signature',
  help,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(
      'inspect',
      argv,
      {
        issuer: { type: 'string' },
        keyid: { type: 'string' },
        'cert-file': { type: 'string' },
        'public-key': { type: 'string' },
        'clock-tolerance': { type: 'string', default: '0s' },
        now: { type: 'string' },
        strict: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
      },
      true,
    );
    if (positionals.length > 1) throw usageError('pass one token (or none, to read it from stdin)');
    const verificationKey = readVerificationKey(values);
    const tolerance =
      values['clock-tolerance'] === '0' || values['clock-tolerance'] === '0s'
        ? 0
        : parseDuration(values['clock-tolerance'], '--clock-tolerance');
    const input = tokenFromInput(positionals[0] ?? (await io.readStdin()));
    // Judge the time after the token has arrived: in `qtv token | qtv inspect` both start together.
    const nowSeconds = parseNow(values.now);
    if (input === '') throw usageError('no token: pass it as the argument or on stdin');
    const decoded = decodeCompactJwt(input);
    if (decoded === undefined)
      throw usageError(
        'the input is not a compact JWT (three base64url parts holding JSON, joined by dots): pass the token exactly as issued',
      );

    const results: QlikRuleResult[] = checkQlikToken(decoded.header, decoded.payload, {
      ...(values.issuer !== undefined ? { issuer: values.issuer } : {}),
      ...(values.keyid !== undefined ? { keyId: values.keyid } : {}),
      nowSeconds,
      clockToleranceSeconds: tolerance,
    });
    let signature: { checked: boolean; ok?: boolean } = { checked: false };
    if (verificationKey !== undefined) {
      const ok = verifyRs256(decoded, verificationKey);
      signature = { checked: true, ok };
      results.push(
        ok
          ? { rule: 'signature', ok, severity: 'error', message: 'the signature verifies with the given key' }
          : {
              rule: 'signature',
              ok,
              severity: 'error',
              message: 'the signature verifies with the given key',
              fix: 'Sign with the private key whose certificate is on the Qlik JWT identity provider, or upload the matching certificate.',
            },
      );
    }
    const failed = results.filter((r) => !r.ok && (r.severity === 'error' || values.strict));
    if (values.json) {
      io.stdout(
        jsonText({ header: decoded.header, payload: decoded.payload, signature, results, ok: failed.length === 0 }),
      );
    } else {
      const lines = [
        `header:  ${JSON.stringify(decoded.header)}`,
        `payload: ${JSON.stringify(decoded.payload)}`,
        ...(typeof decoded.payload.exp === 'number'
          ? [`expires: ${new Date(decoded.payload.exp * 1000).toISOString()}`]
          : []),
        '',
        ...results.flatMap((r) => [
          `${mark(r)}  ${r.rule.padEnd(22)} ${r.message}`,
          ...(r.ok ? [] : [`      fix: ${r.fix}`]),
        ]),
        '',
        failed.length === 0
          ? `ok: Qlik's rules pass${signature.checked ? ' and the signature verifies' : ' (signature not checked: pass --cert to check it)'}`
          : `${failed.length} problem${failed.length === 1 ? '' : 's'}: Qlik would reject this token`,
        '',
      ];
      io.stdout(lines.join('\n'));
    }
    return failed.length === 0 ? EXIT.ok : EXIT.checkFailed;
  },
};
