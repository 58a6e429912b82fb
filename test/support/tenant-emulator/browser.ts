/**
 * A scriptable "browser" for the emulator's interactive flows: fetch with a cookie jar that follows
 * redirects by hand, plus PKCE helpers. Tests and the OAuth proxy's tests sign a user in with
 * {@link completeAuthorization} instead of a real browser.
 */
import { createHash, randomBytes } from 'node:crypto';

/** Cookies per origin (host:port); enough for loopback tests. */
export class CookieJar {
  readonly #cookies = new Map<string, Map<string, string>>();

  /** Stores the Set-Cookie headers of a response from `url`. */
  store(url: string, response: Response): void {
    const host = new URL(url).host;
    const jar = this.#cookies.get(host) ?? new Map<string, string>();
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const index = pair.indexOf('=');
      if (index <= 0) continue;
      const name = pair.slice(0, index).trim();
      const value = pair.slice(index + 1).trim();
      // An expired or emptied cookie is a deletion.
      if (value === '' || /;\s*expires=Thu, 01 Jan 1970/i.test(line) || /;\s*max-age=0/i.test(line)) jar.delete(name);
      else jar.set(name, value);
    }
    this.#cookies.set(host, jar);
  }

  /** The Cookie header for `url`, or undefined. */
  header(url: string): string | undefined {
    const jar = this.#cookies.get(new URL(url).host);
    if (!jar || jar.size === 0) return undefined;
    return [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  /** One cookie's value for `url`'s host. */
  get(url: string, name: string): string | undefined {
    return this.#cookies.get(new URL(url).host)?.get(name);
  }

  /** fetch with this jar, no automatic redirects. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const cookie = this.header(url);
    if (cookie !== undefined) headers.set('cookie', cookie);
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    this.store(url, response);
    return response;
  }
}

/** A PKCE pair (S256). */
export function pkcePair(verifier = randomBytes(32).toString('base64url')) {
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url'), method: 'S256' as const };
}

/** What {@link completeAuthorization} needs. */
export interface AuthorizationOptions {
  /** The full `/oauth/authorize?...` URL (e.g. what the OAuth proxy's login route redirects to). */
  readonly authorizeUrl: string;
  /** Subject (or user id) of the emulated user to sign in. */
  readonly subject: string;
  /** Reuse a jar to keep the emulator session (SSO) across flows. */
  readonly jar?: CookieJar;
  /** Stop following redirects at URLs starting with this (the client's redirect URI). */
  readonly redirectUriPrefix?: string;
}

/**
 * Follows the authorization flow: authorize -> login page -> POST the subject -> (consent, when the
 * client is not trusted) -> back to authorize -> redirect to the client. Returns the final redirect
 * URL (with `code` and `state`, or `error`).
 */
export async function completeAuthorization(options: AuthorizationOptions): Promise<URL> {
  const jar = options.jar ?? new CookieJar();
  const origin = new URL(options.authorizeUrl).origin;
  let url = options.authorizeUrl;
  let method = 'GET';
  let body: string | undefined;
  for (let hop = 0; hop < 12; hop += 1) {
    const response = await jar.fetch(url, {
      method,
      ...(body !== undefined ? { body, headers: { 'content-type': 'application/x-www-form-urlencoded' } } : {}),
    });
    method = 'GET';
    body = undefined;
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, url);
      if (next.origin !== origin || (options.redirectUriPrefix && next.href.startsWith(options.redirectUriPrefix)))
        return next;
      url = next.href;
      continue;
    }
    const html = await response.text();
    if (response.status !== 200)
      throw new Error(`authorization stopped at ${new URL(url).pathname}: ${response.status} ${html.slice(0, 300)}`);
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    if (!action) throw new Error(`no form at ${new URL(url).pathname}`);
    url = new URL(action, url).href;
    method = 'POST';
    body = action.endsWith('/login') ? new URLSearchParams({ subject: options.subject }).toString() : '';
  }
  throw new Error('too many redirects in the authorization flow');
}
