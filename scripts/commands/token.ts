/**
 * `qtv token`: mints a Qlik JWT with qs-jwt-like flags, through the same claim builder and JWS
 * assembler as the Lambda (buildQlikClaims + signCompactJws), and fixes qs-jwt's traps: `groups`
 * (not `group`), `email_verified` as a JSON boolean, and no lifetime Qlik would refuse.
 */
import {
  buildQlikClaims,
  checkQlikToken,
  QLIK_MAX_LIFETIME_SECONDS,
  qlikJwtHeader,
  qlikRejections,
} from '../../functions/qlik/claims.js';
import { signCompactJws } from '../../functions/signing/signer.js';
import { keySourceOptions, loadSigningKey } from '../cli/key-source.js';
import {
  type CliIo,
  type Command,
  EXIT,
  type ExitCode,
  jsonText,
  parseCommandArgs,
  parseDuration,
  parseNow,
  usageError,
} from '../cli/support.js';

const help = `qtv token: mint a Qlik Cloud JWT (RS256) for one user

usage: qtv token --sub ID --name NAME --email ADDRESS --issuer ISS [--keyid KID]
                 [--groups G1 "G 2" ...] [--email-verified true|false] [--expires 5m] [--not-before-skew 30s]
                 (--key-file FILE | --key PEM | --secret-id SECRET | --kms KEY-ID | env QTV_PRIVATE_KEY) [--region R] [--json]

  --sub ID              the user's stable, unique Qlik subject (required: never random)
  --name, --email       display name and email address (required)
  --email-verified B    true (default) or false; sent as a JSON boolean
  --groups G ...        group names (one or more values; repeatable); sent as the "groups" array
  --issuer ISS          the issuer on the Qlik JWT identity provider (default: the issuer stored with --secret-id)
  --keyid KID           the key ID on the Qlik IdP (default: the secret's kid, else the RFC 7638 thumbprint)
  --expires D           lifetime from now: 30s, 5m, 1h (default 5m; at most 60m, Qlik's limit on exp - nbf)
  --not-before-skew D   back-date nbf for clock skew (default 30s; exp - nbf counts it, so --expires 1h ends
                        59m30s from now; given explicitly, --expires + it must stay <= 60 minutes)
  --key-file FILE       PEM RSA private key (PKCS#8 or PKCS#1); or --key PEM; or env QTV_PRIVATE_KEY
  --secret-id SECRET    read the key from AWS Secrets Manager (AWS_ENDPOINT_URL, AWS_REGION honoured)
  --kms KEY-ID          sign with an AWS KMS key (RSA_2048/3072/4096, SIGN_VERIFY): the key never leaves KMS
  --now TIME            issue time (ISO 8601 or epoch seconds), for reproducible tokens
  --json                print {token, header, payload}

qs-jwt's names work too: --username (--name), --useremail (--email), --useremail-verified,
--cert-privatekey-file (--key-file), --cert-privatekey (--key), --kid (--keyid); see also qtv create-qscloud.
The token is checked against every Qlik rule (as qtv inspect does) before it is printed: a value Qlik would
refuse (e.g. --email notanemail) is refused here, exit 2.

example:
  qtv token --key-file privatekey.pem --issuer https://qtv.example.com --keyid qtv-2026-11 \\
    --sub alice --name "Alice Example" --email alice@example.com --groups Sales "Sales EMEA" --expires 10m
`;

/** qs-jwt takes `--groups g1 "g 2"`; parseArgs has no variadic options, so spread them into repeats. */
export function expandVariadic(argv: string[], flag: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    out.push(arg);
    if (arg !== flag) continue;
    let count = 0;
    while (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) {
      if (count > 0) out.push(flag);
      out.push(argv[++i]!);
      count++;
    }
  }
  return out;
}

/** The parseArgs options of `qtv token` (and, with a few more, `qtv create-qscloud`). */
export const tokenOptions = {
  sub: { type: 'string' },
  name: { type: 'string' },
  email: { type: 'string' },
  'email-verified': { type: 'string', default: 'true' },
  groups: { type: 'string', multiple: true, default: [] as string[] },
  issuer: { type: 'string' },
  keyid: { type: 'string' },
  expires: { type: 'string', default: '5m' },
  'not-before-skew': { type: 'string' },
  now: { type: 'string' },
  json: { type: 'boolean', default: false },
  ...keySourceOptions,
} as const;

/** The default nbf back-dating (Qlik's own samples back-date by 30 s). */
const DEFAULT_SKEW_SECONDS = 30;

/**
 * Turns `--expires` and `--not-before-skew` into a lifetime Qlik accepts. Qlik measures `exp - nbf`
 * (at most 3600 s, https://qlik.dev/authenticate/jwt/implement-jwt-authorization/), so the back-dated
 * nbf counts too: with the default back-dating a lifetime near 60 minutes ends up to 30 s earlier
 * (`--expires 1h` gives exp - nbf = 3600); an explicit `--not-before-skew` is kept and a sum over
 * 3600 s is refused with the largest `--expires` that works. Over 60 minutes is refused either way.
 */
export function tokenTiming(expires: string, skewFlag: string | undefined): { ttl: number; skew: number } {
  const ttl = parseDuration(expires, '--expires');
  if (ttl > QLIK_MAX_LIFETIME_SECONDS)
    throw usageError(
      `--expires ${expires} is ${ttl} s: Qlik rejects a JWT whose exp - nbf exceeds ${QLIK_MAX_LIFETIME_SECONDS} s (60 minutes); the largest value that works is --expires 60m`,
    );
  // Keep the default back-dating (clock skew between us and Qlik is the commoner failure) and end the
  // token that much earlier instead: `--expires 1h` gives exp - nbf = 3600 exactly, exp 59m30s from now.
  if (skewFlag === undefined)
    return { ttl: Math.min(ttl, QLIK_MAX_LIFETIME_SECONDS - DEFAULT_SKEW_SECONDS), skew: DEFAULT_SKEW_SECONDS };
  const skew = /^0+[smhd]?$/.test(skewFlag) ? 0 : parseDuration(skewFlag, '--not-before-skew');
  if (ttl + skew > QLIK_MAX_LIFETIME_SECONDS)
    throw usageError(
      `--expires ${expires} with nbf back-dated ${skew} s makes exp - nbf ${ttl + skew} s: Qlik rejects a JWT whose exp - nbf exceeds ${QLIK_MAX_LIFETIME_SECONDS} s (60 minutes); the largest value that works is --expires ${Math.max(0, QLIK_MAX_LIFETIME_SECONDS - skew)}s (or drop --not-before-skew)`,
    );
  return { ttl, skew };
}

/** Which flag sets the claim a Qlik rule checks, so a refusal names what to change. */
const RULE_FLAGS: Readonly<Record<string, string>> = {
  'claim.sub': '--sub',
  'claim.name': '--name',
  'claim.email': '--email',
  'claim.email_verified': '--email-verified',
  'claim.groups': '--groups',
  'claim.iss.present': '--issuer',
  'header.kid.present': '--keyid',
};

/** The values `qtv token` and `qtv create-qscloud` mint from (after parsing). */
export type TokenValues = ReturnType<typeof parseTokenArgs>['values'];

/** Parses `qtv token`'s flags (aliases and `--groups a "b c"` included). */
export function parseTokenArgs(command: string, argv: string[]) {
  return parseCommandArgs(command, expandVariadic(argv, '--groups'), tokenOptions);
}

/**
 * Mints and prints one token from parsed flags; `sub` may be given by the caller (create-qscloud uses
 * the email address, exactly as given). Every Qlik rule is checked before the token is printed.
 */
export async function mintToken(
  values: TokenValues,
  io: CliIo,
  keyOverride?: { 'key-file': string },
): Promise<ExitCode> {
  const missing = (['sub', 'name', 'email'] as const).filter((f) => (values[f] ?? '').trim() === '');
  if (missing.length > 0)
    throw usageError(
      `${missing.map((f) => `--${f}`).join(', ')} required: e.g. --sub alice --name "Alice Example" --email alice@example.com`,
    );
  const verified = values['email-verified'].toLowerCase();
  if (verified !== 'true' && verified !== 'false')
    throw usageError(`--email-verified must be true or false, got ${JSON.stringify(values['email-verified'])}`);
  const groups = values.groups.map((g) => g.trim());
  if (groups.some((g) => g === '')) throw usageError('--groups values must not be empty');

  const { ttl, skew } = tokenTiming(values.expires, values['not-before-skew']);
  const issuedAtSeconds = parseNow(values.now);

  const keyFlags = keyOverride ?? values;
  const key = await loadSigningKey(keyFlags, values.keyid === undefined ? {} : { kid: values.keyid });
  const issuer = values.issuer ?? key.issuer;
  if (issuer === undefined || issuer.trim() === '')
    throw usageError('--issuer required: pass the issuer configured on the Qlik JWT identity provider');

  const payload = buildQlikClaims(
    {
      sub: values.sub!.trim(),
      name: values.name!.trim(),
      email: values.email!.trim(),
      emailVerified: verified === 'true',
      groups,
    },
    { issuer, issuedAtSeconds, ttlSeconds: ttl, notBeforeSkewSeconds: skew },
  );
  const header = qlikJwtHeader(key.kid);
  // The same rule module as the vending handler, qtv inspect and the tenant emulator: never print a
  // token Qlik would refuse.
  const rejected = qlikRejections(checkQlikToken({ ...header }, { ...payload }, { issuer, keyId: key.kid }));
  if (rejected.length > 0)
    throw usageError(
      rejected
        .map((r) => `${RULE_FLAGS[r.rule] ?? r.rule}: Qlik requires that ${r.message}; ${r.fix ?? ''}`.trim())
        .join('; '),
    );
  const token = await signCompactJws(payload, key);
  io.stdout(values.json ? jsonText({ token, header, payload }) : `${token}\n`);
  return EXIT.ok;
}

/** `qtv token`. */
export const tokenCommand: Command = {
  name: 'token',
  summary: 'mint a Qlik JWT (qs-jwt-compatible flags, without its traps)',
  help,
  async run(argv, io) {
    const { values } = parseTokenArgs('token', argv);
    return mintToken(values, io);
  },
};
