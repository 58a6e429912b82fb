/**
 * Small HTTP helpers shared by the emulator's route modules: body parsing (JSON or form, as Qlik's
 * /oauth/token takes both), JSON responses, Qlik-shaped errors, cookies.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Qlik's error body: `{"errors":[{code,title,detail,status}]}` (qlik-auth.md, "OAuth 2.0 with Qlik Cloud"). */
export interface QlikErrorBody {
  errors: { code: string; title: string; detail: string; status: string }[];
}

/** Builds one Qlik-shaped error body. `status` is a string in Qlik's examples (`"status":"400"`). */
export function qlikError(status: number, code: string, title: string, detail: string): QlikErrorBody {
  return { errors: [{ code, title, detail, status: String(status) }] };
}

/** Writes a JSON response with `Cache-Control: no-store`. */
export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  response.end(JSON.stringify(body));
}

/** Writes a Qlik-shaped error. */
export function sendQlikError(response: ServerResponse, status: number, code: string, title: string, detail: string) {
  sendJson(response, status, qlikError(status, code, title, detail));
}

/** Reads the whole request body (bounded: the emulator is a test tool, but a runaway client should not hurt it). */
export async function readBody(request: IncomingMessage, limit = 256 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A parsed request body: strings, or nested objects when it was JSON. */
export type Params = Record<string, unknown>;

/**
 * Parses a JSON or `application/x-www-form-urlencoded` body into an object.
 * @returns undefined when the body cannot be parsed or has another content type.
 */
export function parseParams(contentType: string | undefined, body: Buffer): Params | undefined {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (body.length === 0) return {};
  if (type === 'application/json') {
    try {
      const value: unknown = JSON.parse(body.toString('utf8'));
      return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Params) : undefined;
    } catch {
      return undefined;
    }
  }
  if (type === 'application/x-www-form-urlencoded')
    return Object.fromEntries(new URLSearchParams(body.toString('utf8')));
  return undefined;
}

/** Parses a JSON body of any shape; undefined when it is not JSON. */
export function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Cookies of a request, by name. */
export function requestCookies(request: IncomingMessage): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const index = part.indexOf('=');
    if (index > 0) cookies.set(part.slice(0, index).trim(), decodeURIComponent(part.slice(index + 1).trim()));
  }
  return cookies;
}

/** The bearer token of a request, if any. */
export function bearerToken(request: IncomingMessage): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  return match?.[1];
}
