/**
 * `qtv idp push`: creates the JWT identity provider on a Qlik tenant through
 * `POST /api/v1/identity-providers` (https://qlik.dev/apis/rest/identity-providers/), authenticated
 * with an admin API key or an OAuth client_credentials client (https://qlik.dev/authenticate/oauth/).
 * Idempotent: an existing JWT IdP with the same issuer and key ID is reported, not duplicated.
 */
import { loadCliEnvironment } from '../../functions/shared/config.js';
import { errorSummary, fetchJson, idpSourceOptions, resolveIdpConfig } from '../cli/idp-source.js';
import {
  type CliIo,
  type Command,
  EXIT,
  jsonText,
  parseCommandArgs,
  upstreamError,
  usageError,
} from '../cli/support.js';

const help = `qtv idp push: create the JWT identity provider on a Qlik Cloud tenant

usage: qtv idp push --tenant HOST (env QTV_QLIK_API_KEY | --client-id ID) [IdP source as in qtv idp config] [--json]

  --tenant HOST       tenant host, e.g. example.eu.qlikcloud.com (https:// is implied; a full URL is kept)
  API key:            env QTV_QLIK_API_KEY (a tenant admin's API key)
  OAuth client:       --client-id ID with env QTV_QLIK_CLIENT_SECRET (a machine-to-machine client with
                      admin scope; secrets are read from the environment, never from argv)
  --scope S           scope for the client_credentials grant (default: none, the client's defaults)
  IdP source:         --api-url URL, or --key-file FILE --issuer ISS [--keyid KID] [--cert-file FILE], or --secret-id S
  --tenant-id ID      add tenantIds to the body
  --json              print {id, created, issuer, keyId}

An existing JWT IdP with the same issuer and key ID is left alone (exit 0, "already exists").
Qlik allows one key per JWT IdP: to rotate, push the new key (a second IdP), switch signing, delete the old one.

example:
  QTV_QLIK_API_KEY=... qtv idp push --tenant example.eu.qlikcloud.com \\
    --key-file privatekey.pem --cert-file publickey.cer --issuer https://qtv.example.com --keyid qtv-2026-11
`;

/** Base URL of a tenant from `--tenant`: a bare host means https. */
export function tenantBaseUrl(tenant: string): string {
  const text = tenant.trim().replace(/\/$/, '');
  if (/^https?:\/\//i.test(text)) return text;
  if (!/^[a-z0-9.-]+(:\d+)?$/i.test(text))
    throw usageError(`--tenant ${JSON.stringify(tenant)} is not a host: e.g. --tenant example.eu.qlikcloud.com`);
  return `https://${text}`;
}

/** An admin bearer credential: the API key itself, or an access token from client_credentials. */
async function adminBearer(base: string, flags: { 'client-id'?: string; scope?: string }, io: CliIo): Promise<string> {
  const env = loadCliEnvironment();
  if (flags['client-id'] !== undefined) {
    if (env.qlikClientSecret === undefined)
      throw usageError('--client-id needs the client secret in env QTV_QLIK_CLIENT_SECRET');
    const { status, body } = await fetchJson(
      io,
      `${base}/oauth/token`,
      {
        method: 'POST',
        // Form encoding: what every OAuth server takes (Qlik's /oauth/token also takes JSON).
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: flags['client-id'],
          client_secret: env.qlikClientSecret,
          ...(flags.scope !== undefined ? { scope: flags.scope } : {}),
        }).toString(),
      },
      'cannot get an admin access token',
    );
    const token = (body as { access_token?: unknown } | undefined)?.access_token;
    if (status !== 200 || typeof token !== 'string')
      throw upstreamError(
        `POST ${base}/oauth/token answered ${status} (${errorSummary(body)}): check the client ID, QTV_QLIK_CLIENT_SECRET and that the client may use client_credentials`,
      );
    return token;
  }
  if (env.qlikApiKey !== undefined) return env.qlikApiKey;
  throw usageError('no admin credential: set QTV_QLIK_API_KEY, or pass --client-id with QTV_QLIK_CLIENT_SECRET');
}

interface IdentityProvider {
  id?: string;
  protocol?: string;
  options?: { issuer?: string; staticKeys?: { kid?: string }[] };
}

/** `qtv idp push`. */
export const idpPushCommand: Command = {
  name: 'idp push',
  summary: 'create the JWT identity provider on a Qlik tenant (REST API, admin credential)',
  help,
  async run(argv, io) {
    const { values } = parseCommandArgs('idp push', argv, {
      ...idpSourceOptions,
      tenant: { type: 'string' },
      'client-id': { type: 'string' },
      scope: { type: 'string' },
      json: { type: 'boolean', default: false },
    });
    if (values.tenant === undefined) throw usageError('--tenant required: e.g. --tenant example.eu.qlikcloud.com');
    const base = tenantBaseUrl(values.tenant);
    const config = await resolveIdpConfig(values, io);
    const bearer = await adminBearer(base, values, io);
    const headers = { authorization: `Bearer ${bearer}`, accept: 'application/json' };
    const url = `${base}/api/v1/identity-providers`;

    const listed = await fetchJson(io, url, { headers }, 'cannot list identity providers');
    if (listed.status !== 200)
      throw upstreamError(
        `GET ${url} answered ${listed.status} (${errorSummary(listed.body)}): the credential needs the tenant admin role`,
      );
    const data = (listed.body as { data?: IdentityProvider[] } | undefined)?.data ?? [];
    const existing = data.find(
      (idp) =>
        idp.protocol === 'jwtAuth' &&
        idp.options?.issuer === config.issuer &&
        (idp.options?.staticKeys ?? []).some((k) => k.kid === config.keyId),
    );
    const report = (id: string | undefined, created: boolean) => {
      const summary = { id, created, issuer: config.issuer, keyId: config.keyId, tenant: base };
      io.stdout(
        values.json
          ? jsonText(summary)
          : `${created ? 'created' : 'already exists:'} JWT identity provider ${id} on ${base} (issuer ${config.issuer}, key ID ${config.keyId})\n`,
      );
      return EXIT.ok;
    };
    if (existing !== undefined) return report(existing.id, false);

    const posted = await fetchJson(
      io,
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify(config.identityProviderRequest),
      },
      'cannot create the identity provider',
    );
    const id = (posted.body as IdentityProvider | undefined)?.id;
    if ((posted.status !== 201 && posted.status !== 200) || id === undefined)
      throw upstreamError(
        `POST ${url} answered ${posted.status} (${errorSummary(posted.body)}): check the credential's admin role and the IdP values (qtv idp config --json)`,
      );
    return report(id, true);
  },
};
