/**
 * Typed errors with a stable `code`. Every error that can reach an HTTP caller is a
 * {@link TokenVendingError}; its `status` decides the HTTP status and whether the message
 * is exposed (`status < 500`). Messages never contain key material, secrets or tokens.
 */

/** Stable error codes: documented in the README, relied on by clients and tests. */
export type ErrorCode =
  | 'INVALID_REQUEST'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'PAYLOAD_TOO_LARGE'
  | 'METHOD_NOT_ALLOWED'
  | 'NOT_FOUND'
  | 'UNAUTHENTICATED'
  | 'IDENTITY_NOT_MAPPABLE'
  | 'SIGNING_KEY_UNAVAILABLE'
  | 'SIGNING_KEY_INVALID'
  | 'SIGNING_FAILED'
  | 'SIGNING_BACKEND_THROTTLED'
  | 'SIGNING_KEY_DISABLED'
  | 'SIGNING_KEY_ACCESS_DENIED'
  | 'UPSTREAM_UNAVAILABLE'
  | 'UPSTREAM_TIMEOUT'
  | 'UPSTREAM_ERROR'
  | 'CONFIG_INVALID'
  | 'NOT_CONFIGURED'
  | 'OAUTH_STATE_INVALID'
  | 'OAUTH_REDIRECT_NOT_ALLOWED'
  | 'OAUTH_ORIGIN_NOT_ALLOWED'
  | 'OAUTH_REJECTED'
  | 'OAUTH_SESSION_MISSING'
  | 'OAUTH_CLIENT_CREDENTIALS_UNAVAILABLE'
  | 'ROTATION_INVALID_STATE'
  | 'ROTATION_BLOCKED'
  | 'ROTATION_TEST_FAILED'
  | 'TENANT_CLAIM_MISSING'
  | 'TENANT_NOT_ALLOWED'
  | 'TENANT_AMBIGUOUS'
  | 'TENANT_UNKNOWN'
  | 'TENANT_SUSPENDED'
  | 'TENANT_CONFIG_INVALID'
  | 'TENANT_REGISTRY_UNAVAILABLE'
  | 'INTERNAL';

/** Base class: a failure with an HTTP status, a stable code and an optional `Retry-After`. */
export class TokenVendingError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    status: number,
    message: string,
    options?: ErrorOptions & { retryAfterSeconds?: number },
  ) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }

  /** Only caller mistakes (4xx) show their message; server faults show a generic title. */
  get expose(): boolean {
    return this.status < 500;
  }
}

/** The request is malformed: bad JSON, unknown fields, out-of-range values (400). */
export class InvalidRequestError extends TokenVendingError {
  constructor(message: string, options?: ErrorOptions) {
    super('INVALID_REQUEST', 400, message, options);
  }
}

/** The request body is not `application/json` (415). */
export class UnsupportedMediaTypeError extends TokenVendingError {
  constructor(message: string) {
    super('UNSUPPORTED_MEDIA_TYPE', 415, message);
  }
}

/** The request body exceeds the size limit (413). */
export class PayloadTooLargeError extends TokenVendingError {
  constructor(limitBytes: number) {
    super('PAYLOAD_TOO_LARGE', 413, `The request body is larger than ${limitBytes} bytes.`);
  }
}

/** No verified caller identity reached the function (401). */
export class UnauthenticatedCallerError extends TokenVendingError {
  constructor(message = 'A valid bearer token from the configured identity provider is required.') {
    super('UNAUTHENTICATED', 401, message);
  }
}

/** The caller is authenticated, but its claims cannot make a Qlik identity (403). */
export class IdentityNotMappableError extends TokenVendingError {
  constructor(message: string) {
    super('IDENTITY_NOT_MAPPABLE', 403, message);
  }
}

/** The signing key could not be fetched (cold start, store down): retryable (503). */
export class SigningKeyUnavailableError extends TokenVendingError {
  constructor(message: string, options?: ErrorOptions & { retryAfterSeconds?: number }) {
    super('SIGNING_KEY_UNAVAILABLE', 503, message, { retryAfterSeconds: 5, ...options });
  }
}

/** The signing key exists but cannot make Qlik tokens (wrong type, size, malformed): an operator fault (500). */
export class SigningKeyInvalidError extends TokenVendingError {
  constructor(message: string, options?: ErrorOptions) {
    super('SIGNING_KEY_INVALID', 500, message, options);
  }
}

/** The signing backend (KMS) kept throttling within the retry budget: retryable (503). */
export class SigningBackendThrottledError extends TokenVendingError {
  constructor(message: string, options?: ErrorOptions & { retryAfterSeconds?: number }) {
    super('SIGNING_BACKEND_THROTTLED', 503, message, { retryAfterSeconds: 1, ...options });
  }
}

/** The signing key is disabled or pending deletion: an operator fault (500). */
export class SigningKeyDisabledError extends TokenVendingError {
  constructor(message: string, options?: ErrorOptions) {
    super('SIGNING_KEY_DISABLED', 500, message, options);
  }
}

/** The function's role may not use the signing key: an operator fault (500). */
export class SigningKeyAccessDeniedError extends TokenVendingError {
  constructor(message: string, options?: ErrorOptions) {
    super('SIGNING_KEY_ACCESS_DENIED', 500, message, options);
  }
}

/** A configuration is invalid; `problems` lists every one of them in plain words. */
export class ConfigError extends TokenVendingError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], source = 'configuration') {
    super('CONFIG_INVALID', 500, `Invalid ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

/** A feature is not enabled in this deployment's configuration (404). */
export class NotConfiguredError extends TokenVendingError {
  constructor(message: string) {
    super('NOT_CONFIGURED', 404, message);
  }
}

/**
 * An OAuth request failed with an RFC 6749 §5.2 error code (`invalid_grant`, `invalid_request` ...).
 * The response carries `error` (the code) and our own `error_description`: never the upstream body.
 */
export class OAuthProtocolError extends TokenVendingError {
  /** The RFC 6749 error code passed to the caller. */
  readonly oauthError: string;
  /** Qlik's HTTP status, when Qlik answered. */
  readonly upstreamStatus: number | undefined;
  /** Qlik's error code and title (never its detail), for operators' messages; never sent to callers. */
  readonly upstreamSummary: string | undefined;
  constructor(
    oauthError: string,
    status: number,
    message: string,
    options?: ErrorOptions & {
      code?: ErrorCode;
      retryAfterSeconds?: number;
      upstreamStatus?: number;
      upstreamSummary?: string;
    },
  ) {
    super(options?.code ?? 'OAUTH_REJECTED', status, message, options);
    this.oauthError = oauthError;
    this.upstreamStatus = options?.upstreamStatus;
    this.upstreamSummary = options?.upstreamSummary;
  }
}

/** The upstream (Qlik) could not be reached or answered with a server fault (502). */
export class UpstreamUnavailableError extends TokenVendingError {
  constructor(message: string, options?: ErrorOptions) {
    super('UPSTREAM_UNAVAILABLE', 502, message, options);
  }
}

/** The upstream (Qlik) did not answer within the configured timeout (504). */
export class UpstreamTimeoutError extends TokenVendingError {
  constructor(message: string, options?: ErrorOptions) {
    super('UPSTREAM_TIMEOUT', 504, message, options);
  }
}

/** The upstream answered something we cannot use (malformed body, unexpected status) (502). */
export class UpstreamError extends TokenVendingError {
  constructor(message: string, options?: ErrorOptions) {
    super('UPSTREAM_ERROR', 502, message, options);
  }
}

/** The secret is not in a state the rotation step can work on (rotation disabled, token not pending). */
export class RotationStateError extends TokenVendingError {
  constructor(message: string, options?: ErrorOptions) {
    super('ROTATION_INVALID_STATE', 500, message, options);
  }
}

/** The rotation stopped before promotion because Qlik does not (yet) trust the new key; the operator must act. */
export class RotationBlockedError extends TokenVendingError {
  constructor(message: string, options?: ErrorOptions) {
    super('ROTATION_BLOCKED', 500, message, options);
  }
}

/** The pending key failed a check (signature, Qlik rules, probe login); it is not promoted. */
export class RotationTestFailedError extends TokenVendingError {
  constructor(message: string, options?: ErrorOptions) {
    super('ROTATION_TEST_FAILED', 500, message, options);
  }
}
