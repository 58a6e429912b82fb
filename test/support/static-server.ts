/**
 * A tiny static file server on loopback for browser tests: serves one folder (GET/HEAD only, no
 * directory listings, nothing outside the folder), so example pages load from their own origin.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** A running static server. */
export interface StaticServer {
  /** `http://127.0.0.1:<port>`: the pages' origin. */
  readonly url: string;
  close(): Promise<void>;
}

/** Optional behaviour of {@link startStaticServer}. */
export interface StaticServerOptions {
  /** Extra response headers (e.g. `access-control-allow-origin` for module scripts loaded cross-origin). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Rewrites an HTML file's text before it is served (e.g. to point an import map at a local copy). */
  readonly transformHtml?: (html: string) => string;
}

/** Serves `root` on 127.0.0.1 (free port); `/` is `index.html`. */
export async function startStaticServer(root: string, options: StaticServerOptions = {}): Promise<StaticServer> {
  const base = resolve(root);
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://local').pathname);
    const file = resolve(join(base, path === '/' ? 'index.html' : path));
    if ((request.method !== 'GET' && request.method !== 'HEAD') || !file.startsWith(base + sep)) {
      response.writeHead(404).end();
      return;
    }
    try {
      const raw = await readFile(file);
      const body =
        options.transformHtml && extname(file) === '.html'
          ? Buffer.from(options.transformHtml(raw.toString('utf8')))
          : raw;
      response.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'cache-control': 'no-store',
        ...options.headers,
      });
      response.end(request.method === 'HEAD' ? undefined : body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}
