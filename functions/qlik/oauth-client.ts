/**
 * The port to Qlik Cloud's OAuth endpoints (`/oauth/token`, `/oauth/revoke`) and the users API
 * (`/api/v1/users`), over an injected `fetch` (the tenant emulator and fault tests stand in for Qlik).
 *
 * Rules (qlik-auth.md, "OAuth 2.0 with Qlik Cloud", from https://qlik.dev/authenticate/oauth/):
 * - `/oauth/token` takes JSON or form bodies; we send JSON, which the impersonation grant's nested
 *   `user_lookup` object needs anyway.
 * - The client authenticates with `client_id` + `client_secret`, or with a private-key JWT
 *   `client_assertion` (RS256/RS512/ES384, `iss` = `sub` = client_id, `aud` = `https://<tenant>/oauth/token`,
 *   `jti`, `exp` at most 5 min after `iat`, `kid` in the header).
 * - A client may hold up to 5 secrets at once (rotation); on `invalid_client` the next one is tried. Client
 *   authentication happens before the grant is processed (RFC 6749 §3.2.1, §5.2), so trying the next
 *   secret never consumes an authorization code twice.
 * - Responses: `access_token` (opaque: never parsed), `token_type`, `expires_at` (ISO; `expires_in` is not
 *   documented by Qlik, read only as a fallback), `scope`, `refresh_token`.
 * - Errors (https://qlik.dev/apis/rest/oauth, "Documented vs. guessed" in qlik-auth.md): Qlik documents only
 *   `{"errors":[{code,title,detail,status}]}` with its own codes, and only the status carries meaning:
 *   401 = invalid login, a code or refresh token used, deleted or expired, or bad client credentials;
 *   403 = user disabled or token limit reached. No decision here depends on an RFC 6749 `error` member: when
 *   one is present (another authorization server, or a future Qlik) it is honoured, never required. A 401 to
 *   a grant that consumes a one-time value (code, refresh token) is read as a dead grant (`invalid_grant`),
 *   because bad client credentials were already ruled out by trying every configured credential; a 401 to
 *   any other grant is read as refused client credentials.
 *
 * Upstream handling: every call has a timeout (AbortSignal.timeout). Only safe calls are retried:
 * a network error or 5xx on a request that consumes nothing (client_credentials, impersonation, revoke,
 * user look-up). A request that consumes a one-time value (authorization code; refresh token, which Qlik
 * rotates) is retried only when the connection was never made, because once it may have reached Qlik,
 * Qlik may have consumed the code: a second attempt would fail with invalid_grant at best, and at worst be
 * treated as a replay that revokes the tokens already issued (RFC 6749 §4.1.2, §10.5; RFC 9700 §4.14).
 * Nothing secret (secrets, codes, verifiers, tokens, assertions) is ever put in a message or a log line;
 * upstream bodies are never copied into errors.
 */

import { OAuthProtocolError, UpstreamError, UpstreamTimeoutError, UpstreamUnavailableError } from '../errors.js';
import type { Clock } from '../runtime/clock.js';
import { type Signer, signCompactJws } from '../signing/signer.js';
import { randomId } from '../util/random-id.js';

/** The slice of `fetch` the client uses. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Logging the client does: operation names, statuses, attempts; never values. */
export interface UpstreamLogger {
  info(message: string, extra: Record<string, unknown>): void;
  warn(message: string, extra: Record<string, unknown>): void;
}

/** Tokens as Qlik returned them, with the expiry made absolute. */
export interface TokenSet {
  readonly accessToken: string;
  readonly tokenType: string;
  /** Absolute expiry in ms since the epoch. */
  readonly expiresAtMs: number;
  readonly refreshToken?: string;
  readonly scope?: string;
}

/** Parameters that authenticate the client in one request. */
export type ClientCredentialParams = Readonly<Record<string, string>>;

/** Supplies client authentication, in order of preference; the client tries the next one on `invalid_client`. */
export interface ClientAuthenticator {
  /** Candidate credentials for one request (fresh each call: assertions carry a new `jti`). */
  candidates(): Promise<readonly ClientCredentialParams[]>;
  /** Told which candidate Qlik accepted, so it is tried first next time. */
  accepted?(candidate: ClientCredentialParams): void;
}

/**
 * Client authentication by client secret(s). The secret that worked last is tried first, so a
 * rotation costs one refused request per container, not one per request.
 */
export function secretAuthenticator(clientId: string, secrets: () => Promise<readonly string[]>): ClientAuthenticator {
  let preferred: string | undefined;
  return {
    async candidates() {
      const list = await secrets();
      const ordered =
        preferred !== undefined && list.includes(preferred)
          ? [preferred, ...list.filter((s) => s !== preferred)]
          : list;
      return ordered.map((secret) => ({ client_id: clientId, client_secret: secret }));
    },
    accepted(candidate) {
      preferred = candidate.client_secret;
    },
  };
}

/** Algorithms Qlik accepts for client assertions. */
export const CLIENT_ASSERTION_ALGORITHMS = ['RS256', 'RS512', 'ES384'] as const;
const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Life of a client assertion: short, well inside Qlik's 5-minute limit. */
export const CLIENT_ASSERTION_LIFETIME_SECONDS = 60;

/**
 * Builds a private-key JWT client assertion (RFC 7523) the way Qlik wants it, signed through the
 * Signer port (a PEM key, or KMS: the key then never leaves KMS and no client secret exists).
 */
export async function buildClientAssertion(
  signer: Signer,
  options: { clientId: string; audience: string; nowMs: number },
): Promise<string> {
  if (!(CLIENT_ASSERTION_ALGORITHMS as readonly string[]).includes(signer.alg))
    throw new TypeError(
      `Qlik accepts client assertions signed with ${CLIENT_ASSERTION_ALGORITHMS.join(', ')}, not ${signer.alg}`,
    );
  const iat = Math.floor(options.nowMs / 1000);
  return signCompactJws(
    {
      iss: options.clientId,
      sub: options.clientId,
      aud: options.audience,
      jti: randomId(18),
      iat,
      exp: iat + CLIENT_ASSERTION_LIFETIME_SECONDS,
    },
    signer,
  );
}

/** Client authentication by private-key JWT: one fresh assertion per request. */
export function assertionAuthenticator(options: {
  clientId: string;
  /** Qlik: `https://<tenant>/oauth/token`. */
  audience: string;
  signer: () => Promise<Signer>;
  clock: Clock;
}): ClientAuthenticator {
  return {
    async candidates() {
      const assertion = await buildClientAssertion(await options.signer(), {
        clientId: options.clientId,
        audience: options.audience,
        nowMs: options.clock.nowMs(),
      });
      return [
        { client_id: options.clientId, client_assertion_type: CLIENT_ASSERTION_TYPE, client_assertion: assertion },
      ];
    },
  };
}

/** How to reach one Qlik OAuth client's endpoints. */
export interface QlikOAuthClientOptions {
  /** `https://<tenant>` (or the emulator's `http://127.0.0.1:<port>`), no trailing slash. */
  readonly baseUrl: string;
  readonly authenticator: ClientAuthenticator;
  readonly fetch: FetchLike;
  readonly clock: Clock;
  readonly logger: UpstreamLogger;
  /** Per attempt. */
  readonly timeoutMs: number;
  /** Extra attempts for safe requests. */
  readonly retries: number;
  /** Pause before retry n is `n * retryDelayMs`. @default 100 */
  readonly retryDelayMs?: number;
}

/** RFC 6749 §5.2 / RFC 7009 §2.2.1 error codes we pass on; anything else becomes `invalid_request`. */
const OAUTH_ERROR_CODES = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'access_denied',
  'unsupported_token_type',
  'server_error',
  'temporarily_unavailable',
]);

/** HTTP status we answer with for each passed-on OAuth error. */
const STATUS_OF: Record<string, number> = {
  invalid_request: 400,
  invalid_grant: 400,
  invalid_scope: 400,
  unsupported_grant_type: 400,
  unsupported_token_type: 400,
  access_denied: 403,
  // The proxy's own client credentials or client setup at Qlik are wrong: the caller cannot fix that.
  invalid_client: 502,
  unauthorized_client: 502,
  server_error: 502,
  temporarily_unavailable: 503,
};

const DESCRIPTION_OF: Record<string, string> = {
  invalid_request: 'Qlik refused the request as malformed.',
  invalid_grant:
    'Qlik refused the grant: the code or refresh token is invalid, expired, revoked, already used, or was issued for another redirect URI or PKCE verifier.',
  invalid_scope: 'Qlik refused the requested scope.',
  unsupported_grant_type: 'Qlik does not support this grant type.',
  unsupported_token_type: 'Qlik cannot revoke this token type.',
  access_denied: 'Qlik denied access.',
  invalid_client: "Qlik refused this service's OAuth client credentials; an operator must fix the configuration.",
  unauthorized_client:
    'The Qlik OAuth client is not allowed to use this grant; an operator must fix the client in Qlik.',
  server_error: 'Qlik reported a server error.',
  temporarily_unavailable: 'Qlik is temporarily unavailable.',
};

/** The RFC 6749 `error` member of a body, when one is there and known (Qlik documents none). */
function explicitOAuthError(body: unknown): string | undefined {
  const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const direct = typeof record.error === 'string' ? record.error.toLowerCase() : undefined;
  return direct !== undefined && OAUTH_ERROR_CODES.has(direct) ? direct : undefined;
}

/**
 * Reads the OAuth error code of an error response. Qlik's documented shape carries no RFC code, so the
 * status decides (see the top of this file); an RFC 6749 `error` member wins when present.
 * @param consuming true for a grant that uses up a code or refresh token: its 401 means a dead grant.
 */
export function oauthErrorCode(status: number, body: unknown, consuming = false): string {
  const direct = explicitOAuthError(body);
  if (direct !== undefined) return direct;
  if (status === 401) return consuming ? 'invalid_grant' : 'invalid_client';
  if (status === 403) return 'access_denied';
  return 'invalid_request';
}

/** Errors whose body said RFC 6749 `invalid_client` in so many words (client authentication, not the user). */
const explicitClientRefusals = new WeakSet<OAuthProtocolError>();

/**
 * True only when the authorization server said, in an RFC 6749 `error` member, that client authentication
 * failed. Qlik's documented shape cannot say so (its 401 covers bad credentials and an invalid login alike),
 * so callers that must tell "client" from "user" (JIT provisioning) treat every other 4xx as possibly the user.
 */
export function isExplicitClientRefusal(error: unknown): boolean {
  return error instanceof OAuthProtocolError && explicitClientRefusals.has(error);
}

/**
 * Short, stable description of an error body: Qlik's `errors[0]` code and title, an RFC 6749 `error`
 * code, or a problem's code and title. Never the detail or description, which may echo input.
 */
export function upstreamErrorSummary(body: unknown): string {
  const b = body as
    | { errors?: { code?: unknown; title?: unknown }[]; code?: unknown; title?: unknown; error?: unknown }
    | undefined;
  const text = (...values: unknown[]) =>
    values
      .filter((v) => typeof v === 'string' && v !== '')
      .join(' ')
      .slice(0, 120);
  const first = Array.isArray(b?.errors) ? b.errors[0] : undefined;
  if (first) return text(first.code, first.title);
  if (typeof b?.error === 'string') return text(b.error);
  return text(b?.code, b?.title) || 'no error details';
}

/**
 * The typed error for an OAuth error response: the code passes on to callers; Qlik's status and
 * error summary stay on the error for operator tools; the upstream body never goes anywhere.
 */
export function oauthErrorFrom(status: number, body: unknown, consuming = false): OAuthProtocolError {
  const code = oauthErrorCode(status, body, consuming);
  const ourStatus = STATUS_OF[code] ?? 400;
  const error = new OAuthProtocolError(code, ourStatus, DESCRIPTION_OF[code] ?? 'Qlik refused the request.', {
    ...(ourStatus >= 500 ? { code: 'UPSTREAM_ERROR' as const } : {}),
    ...(code === 'temporarily_unavailable' ? { retryAfterSeconds: 5 } : {}),
    upstreamStatus: status,
    upstreamSummary: upstreamErrorSummary(body),
  });
  if (explicitOAuthError(body) === 'invalid_client') explicitClientRefusals.add(error);
  return error;
}

/** Connection errors that prove the request never left this machine (safe to retry even when consuming). */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

function causeCode(error: unknown): string | undefined {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

function isTimeout(error: unknown): boolean {
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}

/** Largest upstream body read (tokens and user records are small). */
const MAX_RESPONSE_BYTES = 256 * 1024;

interface UpstreamResponse {
  readonly status: number;
  readonly body: unknown;
}

/** A request to Qlik, described without secrets (the log keeps only `operation`). */
interface UpstreamRequest {
  readonly operation: string;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: Record<string, unknown>;
  readonly bearer?: string;
  /** True when the request uses up a one-time value (authorization code, rotating refresh token). */
  readonly consuming: boolean;
}

const TokenBodyShape = {
  parse(body: unknown, nowMs: number): TokenSet | undefined {
    if (typeof body !== 'object' || body === null) return undefined;
    const record = body as Record<string, unknown>;
    if (typeof record.access_token !== 'string' || record.access_token === '') return undefined;
    // Qlik: `expires_at` (ISO) is always there, `expires_in` not guaranteed (qlik-auth.md).
    const at = typeof record.expires_at === 'string' ? Date.parse(record.expires_at) : Number.NaN;
    const inSeconds = typeof record.expires_in === 'number' && record.expires_in > 0 ? record.expires_in : undefined;
    // Neither: assume a short life, so a cache renews early rather than serving a dead token.
    const expiresAtMs = Number.isFinite(at) ? at : nowMs + (inSeconds ?? 300) * 1000;
    return {
      accessToken: record.access_token,
      tokenType: typeof record.token_type === 'string' ? record.token_type : 'Bearer',
      expiresAtMs,
      ...(typeof record.refresh_token === 'string' && record.refresh_token !== ''
        ? { refreshToken: record.refresh_token }
        : {}),
      ...(typeof record.scope === 'string' ? { scope: record.scope } : {}),
    };
  },
};

/** A Qlik user record, as far as the proxy needs it. */
export interface QlikUser {
  readonly id: string;
  readonly subject: string;
}

/** One Qlik OAuth client: token grants, revocation, and (for an admin client) the users API. */
export class QlikOAuthClient {
  constructor(private readonly options: QlikOAuthClientOptions) {}

  /** `authorization_code` grant. Consuming: never retried once it may have reached Qlik. */
  exchangeCode(params: { code: string; redirectUri: string; codeVerifier: string }): Promise<TokenSet> {
    return this.token('authorization_code', true, {
      grant_type: 'authorization_code',
      code: params.code,
      redirect_uri: params.redirectUri,
      code_verifier: params.codeVerifier,
    });
  }

  /** `refresh_token` grant. Consuming, because Qlik rotates refresh tokens. */
  refresh(refreshToken: string): Promise<TokenSet> {
    return this.token('refresh_token', true, { grant_type: 'refresh_token', refresh_token: refreshToken });
  }

  /** `client_credentials` grant (an admin M2M token). Safe to retry. */
  clientCredentials(scope: string): Promise<TokenSet> {
    return this.token('client_credentials', false, { grant_type: 'client_credentials', scope });
  }

  /** `urn:qlik:oauth:user-impersonation`: a token for an existing user, looked up by subject. Safe to retry. */
  impersonate(subject: string, scope: string): Promise<TokenSet> {
    return this.token('user_impersonation', false, {
      grant_type: 'urn:qlik:oauth:user-impersonation',
      scope,
      user_lookup: { field: 'subject', value: subject },
    });
  }

  /** RFC 7009 revocation. Idempotent, so safe to retry. */
  async revoke(token: string, hint?: 'access_token' | 'refresh_token'): Promise<void> {
    const response = await this.authenticated({
      operation: 'revoke',
      method: 'POST',
      path: '/oauth/revoke',
      body: { token, ...(hint !== undefined ? { token_type_hint: hint } : {}) },
      consuming: false,
    });
    if (response.status !== 200 && response.status !== 204) throw oauthErrorFrom(response.status, response.body);
  }

  /** `GET /api/v1/users?filter=subject eq "<subject>"` with an admin token. */
  async findUserBySubject(adminToken: string, subject: string): Promise<QlikUser | undefined> {
    // The filter is SCIM-like: quote the value and escape `\` and `"` inside it.
    const filter = `subject eq "${subject.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
    const response = await this.send({
      operation: 'users_lookup',
      method: 'GET',
      path: `/api/v1/users?${new URLSearchParams({ filter }).toString()}`,
      bearer: adminToken,
      consuming: false,
    });
    if (response.status !== 200) throw this.usersApiError('look-up', response.status);
    const data = (response.body as { data?: unknown } | undefined)?.data;
    if (!Array.isArray(data)) throw new UpstreamError('Qlik answered the user look-up with an unexpected body.');
    const match = data.find(
      (user): user is QlikUser =>
        typeof user === 'object' &&
        user !== null &&
        (user as QlikUser).subject === subject &&
        typeof (user as QlikUser).id === 'string',
    );
    return match;
  }

  /**
   * `POST /api/v1/users` with an admin token. Not retried after it may have been sent; a 409 (the user
   * exists, e.g. created by a concurrent request) counts as success.
   */
  async createUser(
    adminToken: string,
    user: { subject: string; name: string; email: string },
  ): Promise<'created' | 'exists'> {
    const response = await this.send({
      operation: 'users_create',
      method: 'POST',
      path: '/api/v1/users',
      body: { subject: user.subject, name: user.name, ...(user.email !== '' ? { email: user.email } : {}) },
      bearer: adminToken,
      consuming: true,
    });
    if (response.status === 201 || response.status === 200) return 'created';
    if (response.status === 409) return 'exists';
    throw this.usersApiError('creation', response.status);
  }

  private usersApiError(what: string, status: number): UpstreamError {
    return new UpstreamError(
      status === 401 || status === 403
        ? `Qlik refused the user ${what}: the admin OAuth client lacks the admin scope or its token was refused.`
        : `Qlik answered the user ${what} with HTTP ${status}.`,
    );
  }

  private async token(operation: string, consuming: boolean, grant: Record<string, unknown>): Promise<TokenSet> {
    const response = await this.authenticated({
      operation,
      method: 'POST',
      path: '/oauth/token',
      body: grant,
      consuming,
    });
    if (response.status !== 200) {
      const error = oauthErrorFrom(response.status, response.body, consuming);
      if (consuming && response.status === 401 && error.oauthError === 'invalid_grant')
        // Every configured credential got the same 401: read as a dead code/refresh token (Qlik's 401 covers
        // both). If every login or refresh fails this way, the client credentials are the likelier cause.
        this.options.logger.warn('qlik answered 401 to a consuming grant; treated as a dead grant', {
          operation,
          upstream: error.upstreamSummary,
        });
      throw error;
    }
    const tokens = TokenBodyShape.parse(response.body, this.options.clock.nowMs());
    if (tokens === undefined) throw new UpstreamError('Qlik answered the token request without an access token.');
    return tokens;
  }

  /** Sends with each client credential candidate in turn, moving on only when Qlik says `invalid_client`. */
  private async authenticated(request: UpstreamRequest): Promise<UpstreamResponse> {
    const candidates = await this.options.authenticator.candidates();
    let last: UpstreamResponse | undefined;
    for (const [index, candidate] of candidates.entries()) {
      last = await this.send({ ...request, body: { ...request.body, ...candidate } });
      // Qlik's 401 does not say whether the client or the grant was refused: try the next credential on any
      // 401 that does not name another cause. Client authentication precedes the grant (RFC 6749 §3.2.1), so a
      // refused credential never consumed a code or refresh token.
      const refusedClient = last.status === 401 && oauthErrorCode(last.status, last.body) === 'invalid_client';
      if (!refusedClient) {
        if (last.status < 400) this.options.authenticator.accepted?.(candidate);
        return last;
      }
      if (index < candidates.length - 1)
        this.options.logger.warn('qlik answered 401 to a client credential; trying the next one', {
          operation: request.operation,
          candidate: index + 1,
          of: candidates.length,
        });
    }
    if (last === undefined) throw new UpstreamError('No client credentials are configured for Qlik.');
    return last;
  }

  /** One request with timeout and the retry policy described at the top of this file. */
  private async send(request: UpstreamRequest): Promise<UpstreamResponse> {
    const { fetch, timeoutMs, retries, logger, clock } = this.options;
    const delayMs = this.options.retryDelayMs ?? 100;
    for (let attempt = 0; ; attempt += 1) {
      const started = clock.nowMs();
      const headers: Record<string, string> = { accept: 'application/json' };
      if (request.body !== undefined) headers['content-type'] = 'application/json';
      if (request.bearer !== undefined) headers.authorization = `Bearer ${request.bearer}`;
      let response: Response;
      try {
        response = await fetch(`${this.options.baseUrl}${request.path}`, {
          method: request.method,
          headers,
          ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        if (isTimeout(error)) {
          logger.warn('qlik request timed out', { operation: request.operation, attempt, timeoutMs });
          throw new UpstreamTimeoutError(`Qlik did not answer within ${timeoutMs} ms.`, { cause: error });
        }
        const code = causeCode(error);
        const mayRetry = !request.consuming || (code !== undefined && NOT_SENT_CODES.has(code));
        logger.warn('qlik request failed', {
          operation: request.operation,
          attempt,
          errorCode: code,
          willRetry: mayRetry && attempt < retries,
        });
        if (mayRetry && attempt < retries) {
          await sleep(delayMs * (attempt + 1));
          continue;
        }
        throw new UpstreamUnavailableError('Qlik could not be reached.', { cause: error });
      }
      let body: unknown;
      try {
        body = await readJson(response);
      } catch (error) {
        if (isTimeout(error))
          throw new UpstreamTimeoutError(`Qlik did not answer within ${timeoutMs} ms.`, { cause: error });
        throw new UpstreamUnavailableError('Qlik closed the connection mid-answer.', { cause: error });
      }
      logger.info('qlik request', {
        operation: request.operation,
        status: response.status,
        attempt,
        durationMs: clock.nowMs() - started,
      });
      if (response.status >= 500) {
        if (!request.consuming && attempt < retries) {
          await sleep(delayMs * (attempt + 1));
          continue;
        }
        throw new UpstreamUnavailableError(`Qlik answered HTTP ${response.status}.`);
      }
      return { status: response.status, body };
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Reads a bounded JSON body; a non-JSON body reads as undefined (the status decides). */
async function readJson(response: Response): Promise<unknown> {
  const buffer = Buffer.from(await response.arrayBuffer());
  if (buffer.byteLength === 0 || buffer.byteLength > MAX_RESPONSE_BYTES) return undefined;
  try {
    return JSON.parse(buffer.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
