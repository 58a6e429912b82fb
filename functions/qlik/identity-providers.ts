/**
 * Qlik Cloud's JWT identity-provider API, in one place: the request body, the port, and its REST
 * adapter. Used by key rotation, `qtv idp push` and `GET /qlik/idp-config`.
 * API: https://qlik.dev/apis/rest/identity-providers/ ; one key per JWT IdP, and PATCH cannot change
 * key or issuer (qlik-auth.md), so a new key always means a new IdP.
 */
import { OAuthProtocolError, TokenVendingError, UpstreamTimeoutError } from '../errors.js';
import { QlikOAuthClient, type UpstreamLogger, upstreamErrorSummary } from './oauth-client.js';

/** Identity providers this service manages are recognised by this description prefix. */
export const MANAGED_IDP_DESCRIPTION_PREFIX = 'qlik-token-vending key ';

/**
 * A PEM on one line: the BEGIN line, the base64 body and the END line joined with single spaces. Qlik's
 * automation example "identity-provider-create" says the pem "must be on a single line"; the console asks
 * for it "with no stray line breaks". PEM parsers (RFC 7468 §2) accept whitespace between the parts.
 */
export function pemOnOneLine(pem: string): string {
  // Every run of whitespace (line breaks included) becomes one space; the labels keep their inner spaces.
  return pem.trim().split(/\s+/).join(' ');
}

/** The Qlik REST API body for a JWT IdP (qlik-auth.md): the PEM on one line ({@link pemOnOneLine}). */
export function identityProviderRequestBody(idp: {
  kid: string;
  issuer: string;
  certificate: string;
  description?: string;
  tenantIds?: readonly string[];
  clockToleranceSec?: number;
}) {
  return {
    ...(idp.tenantIds !== undefined ? { tenantIds: [...idp.tenantIds] } : {}),
    provider: 'external',
    protocol: 'jwtAuth',
    interactive: false,
    active: true,
    description: idp.description ?? `${MANAGED_IDP_DESCRIPTION_PREFIX}${idp.kid}`,
    clockToleranceSec: idp.clockToleranceSec ?? 0,
    options: {
      jwtLoginEnabled: true,
      issuer: idp.issuer,
      staticKeys: [{ kid: idp.kid, pem: pemOnOneLine(idp.certificate) }],
    },
  };
}

/** One JWT identity provider on the tenant, as this project cares. */
export interface QlikJwtIdentityProvider {
  readonly id: string;
  readonly kid: string | undefined;
  readonly issuer: string | undefined;
  readonly description: string | undefined;
}

/** What the new key's identity provider is made of. */
export interface NewQlikJwtIdentityProvider {
  readonly kid: string;
  readonly issuer: string;
  /** PEM certificate (sent on one line, as the console wants). */
  readonly certificate: string;
  readonly description: string;
  /** Optional fields of the documented POST body. */
  readonly tenantIds?: readonly string[];
  readonly clockToleranceSec?: number;
}

/** The outcome of a probe login at `/login/jwt-session`. */
export type QlikLoginResult =
  | { readonly ok: true; readonly status: number }
  | { readonly ok: false; readonly status: number; readonly detail: string };

/** The identity-provider side of a Qlik tenant (rotation, `qtv idp push`). */
export interface QlikIdentityProviderPort {
  /** JWT identity providers on the tenant. */
  listJwtIdentityProviders(): Promise<QlikJwtIdentityProvider[]>;
  createJwtIdentityProvider(idp: NewQlikJwtIdentityProvider): Promise<QlikJwtIdentityProvider>;
  deleteIdentityProvider(id: string): Promise<void>;
  /** `POST /login/jwt-session` with the token; never throws for a refusal, only for a transport fault. */
  tryJwtLogin(token: string): Promise<QlikLoginResult>;
}

/** The credentials of an admin-scoped Qlik OAuth client (machine to machine). */
export interface QlikClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

/** Settings of {@link QlikRestIdentityProviders}. */
export interface QlikRestOptions {
  /** Tenant host (`example.eu.qlikcloud.com`) or, for the emulator, an `http://` base URL. */
  readonly tenant: string;
  readonly fetch: typeof globalThis.fetch;
  /** Loads the admin client's credentials (e.g. from Secrets Manager); absent: only the probe login works. */
  readonly credentials?: () => Promise<QlikClientCredentials>;
  /** A tenant admin API key used as the bearer instead of a client_credentials token. */
  readonly apiKey?: string;
  readonly webIntegrationId?: string;
  /** Scope asked for with client_credentials; admin_classic makes the token admin on the IdP API. @default 'admin_classic' */
  readonly scope?: string;
  /** @default 10_000 */
  readonly timeoutMs?: number;
  readonly nowMs?: () => number;
  /** Told about each call to `/oauth/token` (operation, status, attempt; never values). @default none */
  readonly logger?: UpstreamLogger;
}

const SILENT: UpstreamLogger = { info: () => {}, warn: () => {} };

/** Which call to the tenant failed. */
export type QlikApiStep =
  | 'token'
  | 'list'
  | 'create'
  | 'delete'
  | 'login'
  // The tenant set-up APIs of ./tenant-setup.ts.
  | 'web-integration'
  | 'csp-origin'
  | 'oauth-client';

/** A Qlik API call failed (status or transport); carries the error code Qlik gave, never its body. */
export class QlikApiError extends TokenVendingError {
  readonly step: QlikApiStep;
  /** Qlik's HTTP status; undefined when the tenant could not be reached. */
  readonly upstreamStatus: number | undefined;
  constructor(step: QlikApiStep, message: string, options?: ErrorOptions & { upstreamStatus?: number }) {
    super('UPSTREAM_ERROR', 502, message, options);
    this.step = step;
    this.upstreamStatus = options?.upstreamStatus;
  }
}

/** Restates a failed client_credentials grant as the `token` step's error, naming Qlik's status and code. */
function tokenStepError(base: string, error: unknown): QlikApiError {
  if (error instanceof OAuthProtocolError && error.upstreamStatus !== undefined)
    return new QlikApiError(
      'token',
      `Qlik refused the admin client's credentials (HTTP ${error.upstreamStatus}: ${error.upstreamSummary ?? error.oauthError}).`,
      { cause: error, upstreamStatus: error.upstreamStatus },
    );
  if (error instanceof UpstreamTimeoutError)
    return new QlikApiError('token', `The Qlik tenant ${base} did not answer in time (token).`, { cause: error });
  const reason = error instanceof Error ? error.message : 'unknown error';
  return new QlikApiError('token', `Getting an admin token from ${base} failed: ${reason}`, { cause: error });
}

/** Builds the error for a non-2xx answer, naming Qlik's error code (never copying its body). */
export async function refused(step: QlikApiStep, what: string, response: Response): Promise<QlikApiError> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  return new QlikApiError(step, `${what} (HTTP ${response.status}: ${upstreamErrorSummary(body)}).`, {
    upstreamStatus: response.status,
  });
}

interface RawIdp {
  id?: unknown;
  protocol?: unknown;
  description?: unknown;
  options?: { issuer?: unknown; staticKeys?: Array<{ kid?: unknown }> };
}

/**
 * {@link QlikIdentityProviderPort} over the Qlik REST API:
 * `GET/POST /api/v1/identity-providers`, `DELETE /api/v1/identity-providers/{id}` (https://qlik.dev/apis/rest/identity-providers/),
 * bearer from `POST /oauth/token` with `grant_type=client_credentials` (https://qlik.dev/authenticate/oauth/),
 * and `POST /login/jwt-session` (https://qlik.dev/apis/rest/login/) for the probe.
 */
export class QlikRestIdentityProviders implements QlikIdentityProviderPort {
  private readonly base: string;
  private accessToken: { value: string; expiresAtMs: number } | undefined;
  /** The one client_credentials implementation (request, client authentication, Qlik's expires_at). */
  private readonly oauth: QlikOAuthClient | undefined;
  private readonly nowMs: () => number;

  constructor(private readonly options: QlikRestOptions) {
    this.base = /^https?:\/\//.test(options.tenant) ? options.tenant.replace(/\/$/, '') : `https://${options.tenant}`;
    this.nowMs = options.nowMs ?? Date.now;
    const { credentials } = options;
    this.oauth =
      credentials === undefined
        ? undefined
        : new QlikOAuthClient({
            baseUrl: this.base,
            // Read per token request, so a rotated admin secret is picked up at the next renewal.
            authenticator: {
              async candidates() {
                const { clientId, clientSecret } = await credentials();
                return [{ client_id: clientId, client_secret: clientSecret }];
              },
            },
            fetch: options.fetch,
            clock: { nowMs: this.nowMs },
            logger: options.logger ?? SILENT,
            timeoutMs: options.timeoutMs ?? 10_000,
            retries: 0,
          });
  }

  private async call(path: string, init: RequestInit, step: QlikApiStep): Promise<Response> {
    try {
      return await this.options.fetch(`${this.base}${path}`, {
        ...init,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      const reason = (error as Error).name === 'TimeoutError' ? 'did not answer in time' : 'could not be reached';
      throw new QlikApiError(step, `The Qlik tenant ${this.base} ${reason} (${step}).`, { cause: error });
    }
  }

  private async bearer(): Promise<string> {
    if (this.options.apiKey !== undefined) return this.options.apiKey;
    if (this.accessToken !== undefined && this.nowMs() < this.accessToken.expiresAtMs) return this.accessToken.value;
    if (this.oauth === undefined)
      throw new QlikApiError('token', 'No Qlik admin credential is configured (an admin OAuth client or an API key).');
    let tokens: Awaited<ReturnType<QlikOAuthClient['clientCredentials']>>;
    try {
      tokens = await this.oauth.clientCredentials(this.options.scope ?? 'admin_classic');
    } catch (error) {
      throw tokenStepError(this.base, error);
    }
    // Renew a minute early, so a call never starts with a token about to lapse.
    this.accessToken = { value: tokens.accessToken, expiresAtMs: tokens.expiresAtMs - 60_000 };
    return tokens.accessToken;
  }

  private async authorized(path: string, init: RequestInit, step: QlikApiStep): Promise<Response> {
    const token = await this.bearer();
    const response = await this.call(
      path,
      { ...init, headers: { accept: 'application/json', ...init.headers, authorization: `Bearer ${token}` } },
      step,
    );
    if (response.status === 401) this.accessToken = undefined;
    return response;
  }

  /**
   * A call to another admin REST API of the same tenant with the same bearer, timeout and errors
   * (./tenant-setup.ts: web integrations, CSP origins, OAuth clients).
   */
  adminFetch(path: string, init: RequestInit, step: QlikApiStep): Promise<Response> {
    return this.authorized(path, init, step);
  }

  async listJwtIdentityProviders(): Promise<QlikJwtIdentityProvider[]> {
    const found: QlikJwtIdentityProvider[] = [];
    let path: string | undefined = '/api/v1/identity-providers?limit=100';
    for (let page = 0; path !== undefined && page < 20; page++) {
      const response = await this.authorized(path, { method: 'GET' }, 'list');
      if (!response.ok) throw await refused('list', 'Listing Qlik identity providers failed', response);
      const body = (await response.json()) as { data?: RawIdp[]; links?: { next?: { href?: string } } };
      for (const raw of body.data ?? []) {
        if (raw.protocol !== 'jwtAuth' || typeof raw.id !== 'string') continue;
        const kid = raw.options?.staticKeys?.[0]?.kid;
        found.push({
          id: raw.id,
          kid: typeof kid === 'string' ? kid : undefined,
          issuer: typeof raw.options?.issuer === 'string' ? raw.options.issuer : undefined,
          description: typeof raw.description === 'string' ? raw.description : undefined,
        });
      }
      const next = body.links?.next?.href;
      path =
        next === undefined ? undefined : next.startsWith('http') ? new URL(next).pathname + new URL(next).search : next;
    }
    return found;
  }

  async createJwtIdentityProvider(idp: NewQlikJwtIdentityProvider): Promise<QlikJwtIdentityProvider> {
    const body = { ...identityProviderRequestBody(idp), description: idp.description };
    const response = await this.authorized(
      '/api/v1/identity-providers',
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
      'create',
    );
    if (!response.ok) throw await refused('create', 'Creating the Qlik JWT identity provider failed', response);
    const created = (await response.json()) as RawIdp;
    if (typeof created.id !== 'string')
      throw new QlikApiError('create', 'Qlik returned no id for the new identity provider.');
    return { id: created.id, kid: idp.kid, issuer: idp.issuer, description: idp.description };
  }

  async deleteIdentityProvider(id: string): Promise<void> {
    const response = await this.authorized(
      `/api/v1/identity-providers/${encodeURIComponent(id)}`,
      { method: 'DELETE' },
      'delete',
    );
    // 404: already gone (a retried cleanup), which is what we wanted.
    if (!response.ok && response.status !== 404)
      throw await refused('delete', `Deleting Qlik identity provider ${id} failed`, response);
  }

  async tryJwtLogin(token: string): Promise<QlikLoginResult> {
    const response = await this.call(
      '/login/jwt-session',
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          ...(this.options.webIntegrationId ? { 'qlik-web-integration-id': this.options.webIntegrationId } : {}),
        },
      },
      'login',
    );
    if (response.ok) return { ok: true, status: response.status };
    // Qlik's errors[] detail names the failing rule (e.g. "JWT_LOGIN_VALIDATIONS Missing required claim: nbf"); it
    // never contains the token, but cap it anyway.
    let detail = '';
    try {
      const body = (await response.json()) as { errors?: Array<{ detail?: unknown; code?: unknown }> };
      const first = body.errors?.[0];
      detail = [first?.code, first?.detail]
        .filter((v) => typeof v === 'string')
        .join(' ')
        .slice(0, 200);
    } catch {
      detail = 'no JSON error body';
    }
    return { ok: false, status: response.status, detail };
  }
}
