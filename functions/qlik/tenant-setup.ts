/**
 * Qlik Cloud's tenant set-up APIs that `qtv tenant add` uses besides identity providers, each documented on
 * qlik.dev:
 * - web integrations (the tenant's CORS allowlist for the JWT-session flow, and the ID the browser sends as
 *   `qlik-web-integration-id`): `GET`/`POST /api/v1/web-integrations`, https://qlik.dev/apis/rest/web-integrations/
 * - CSP origins (which origins may frame Qlik: the `frameAncestors` directive): `GET`/`POST /api/v1/csp-origins`,
 *   `PUT /api/v1/csp-origins/{id}`, https://qlik.dev/apis/rest/csp-origins/
 * - OAuth clients: `GET`/`POST /api/v1/oauth-clients`, `PATCH /api/v1/oauth-clients/{id}`,
 *   `POST /api/v1/oauth-clients/{id}/client-secrets`, https://qlik.dev/apis/rest/oauth-clients/ ; the guide
 *   "Manage OAuth clients via API" (https://qlik.dev/authenticate/oauth/oauth-clients-api/) creates the M2M
 *   impersonation client of an OEM's new tenant exactly so.
 * The bearer, timeouts and error shaping are {@link QlikRestIdentityProviders}'s (one admin credential).
 */
import { QlikApiError, type QlikApiStep, type QlikRestIdentityProviders, refused } from './identity-providers.js';

/** A web integration, as this project reads it. */
export interface QlikWebIntegration {
  readonly id: string;
  readonly name: string;
  readonly validOrigins: readonly string[];
}

/** A CSP entry, as this project reads it. */
export interface QlikCspOrigin {
  readonly id: string;
  readonly origin: string;
  readonly name: string;
  readonly frameAncestors: boolean;
  /** The entry as Qlik returned it (for a PUT that changes one directive and keeps the rest). */
  readonly raw: Readonly<Record<string, unknown>>;
}

/** An OAuth client, as this project reads it (never a secret: Qlik returns hints only after creation). */
export interface QlikOAuthClient {
  readonly clientId: string;
  readonly clientName: string;
  readonly allowedOrigins: readonly string[];
  readonly redirectUris: readonly string[];
  readonly allowedGrantTypes: readonly string[];
}

/** The body of `POST /api/v1/oauth-clients` this project sends (a `web`, i.e. confidential, client). */
export interface NewQlikOAuthClient {
  readonly clientName: string;
  readonly description: string;
  readonly allowedScopes: readonly string[];
  readonly redirectUris?: readonly string[];
  readonly allowedGrantTypes?: readonly ('client_credentials' | 'urn:qlik:oauth:user-impersonation')[];
  /** "trusted": no consent prompt (the M2M impersonation guide requires it for impersonation). */
  readonly trusted: boolean;
}

/** The admin call {@link QlikRestIdentityProviders.adminFetch} makes. */
type AdminFetch = Pick<QlikRestIdentityProviders, 'adminFetch'>;

const JSON_HEADERS = { 'content-type': 'application/json' };

/** Tenant set-up over the Qlik REST API (web integrations, CSP origins, OAuth clients). */
export class QlikRestTenantSetup {
  constructor(private readonly http: AdminFetch) {}

  private async json<T>(step: QlikApiStep, what: string, path: string, init: RequestInit = { method: 'GET' }) {
    const response = await this.http.adminFetch(path, init, step);
    if (!response.ok) throw await refused(step, what, response);
    const text = await response.text();
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /** Follows `links.next.href` (absolute or a path) for at most 20 pages. */
  private async pages<T>(step: QlikApiStep, what: string, first: string): Promise<T[]> {
    const found: T[] = [];
    let path: string | undefined = first;
    for (let page = 0; path !== undefined && page < 20; page++) {
      const body: { data?: T[]; links?: { next?: { href?: string } } } | undefined = await this.json(step, what, path);
      found.push(...(body?.data ?? []));
      const next: string | undefined = body?.links?.next?.href;
      path = next === undefined ? undefined : next.startsWith('http') ? pathOf(next) : next;
    }
    return found;
  }

  /** Web integrations of the tenant. */
  async listWebIntegrations(): Promise<QlikWebIntegration[]> {
    const raw = await this.pages<Record<string, unknown>>(
      'web-integration',
      'Listing Qlik web integrations failed',
      '/api/v1/web-integrations?limit=100',
    );
    return raw.flatMap((w) =>
      typeof w.id === 'string' ? [{ id: w.id, name: String(w.name ?? ''), validOrigins: strings(w.validOrigins) }] : [],
    );
  }

  /** `POST /api/v1/web-integrations` `{name, validOrigins}` (201). */
  async createWebIntegration(name: string, validOrigins: readonly string[]): Promise<QlikWebIntegration> {
    const created = await this.json<Record<string, unknown>>(
      'web-integration',
      'Creating the Qlik web integration failed',
      '/api/v1/web-integrations',
      { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ name, validOrigins: [...validOrigins] }) },
    );
    if (typeof created?.id !== 'string')
      throw new QlikApiError('web-integration', 'Qlik returned no id for the new web integration.');
    return { id: created.id, name, validOrigins: [...validOrigins] };
  }

  /**
   * CSP entries for exactly `origin`. The list's `origin` filter is documented as "wildcard and case
   * insensitive", so the answer is narrowed here to the byte-exact origin.
   */
  async findCspOrigins(origin: string): Promise<QlikCspOrigin[]> {
    const raw = await this.pages<Record<string, unknown>>(
      'csp-origin',
      'Listing Qlik CSP origins failed',
      `/api/v1/csp-origins?limit=100&origin=${encodeURIComponent(origin)}`,
    );
    return raw.filter((c) => c.origin === origin && typeof c.id === 'string').map(cspOf);
  }

  /** `POST /api/v1/csp-origins` with the `frameAncestors` directive on (201). */
  async createFrameAncestor(origin: string, name: string, description: string): Promise<QlikCspOrigin> {
    const created = await this.json<Record<string, unknown>>(
      'csp-origin',
      'Creating the Qlik CSP origin failed',
      '/api/v1/csp-origins',
      {
        method: 'POST',
        headers: JSON_HEADERS,
        body: JSON.stringify({ origin, name, description, frameAncestors: true }),
      },
    );
    if (typeof created?.id !== 'string') throw new QlikApiError('csp-origin', 'Qlik returned no id for the CSP entry.');
    return cspOf(created);
  }

  /** `PUT /api/v1/csp-origins/{id}`: the entry as it is, with `frameAncestors` on. */
  async allowFraming(entry: QlikCspOrigin): Promise<void> {
    const { id: _id, createdDate: _c, modifiedDate: _m, ...content } = entry.raw;
    await this.json(
      'csp-origin',
      `Updating Qlik CSP origin ${entry.id} failed`,
      `/api/v1/csp-origins/${enc(entry.id)}`,
      {
        method: 'PUT',
        headers: JSON_HEADERS,
        body: JSON.stringify({ ...content, frameAncestors: true }),
      },
    );
  }

  /**
   * OAuth clients named exactly `clientName`: `filter=clientName eq "…"` (RFC 7644, documented for this list),
   * then an exact comparison here, as the filter's case rules are not documented.
   */
  async findOAuthClients(clientName: string): Promise<QlikOAuthClient[]> {
    const filter = `clientName eq "${clientName.replace(/["\\]/g, '\\$&')}"`;
    const raw = await this.pages<Record<string, unknown>>(
      'oauth-client',
      'Listing Qlik OAuth clients failed',
      `/api/v1/oauth-clients?limit=100&filter=${encodeURIComponent(filter)}`,
    );
    return raw.filter((c) => c.clientName === clientName && typeof c.clientId === 'string').map(clientOf);
  }

  /** `POST /api/v1/oauth-clients` (201): the client and its secret, which Qlik shows this once. */
  async createOAuthClient(client: NewQlikOAuthClient): Promise<{ client: QlikOAuthClient; clientSecret: string }> {
    const body = {
      appType: 'web',
      clientName: client.clientName,
      description: client.description,
      allowedScopes: [...client.allowedScopes],
      ...(client.redirectUris !== undefined ? { redirectUris: [...client.redirectUris] } : {}),
      ...(client.allowedGrantTypes !== undefined ? { allowedGrantTypes: [...client.allowedGrantTypes] } : {}),
      ...(client.trusted ? { connectionConfig: { consentMethod: 'trusted' } } : {}),
    };
    const created = await this.json<Record<string, unknown>>(
      'oauth-client',
      `Creating the Qlik OAuth client "${client.clientName}" failed`,
      '/api/v1/oauth-clients',
      { method: 'POST', headers: JSON_HEADERS, body: JSON.stringify(body) },
    );
    if (typeof created?.clientId !== 'string' || typeof created.clientSecret !== 'string')
      throw new QlikApiError('oauth-client', 'Qlik returned no client ID or secret for the new OAuth client.');
    return { client: clientOf(created), clientSecret: created.clientSecret };
  }

  /**
   * `PATCH /api/v1/oauth-clients/{id}` `[{op: "replace", path: "/allowedOrigins", value: [...]}]`. Origins go
   * in by PATCH, not at creation: the create call documents `allowedOrigins` as "only available with SPA
   * application type", while PATCH lists `/allowedOrigins` for every client.
   */
  async setOAuthClientOrigins(clientId: string, origins: readonly string[]): Promise<void> {
    await this.json(
      'oauth-client',
      `Setting the allowed origins of Qlik OAuth client ${clientId} failed`,
      `/api/v1/oauth-clients/${enc(clientId)}`,
      {
        method: 'PATCH',
        headers: JSON_HEADERS,
        body: JSON.stringify([{ op: 'replace', path: '/allowedOrigins', value: [...origins] }]),
      },
    );
  }

  /** `POST /api/v1/oauth-clients/{id}/client-secrets` (201): a new secret beside the old ones (Qlik keeps up to 5). */
  async createOAuthClientSecret(clientId: string): Promise<string> {
    const created = await this.json<Record<string, unknown>>(
      'oauth-client',
      `Creating a secret for Qlik OAuth client ${clientId} failed`,
      `/api/v1/oauth-clients/${enc(clientId)}/client-secrets`,
      { method: 'POST' },
    );
    if (typeof created?.clientSecret !== 'string')
      throw new QlikApiError('oauth-client', 'Qlik returned no secret for the OAuth client.');
    return created.clientSecret;
  }
}

const enc = encodeURIComponent;

function pathOf(href: string): string {
  const url = new URL(href);
  return url.pathname + url.search;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function cspOf(raw: Record<string, unknown>): QlikCspOrigin {
  return {
    id: String(raw.id),
    origin: String(raw.origin ?? ''),
    name: String(raw.name ?? ''),
    frameAncestors: raw.frameAncestors === true,
    raw,
  };
}

function clientOf(raw: Record<string, unknown>): QlikOAuthClient {
  return {
    clientId: String(raw.clientId),
    clientName: String(raw.clientName ?? ''),
    allowedOrigins: strings(raw.allowedOrigins),
    redirectUris: strings(raw.redirectUris),
    allowedGrantTypes: strings(raw.allowedGrantTypes),
  };
}
