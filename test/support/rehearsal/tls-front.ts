/**
 * An https front for the tenant emulator. The rotation function's Qlik client always speaks https to
 * `qlik.tenantHost` (a Qlik tenant is https only), so the rehearsal puts TLS in front of the plain-http emulator and
 * the function process trusts its self-signed certificate through NODE_EXTRA_CA_CERTS, which Node reads at start
 * (https://nodejs.org/api/cli.html#node_extra_ca_certsfile). Requests are passed on unchanged except for `Host`,
 * which names the emulator so its issuer checks see their own host.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A running https front. */
export interface TlsFront {
  /** `127.0.0.1:<port>`: what `qlik.tenantHost` takes. */
  readonly host: string;
  /** Path of the certificate PEM to hand to NODE_EXTRA_CA_CERTS. */
  readonly caFile: string;
  close(): Promise<void>;
}

/** Starts an https server on 127.0.0.1 that forwards every request to `targetUrl` (http). */
export async function startTlsFront(targetUrl: string): Promise<TlsFront> {
  const dir = mkdtempSync(join(tmpdir(), 'qtv-tls-'));
  const keyFile = join(dir, 'key.pem');
  const caFile = join(dir, 'cert.pem');
  const made = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      caFile,
    ],
    { encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`openssl could not make a test certificate: ${made.stderr}`);
  const target = new URL(targetUrl);
  const server: Server = createServer({ key: readFileSync(keyFile), cert: readFileSync(caFile) }, (req, res) => {
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    caFile,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}
