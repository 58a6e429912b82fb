/**
 * `qtv token`: mints a Qlik JWT with qs-jwt-like flags, through the same claim builder and JWS
 * assembler as the Lambda (buildQlikClaims + signCompactJws), and fixes qs-jwt's traps: `groups`
 * (not `group`), `email_verified` as a JSON boolean, and no lifetime Qlik would refuse.
 */
import { buildQlikClaims, QLIK_MAX_LIFETIME_SECONDS, qlikJwtHeader } from '../../functions/qlik/claims.js';
import { signCompactJws } from '../../functions/signing/signer.js';
import { keySourceOptions, loadSigningKey } from '../cli/key-source.js';
import { type Command, EXIT, jsonText, parseCommandArgs, parseDuration, parseNow, usageError } from '../cli/support.js';

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
  --expires D           lifetime from now: 30s, 5m, 1h (default 5m). exp - nbf must stay <= 60 minutes
  --not-before-skew D   nbf is back-dated by this much for clock skew (default 30s; counts toward the 60 minutes)
  --key-file FILE       PEM RSA private key (PKCS#8 or PKCS#1); or --key PEM; or env QTV_PRIVATE_KEY
  --secret-id SECRET    read the key from AWS Secrets Manager (AWS_ENDPOINT_URL, AWS_REGION honoured)
  --kms KEY-ID          sign with an AWS KMS key (RSA_2048/3072/4096, SIGN_VERIFY): the key never leaves KMS
  --now TIME            issue time (ISO 8601 or epoch seconds), for reproducible tokens
  --json                print {token, header, payload}

example:
  qtv token --key-file privatekey.pem --issuer https://qtv.example.com --keyid qtv-2026-11 \\
    --sub alice --name "Alice Example" --email alice@example.com --groups Sales "Sales EMEA" --expires 10m
`;

/** qs-jwt takes `--groups g1 "g 2"`; parseArgs has no variadic options, so spread them into repeats. */
function expandVariadic(argv: string[], flag: string): string[] {
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

/** `qtv token`. */
export const tokenCommand: Command = {
  name: 'token',
  summary: 'mint a Qlik JWT (qs-jwt-compatible flags, without its traps)',
  help,
  async run(argv, io) {
    const { values } = parseCommandArgs('token', expandVariadic(argv, '--groups'), {
      sub: { type: 'string' },
      name: { type: 'string' },
      email: { type: 'string' },
      'email-verified': { type: 'string', default: 'true' },
      groups: { type: 'string', multiple: true, default: [] },
      issuer: { type: 'string' },
      keyid: { type: 'string' },
      expires: { type: 'string', default: '5m' },
      'not-before-skew': { type: 'string', default: '30s' },
      now: { type: 'string' },
      json: { type: 'boolean', default: false },
      ...keySourceOptions,
    });
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

    const ttlSeconds = parseDuration(values.expires, '--expires');
    const skewSeconds =
      values['not-before-skew'] === '0' ? 0 : parseDuration(values['not-before-skew'], '--not-before-skew');
    // Qlik measures exp - nbf, so the back-dated nbf counts too (qs-jwt's documented 365d fails here).
    if (ttlSeconds + skewSeconds > QLIK_MAX_LIFETIME_SECONDS)
      throw usageError(
        `--expires ${values.expires} with nbf back-dated ${skewSeconds}s makes exp - nbf ${ttlSeconds + skewSeconds}s: Qlik rejects tokens valid for more than 60 minutes; use --expires ${Math.floor((QLIK_MAX_LIFETIME_SECONDS - skewSeconds) / 60)}m or less`,
      );
    const issuedAtSeconds = parseNow(values.now);

    const key = await loadSigningKey(values, values.keyid === undefined ? {} : { kid: values.keyid });
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
      { issuer, issuedAtSeconds, ttlSeconds, notBeforeSkewSeconds: skewSeconds },
    );
    const token = await signCompactJws(payload, key);
    io.stdout(values.json ? jsonText({ token, header: qlikJwtHeader(key.kid), payload }) : `${token}\n`);
    return EXIT.ok;
  },
};
