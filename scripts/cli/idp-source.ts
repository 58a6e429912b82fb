/**
 * The Qlik IdP settings for `idp config` / `idp push`: from a running token API
 * (`GET /qlik/idp-config`) or from a local key, through describeIdpConfig (the handler's own core).
 */

import { describeIdpConfig, type IdpConfig } from '../../functions/idp-config/core.js';
import { upstreamErrorSummary } from '../../functions/qlik/oauth-client.js';
import { type KeySourceFlags, keySourceOptions, loadSigningKey } from './key-source.js';
import { type CliIo, readTextFile, upstreamError, usageError } from './support.js';

/** parseArgs options naming where the IdP settings come from. */
export const idpSourceOptions = {
  ...keySourceOptions,
  'api-url': { type: 'string' },
  issuer: { type: 'string' },
  keyid: { type: 'string' },
  'cert-file': { type: 'string' },
  'tenant-id': { type: 'string' },
  'clock-tolerance': { type: 'string' },
} as const;

/** Flags of {@link idpSourceOptions}. */
export interface IdpSourceFlags extends KeySourceFlags {
  readonly 'api-url'?: string;
  readonly issuer?: string;
  readonly keyid?: string;
  readonly 'cert-file'?: string;
  readonly 'tenant-id'?: string;
  readonly 'clock-tolerance'?: string;
}

/** Fetches JSON with a timeout; network faults and non-2xx become one-line upstream errors. */
export async function fetchJson(
  io: CliIo,
  url: string,
  init: RequestInit,
  what: string,
): Promise<{ status: number; body: unknown }> {
  let response: Response;
  try {
    response = await io.fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
  } catch (error) {
    const cause = (error as Error).cause as { code?: string; message?: string } | undefined;
    const reason =
      (error as Error).name === 'TimeoutError'
        ? 'timed out after 15 s'
        : `unreachable (${cause?.code ?? cause?.message ?? (error as Error).message})`;
    throw upstreamError(`${what}: ${new URL(url).origin} ${reason}: check the URL and network access`);
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body };
}

/** Stable short description of an error body (shared with the Qlik API client). */
export const errorSummary = upstreamErrorSummary;

/** Resolves the IdP settings from `--api-url` or a local key. */
export async function resolveIdpConfig(flags: IdpSourceFlags, io: CliIo): Promise<IdpConfig> {
  let config: IdpConfig;
  if (flags['api-url'] !== undefined) {
    const url = `${flags['api-url'].replace(/\/$/, '')}/qlik/idp-config`;
    const { status, body } = await fetchJson(io, url, {}, 'cannot get the IdP settings');
    if (status !== 200 || typeof body !== 'object' || body === null)
      throw upstreamError(
        `GET ${url} answered ${status} (${errorSummary(body)}): check --api-url points at the token API`,
      );
    config = body as IdpConfig;
  } else {
    const certificate =
      flags['cert-file'] === undefined
        ? undefined
        : readTextFile(flags['cert-file'], '--cert-file', 'a PEM certificate').trim();
    const key = await loadSigningKey(flags, {
      ...(flags.keyid !== undefined ? { kid: flags.keyid } : {}),
      ...(certificate !== undefined ? { certificate } : {}),
    });
    const issuer = flags.issuer ?? key.issuer;
    if (issuer === undefined)
      throw usageError('--issuer required: the issuer your tokens carry (or pass --api-url to ask the token API)');
    config = await describeIdpConfig({ current: async () => key }, issuer);
  }
  const tolerance = flags['clock-tolerance'];
  if (tolerance !== undefined && !/^\d+$/.test(tolerance))
    throw usageError('--clock-tolerance must be whole seconds, e.g. 5');
  // The documented POST body also carries tenantIds and clockToleranceSec; add them when the operator gives them.
  return {
    ...config,
    identityProviderRequest: {
      ...(flags['tenant-id'] !== undefined ? { tenantIds: [flags['tenant-id']] } : {}),
      ...config.identityProviderRequest,
      ...(tolerance !== undefined ? { clockToleranceSec: Number(tolerance) } : {}),
    },
  };
}
