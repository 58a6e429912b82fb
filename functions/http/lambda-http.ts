/**
 * HTTP plumbing shared by every handler: JSON and RFC 9457 problem responses, strict JSON body
 * parsing, and the middy middleware that turns typed errors into problems without leaking internals.
 */
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import {
  type ErrorCode,
  InvalidRequestError,
  PayloadTooLargeError,
  TokenVendingError,
  UnsupportedMediaTypeError,
} from '../errors.js';
import type * as z from '../runtime/zod.js';

/** Largest request body any route accepts. */
export const MAX_BODY_BYTES = 8 * 1024;

const NO_STORE = { 'cache-control': 'no-store' };

/** A JSON response; never cached (tokens and key facts must not sit in shared caches). */
export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = NO_EXTRA_HEADERS,
): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: status,
    // Without extra headers (every token response) a literal: no spreads on the per-token path.
    headers:
      headers === NO_EXTRA_HEADERS
        ? { 'content-type': 'application/json', 'cache-control': 'no-store' }
        : { 'content-type': 'application/json', ...NO_STORE, ...headers },
    body: JSON.stringify(body),
  };
}

const NO_EXTRA_HEADERS: Record<string, string> = Object.freeze({});

/** The `type` URI of a problem with our stable `code`. */
export function problemType(code: ErrorCode): string {
  return `urn:qlik-token-vending:error:${code.toLowerCase().replaceAll('_', '-')}`;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  409: 'Conflict',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** An RFC 9457 problem response with our stable `code`. */
export function problem(
  status: number,
  code: ErrorCode,
  detail: string,
  extraHeaders: Record<string, string> = {},
  extraMembers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/problem+json', ...NO_STORE, ...extraHeaders },
    body: JSON.stringify({
      type: problemType(code),
      title: TITLES[status] ?? 'Error',
      status,
      detail,
      code,
      ...extraMembers,
    }),
  };
}

/** Maps any thrown value to a problem response; only caller-facing (4xx) messages are shown. */
export function problemFromError(error: unknown): APIGatewayProxyStructuredResultV2 {
  if (error instanceof TokenVendingError) {
    const headers: Record<string, string> = {};
    if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(error.retryAfterSeconds);
    if (error.status === 401) headers['www-authenticate'] = 'Bearer';
    const detail = error.expose ? error.message : 'The service could not complete the request; it has been logged.';
    // OAuth errors also speak RFC 6749 §5.2 (`error`, `error_description`) as problem extension members,
    // so an OAuth client library and a problem+json reader both understand the same body.
    const oauthError = (error as { oauthError?: unknown }).oauthError;
    const extra: Record<string, string> =
      typeof oauthError === 'string' ? { error: oauthError, error_description: detail } : {};
    // An identity rule refusal names the claim and the rule as members too, so clients need not parse `detail`.
    const { claim, rule } = error as { claim?: unknown; rule?: unknown };
    if (typeof claim === 'string' && typeof rule === 'string') Object.assign(extra, { claim, rule });
    return problem(error.status, error.code, detail, headers, extra);
  }
  return problem(500, 'INTERNAL', 'The service could not complete the request; it has been logged.');
}

/** Minimal logger shape the middleware needs (Powertools' Logger fits). */
export interface ErrorLogger {
  error(message: string, extra: Record<string, unknown>): void;
  warn(message: string, extra: Record<string, unknown>): void;
}

/** Longest caller-supplied name or value quoted in a message or log line, in characters. */
export const MAX_LOGGED_VALUE_CHARS = 64;
/** Longest error message put in a log line, in characters. */
export const MAX_LOGGED_MESSAGE_CHARS = 512;

/**
 * Quotes a caller-supplied string for a message or log line: at most `maxChars` characters (the rest
 * counted, not shown) and every character outside printable ASCII escaped as `\uXXXX`, so no control,
 * bidi or line-separator character reaches a terminal or a log parser.
 */
export function quoteForLog(value: string, maxChars = MAX_LOGGED_VALUE_CHARS): string {
  const chars = Array.from(value);
  const shown = escapeUnprintable(chars.slice(0, maxChars).join('').replace(/["\\]/g, '\\$&'));
  return `"${shown}"${chars.length > maxChars ? `…(+${chars.length - maxChars} chars)` : ''}`;
}

/** Escapes every UTF-16 unit outside printable ASCII as `\uXXXX`. */
function escapeUnprintable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A message bounded for a log line, with characters outside printable ASCII escaped. */
function boundedMessage(message: string): string {
  const chars = Array.from(message);
  if (chars.length <= MAX_LOGGED_MESSAGE_CHARS) return escapeUnprintable(message);
  return `${escapeUnprintable(chars.slice(0, MAX_LOGGED_MESSAGE_CHARS).join(''))}…(+${chars.length - MAX_LOGGED_MESSAGE_CHARS} chars)`;
}

/** A safe summary of an error for logs: names and codes, never foreign messages that could echo input. */
export function describeErrorForLog(error: unknown): Record<string, unknown> {
  if (error instanceof TokenVendingError) {
    return {
      errorCode: error.code,
      errorName: error.name,
      errorMessage: boundedMessage(error.message),
      cause:
        error.cause instanceof Error
          ? { name: error.cause.name, code: (error.cause as { code?: unknown }).code }
          : undefined,
    };
  }
  if (error instanceof Error) return { errorName: error.name, errorCode: (error as { code?: unknown }).code };
  return { errorName: typeof error };
}

/**
 * middy middleware: typed errors become problem+json; server faults are logged once with a safe summary.
 * Like middy's http-error-handler, only errors with status < 500 expose their message.
 */
export function problemJsonErrors(
  logger: ErrorLogger,
): MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> {
  return {
    onError: async (request) => {
      const error = request.error;
      const response = problemFromError(error);
      if (response.statusCode !== undefined && response.statusCode >= 500)
        logger.error('request failed', describeErrorForLog(error));
      else logger.warn('request refused', describeErrorForLog(error));
      request.response = response;
    },
  };
}

function headerValue(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const headers = event.headers ?? {};
  const direct = headers[name];
  if (direct !== undefined) return direct;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === wanted) return value;
  return undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** At most this many problems (and unknown field names) are listed in one message. */
const MAX_LISTED_ISSUES = 5;

/**
 * Parses an optional JSON body against a strict zod schema. An empty body parses as `{}`.
 * @throws PayloadTooLargeError, UnsupportedMediaTypeError, InvalidRequestError
 */
export function parseJsonBody<S extends z.ZodMiniType>(event: APIGatewayProxyEventV2, schema: S): z.output<S> {
  const raw = event.body ?? '';
  // No body (the common vend request): nothing to decode, so no buffer per request.
  const bytes = raw === '' ? undefined : event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  if (bytes !== undefined && bytes.byteLength > MAX_BODY_BYTES) throw new PayloadTooLargeError(MAX_BODY_BYTES);
  let value: unknown = {};
  if (bytes !== undefined && bytes.byteLength > 0) {
    const contentType = headerValue(event, 'content-type') ?? '';
    if (!/^application\/json\s*(;|$)/i.test(contentType.trim())) {
      throw new UnsupportedMediaTypeError('Send the request body as application/json.');
    }
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      throw new InvalidRequestError('The request body is not valid UTF-8.');
    }
    try {
      value = JSON.parse(text);
    } catch {
      throw new InvalidRequestError('The request body is not valid JSON.');
    }
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    // Field names are the caller's: each is bounded and escaped, and only the first few are named, so a
    // body of 8 KiB of invented keys makes a short message and a short log line.
    const problems = result.error.issues.slice(0, MAX_LISTED_ISSUES).map((issue) => {
      const path = issue.path.map((p) => (typeof p === 'number' ? String(p) : quoteForLog(String(p)))).join('.');
      if (issue.code === 'unrecognized_keys') {
        const named = issue.keys.slice(0, MAX_LISTED_ISSUES).map((k) => quoteForLog(k));
        const more = issue.keys.length - named.length;
        return `unknown field(s) ${named.join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
      }
      return path === '' ? issue.message : `${path}: ${issue.message}`;
    });
    if (result.error.issues.length > MAX_LISTED_ISSUES)
      problems.push(`${result.error.issues.length - MAX_LISTED_ISSUES} more problem(s)`);
    throw new InvalidRequestError(`Invalid request body: ${problems.join('; ')}.`);
  }
  return result.data;
}

/** True when the caller prefers the bare token as text (qlik-embed's getAccessToken wants a string). */
export function wantsText(event: APIGatewayProxyEventV2): boolean {
  const accept = headerValue(event, 'accept') ?? '';
  return /^\s*text\/plain\b/i.test(accept) || (/\btext\/plain\b/i.test(accept) && !/json/i.test(accept));
}

/** A text/plain response holding a bare token; never cached. */
export function text(status: number, body: string): APIGatewayProxyStructuredResultV2 {
  return { statusCode: status, headers: { 'content-type': 'text/plain; charset=utf-8', ...NO_STORE }, body };
}

/** Reads a header case-insensitively. */
export { headerValue };
