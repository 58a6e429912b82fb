/**
 * `qtv doctor`: end-to-end diagnosis of a deployed or local stack: reach the API, get a caller token,
 * mint a Qlik JWT, check it with the shared Qlik rules, compare it with GET /qlik/idp-config, and
 * optionally open a Qlik session with it (POST /login/jwt-session, https://qlik.dev/apis/rest/login/).
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import { checkQlikToken } from '../../functions/qlik/claims.js';
import { loadCliEnvironment } from '../../functions/runtime/config.js';
import { errorSummary, fetchJson } from '../cli/idp-source.js';
import { CliError, type CliIo, type Command, EXIT, jsonText, parseCommandArgs, usageError } from '../cli/support.js';
import { cognitoFlags, refuseSecretsOnArgv, signInWithFlags } from './caller-token.js';
import { tenantBaseUrl } from './idp-push.js';
import { decodeCompactJwt, verifyRs256 } from './inspect.js';

const help = `qtv doctor: check a token-vending stack end to end and print a pass/fail list

usage: qtv doctor --api-url URL [--caller-token JWT | env QTV_CALLER_TOKEN] [--sub ID --name N --email E]
                  [--user-pool-id ID --client-id ID --cognito-username NAME (+ the caller-token inputs)]
                  [--tenant HOST --web-integration-id ID] [--json]

  --api-url URL           the token API (deployed, or the local dev server, e.g. http://127.0.0.1:8787)
  --caller-token JWT      a caller token for POST /qlik/jwt (or env QTV_CALLER_TOKEN); without one, the
                          local dev server's identity provider is asked (POST /dev/identity/token)
  --sub, --name, --email  the dev identity to ask for (default qtv-doctor, "qtv doctor", qtv-doctor@example.com)
  --user-pool-id ID, --client-id ID, --cognito-username NAME
                          get the caller token from the stack's Cognito pool as qtv caller-token does
                          (password: QTV_COGNITO_PASSWORD, --password-file or --password-stdin; TOTP secret:
                          --totp-secret-file or QTV_TOTP_SECRET; --new-password-file; --cognito-endpoint URL)
  --tenant HOST           also try the token on Qlik: POST https://HOST/login/jwt-session
  --web-integration-id ID the tenant's web integration ID (needed with --tenant)
  --json                  print {ok, checks: [{check, ok, detail, fix?}]}

Checks: API reachable; IdP settings served; caller token; Qlik JWT minted; every Qlik rule (same rules as
qtv inspect); kid, issuer and certificate of the token match /qlik/idp-config; the signature verifies with
that certificate; the certificate is valid now; (with --tenant) Qlik opens a session.
Exit 0 when every check passes, 1 otherwise.

example:
  npm start &   # local dev server on http://127.0.0.1:8787
  qtv doctor --api-url http://127.0.0.1:8787
`;

interface Check {
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly fix?: string;
  /** The token API or the tenant could not be reached at all: exit 3, not 1 (docs/cli.md's exit codes). */
  readonly unreachable?: boolean;
}

/** `qtv doctor`. */
export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'diagnose a stack end to end: API, caller token, Qlik JWT, rules, IdP settings, Qlik session',
  help,
  async run(argv, io) {
    refuseSecretsOnArgv(argv);
    const { values } = parseCommandArgs('doctor', argv, {
      ...cognitoFlags,
      'cognito-username': { type: 'string' },
      'cognito-endpoint': { type: 'string' },
      'api-url': { type: 'string' },
      'caller-token': { type: 'string' },
      sub: { type: 'string', default: 'qtv-doctor' },
      name: { type: 'string', default: 'qtv doctor' },
      email: { type: 'string', default: 'qtv-doctor@example.com' },
      tenant: { type: 'string' },
      'web-integration-id': { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    if (values['api-url'] === undefined) throw usageError('--api-url required: e.g. --api-url http://127.0.0.1:8787');
    if ((values.tenant === undefined) !== (values['web-integration-id'] === undefined))
      throw usageError('--tenant and --web-integration-id go together: pass both to try a Qlik session, or neither');
    let api: string;
    try {
      api = new URL(values['api-url']).toString().replace(/\/$/, '');
    } catch {
      throw usageError(
        `--api-url ${JSON.stringify(values['api-url'])} is not a URL: e.g. https://abc123.execute-api.eu-west-1.amazonaws.com`,
      );
    }
    const tenant = values.tenant === undefined ? undefined : tenantBaseUrl(values.tenant);
    const viaCognito =
      values['user-pool-id'] !== undefined ||
      values['client-id'] !== undefined ||
      values['cognito-username'] !== undefined;
    const givenToken = values['caller-token'] ?? loadCliEnvironment().callerToken;
    if (viaCognito && values['caller-token'] !== undefined)
      throw usageError('give --caller-token or the Cognito pool flags (--user-pool-id ...), not both');
    const checks = await diagnose(io, {
      api,
      callerToken: viaCognito ? undefined : givenToken,
      ...(viaCognito
        ? {
            cognito: async () =>
              (await signInWithFlags(values, values['cognito-username'], values['cognito-endpoint'], io, 'cognito-'))
                .idToken,
            cognitoLabel: `Cognito pool ${values['user-pool-id']} (user ${values['cognito-username']})`,
          }
        : {}),
      identity: { sub: values.sub, name: values.name, email: values.email },
      ...(tenant !== undefined ? { tenant, webIntegrationId: values['web-integration-id']! } : {}),
    });
    const ok = checks.every((c) => c.ok);
    if (values.json) io.stdout(jsonText({ ok, checks }));
    else
      io.stdout(
        [
          ...checks.flatMap((c) => [
            `${c.ok ? 'PASS' : 'FAIL'}  ${c.check.padEnd(26)} ${c.detail}`,
            ...(c.fix ? [`      fix: ${c.fix}`] : []),
          ]),
          '',
          ok ? 'ok: every check passed' : `${checks.filter((c) => !c.ok).length} check(s) failed`,
          '',
        ].join('\n'),
      );
    if (ok) return EXIT.ok;
    return checks.some((c) => c.unreachable) ? EXIT.upstream : EXIT.checkFailed;
  },
};

interface DiagnoseOptions {
  readonly api: string;
  readonly callerToken: string | undefined;
  /** Signs in to the stack's Cognito pool (qtv caller-token's flow) for the caller token. */
  readonly cognito?: () => Promise<string>;
  readonly cognitoLabel?: string;
  readonly identity: { sub: string; name: string; email: string };
  readonly tenant?: string;
  readonly webIntegrationId?: string;
}

/** Runs the checks in order; a failing step ends the run with what it learnt so far. */
async function diagnose(io: CliIo, options: DiagnoseOptions): Promise<Check[]> {
  const checks: Check[] = [];
  const pass = (check: string, detail: string) => checks.push({ check, ok: true, detail });
  const fail = (check: string, detail: string, fix: string, unreachable = false) => {
    checks.push({ check, ok: false, detail, fix, ...(unreachable ? { unreachable } : {}) });
    return checks;
  };
  const call = async (check: string, url: string, init: RequestInit = {}) => {
    try {
      return await fetchJson(io, url, init, check);
    } catch (error) {
      fail(
        check,
        (error as Error).message.replace(`${check}: `, ''),
        'Check --api-url, that the stack is deployed or `npm start` runs, and the network.',
        true,
      );
      return undefined;
    }
  };

  // 1. The API answers, and serves the IdP settings.
  const idp = await call('api.reachable', `${options.api}/qlik/idp-config`);
  if (idp === undefined) return checks;
  pass('api.reachable', `${options.api} answers`);
  const idpBody = idp.body as { issuer?: string; keyId?: string; certificate?: string; publicKey?: string } | undefined;
  if (
    idp.status !== 200 ||
    typeof idpBody?.issuer !== 'string' ||
    typeof idpBody.keyId !== 'string' ||
    typeof idpBody.certificate !== 'string'
  )
    return fail(
      'idp-config.served',
      `GET /qlik/idp-config answered ${idp.status} (${errorSummary(idp.body)})`,
      'Check the signing key configuration (qtv secret show) and the API logs.',
    );
  pass('idp-config.served', `issuer ${idpBody.issuer}, key ID ${idpBody.keyId}`);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(idpBody.certificate);
  } catch {
    return fail(
      'idp-config.certificate',
      'the certificate is not a PEM X.509 certificate',
      'Store a valid certificate with the key (qtv secret put --cert-file).',
    );
  }
  const nowMs = Date.now();
  const validNow = Date.parse(certificate.validFrom) <= nowMs && nowMs < Date.parse(certificate.validTo);
  if (validNow) pass('idp-config.certificate', `${certificate.subject}, valid until ${certificate.validTo}`);
  else
    fail(
      'idp-config.certificate',
      `not valid now (${certificate.validFrom} - ${certificate.validTo})`,
      'Make a new certificate for the key (qtv keys create / qtv secret put) and update the Qlik IdP.',
    );
  if (typeof idpBody.publicKey === 'string') {
    let same = false;
    try {
      same = createPublicKey(idpBody.publicKey).equals(certificate.publicKey);
    } catch {
      same = false;
    }
    if (same) pass('idp-config.key-matches', "the certificate holds the API's public key");
    else
      fail(
        'idp-config.key-matches',
        "the certificate does not hold the API's public key",
        'Store the certificate made from this key (qtv secret put --cert-file); Qlik would reject every token.',
      );
  }

  // 2. A caller token: given, from the stack's Cognito pool, or from the local dev identity provider.
  let callerToken = options.callerToken;
  if (options.cognito !== undefined) {
    try {
      callerToken = await options.cognito();
    } catch (error) {
      // Missing or unreadable inputs are the operator's to fix before any check means anything: exit 2.
      if (!(error instanceof CliError) || error.exitCode === EXIT.usage) throw error;
      // The message already says what Cognito answered and the fix.
      return fail(
        'caller.token',
        error.message,
        'Follow the fix above; qtv caller-token with the same pool flags shows the sign-in on its own.',
        /unreachable/.test(error.message),
      );
    }
    pass('caller.token', `from ${options.cognitoLabel ?? 'Cognito'}`);
  } else if (callerToken === undefined) {
    const dev = await call('caller.token', `${options.api}/dev/identity/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...options.identity, email_verified: true }),
    });
    if (dev === undefined) return checks;
    const idToken = (dev.body as { id_token?: unknown } | undefined)?.id_token;
    if (dev.status !== 200 || typeof idToken !== 'string')
      return fail(
        'caller.token',
        `no dev identity provider at ${options.api} (POST /dev/identity/token answered ${dev.status})`,
        'Pass --caller-token (or env QTV_CALLER_TOKEN) with a token from your identity provider.',
      );
    callerToken = idToken;
    pass('caller.token', `from the dev identity provider (sub ${options.identity.sub})`);
  } else pass('caller.token', 'given');

  // 3. Mint a Qlik JWT.
  const minted = await call('qlik-jwt.minted', `${options.api}/qlik/jwt`, {
    method: 'POST',
    headers: { authorization: `Bearer ${callerToken}` },
  });
  if (minted === undefined) return checks;
  const token = (minted.body as { token?: unknown } | undefined)?.token;
  if (minted.status !== 200 || typeof token !== 'string')
    return fail(
      'qlik-jwt.minted',
      `POST /qlik/jwt answered ${minted.status} (${errorSummary(minted.body)})`,
      minted.status === 401
        ? "The caller token was refused: check its issuer, audience and expiry against the API's callerIdp."
        : 'See the code above in docs; check the API logs.',
    );
  const decoded = decodeCompactJwt(token);
  if (decoded === undefined)
    return fail('qlik-jwt.minted', 'the API returned something that is not a JWT', 'Check the API version and logs.');
  pass('qlik-jwt.minted', `kid ${String(decoded.header.kid)}, sub ${String(decoded.payload.sub)}`);

  // 4. Qlik's rules (the same checker as qtv inspect, the handler and the tenant emulator), against the IdP settings.
  for (const r of checkQlikToken(decoded.header, decoded.payload, {
    issuer: idpBody.issuer,
    keyId: idpBody.keyId,
    nowSeconds: Math.floor(nowMs / 1000),
  })) {
    if (r.severity === 'warning' && r.ok) continue;
    checks.push(
      r.ok
        ? { check: `rule ${r.rule}`, ok: true, detail: r.message }
        : { check: `rule ${r.rule}`, ok: r.severity !== 'error', detail: r.message, fix: r.fix ?? '' },
    );
  }
  if (verifyRs256(decoded, certificate.publicKey))
    pass('signature.verifies', 'with the certificate from /qlik/idp-config');
  else
    fail(
      'signature.verifies',
      'the signature does not verify with the certificate from /qlik/idp-config',
      'The API signs with a key other than the one it advertises: check the key secret and restart/redeploy.',
    );

  // 5. Optionally, Qlik itself.
  if (options.tenant !== undefined && options.webIntegrationId !== undefined) {
    const url = `${options.tenant}/login/jwt-session`;
    let status: number | undefined;
    let body: unknown;
    try {
      const response = await io.fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'qlik-web-integration-id': options.webIntegrationId },
        signal: AbortSignal.timeout(15_000),
      });
      status = response.status;
      body = await response.json().catch(() => undefined);
    } catch (error) {
      fail(
        'qlik.session',
        `${options.tenant} unreachable (${(error as Error).name})`,
        'Check --tenant and network access.',
        true,
      );
    }
    if (status !== undefined) {
      if (status >= 200 && status < 300)
        pass('qlik.session', `POST /login/jwt-session answered ${status}: Qlik accepted the token`);
      else
        fail(
          'qlik.session',
          `POST /login/jwt-session answered ${status} (${errorSummary(body)})`,
          'Check the Qlik JWT IdP: issuer, key ID and certificate must equal the values of qtv idp config; the web integration ID must allow this origin.',
        );
    }
  }
  return checks;
}
