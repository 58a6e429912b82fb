/**
 * `qtv idp push`: creates the JWT identity provider on a Qlik tenant through
 * `POST /api/v1/identity-providers` (https://qlik.dev/apis/rest/identity-providers/), authenticated
 * with an admin API key or an OAuth client_credentials client (https://qlik.dev/authenticate/oauth/).
 * Idempotent: an existing JWT IdP with the same issuer and key ID is reported, not duplicated.
 */

import {
  QlikApiError,
  type QlikApiStep,
  QlikRestIdentityProviders,
  type QlikRestOptions,
} from '../../functions/qlik/identity-providers.js';
import { loadCliEnvironment } from '../../functions/runtime/config.js';
import { idpSourceOptions, resolveIdpConfig } from '../cli/idp-source.js';
import { type Command, EXIT, jsonText, parseCommandArgs, upstreamError, usageError } from '../cli/support.js';

const help = `qtv idp push: create the JWT identity provider on a Qlik Cloud tenant

usage: qtv idp push --tenant HOST (env QTV_QLIK_API_KEY | --client-id ID) [IdP source as in qtv idp config] [--json]

  --tenant HOST       tenant host, e.g. example.eu.qlikcloud.com (https:// is implied; a full URL is kept)
  API key:            env QTV_QLIK_API_KEY (a tenant admin's API key)
  OAuth client:       --client-id ID with env QTV_QLIK_CLIENT_SECRET (a machine-to-machine client with
                      admin scope; secrets are read from the environment, never from argv)
  --scope S           scope for the client_credentials grant (default: admin_classic, what the IdP API needs)
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

/** The admin credential: an API key, or an OAuth client whose secret comes from the environment (also used by `qtv tenant add`). */
export function adminCredential(flags: { 'client-id'?: string }): Pick<QlikRestOptions, 'apiKey' | 'credentials'> {
  const env = loadCliEnvironment();
  if (flags['client-id'] !== undefined) {
    const clientSecret = env.qlikClientSecret;
    if (clientSecret === undefined)
      throw usageError('--client-id needs the client secret in env QTV_QLIK_CLIENT_SECRET');
    const clientId = flags['client-id'];
    return { credentials: async () => ({ clientId, clientSecret }) };
  }
  if (env.qlikApiKey !== undefined) return { apiKey: env.qlikApiKey };
  throw usageError('no admin credential: set QTV_QLIK_API_KEY, or pass --client-id with QTV_QLIK_CLIENT_SECRET');
}

/** The fix to print for a failed step. */
const FIXES: Record<QlikApiStep, string> = {
  token: 'check the client ID, QTV_QLIK_CLIENT_SECRET and that the client may use client_credentials',
  list: 'the credential needs the tenant admin role',
  create: "check the credential's admin role and the IdP values (qtv idp config --json)",
  delete: 'the credential needs the tenant admin role',
  login: 'check the web integration ID',
  'web-integration': 'the credential needs the tenant admin role',
  'csp-origin': 'the credential needs the tenant admin role',
  'oauth-client': 'the credential needs the tenant admin role',
};

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
    const tenant = new QlikRestIdentityProviders({
      tenant: base,
      fetch: io.fetch,
      timeoutMs: 15_000,
      ...adminCredential(values),
      ...(values.scope !== undefined ? { scope: values.scope } : {}),
    });
    const request = config.identityProviderRequest as {
      description?: unknown;
      tenantIds?: string[];
      clockToleranceSec?: number;
    };
    const report = (id: string | undefined, created: boolean) => {
      const summary = { id, created, issuer: config.issuer, keyId: config.keyId, tenant: base };
      io.stdout(
        values.json
          ? jsonText(summary)
          : `${created ? 'created' : 'already exists:'} JWT identity provider ${id} on ${base} (issuer ${config.issuer}, key ID ${config.keyId})\n`,
      );
      return EXIT.ok;
    };
    try {
      const existing = (await tenant.listJwtIdentityProviders()).find(
        (idp) => idp.issuer === config.issuer && idp.kid === config.keyId,
      );
      if (existing !== undefined) return report(existing.id, false);
      const created = await tenant.createJwtIdentityProvider({
        kid: config.keyId,
        issuer: config.issuer,
        certificate: config.certificate,
        description:
          typeof request.description === 'string' ? request.description : `qlik-token-vending key ${config.keyId}`,
        ...(request.tenantIds !== undefined ? { tenantIds: request.tenantIds } : {}),
        ...(request.clockToleranceSec !== undefined ? { clockToleranceSec: request.clockToleranceSec } : {}),
      });
      return report(created.id, true);
    } catch (error) {
      if (error instanceof QlikApiError)
        throw upstreamError(`${error.message.replace(/\.$/, '')}: ${FIXES[error.step]}`);
      throw error;
    }
  },
};
