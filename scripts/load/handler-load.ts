/**
 * `npm run load -- --mode handler`: throughput of the `POST /qlik/jwt` function over HTTP WITHOUT the
 * local JWT authorizer (in AWS, API Gateway verifies the caller token; the function only gets its
 * claims), next to a bare-sign node:http server and the boilerplate style, each server in its own
 * process, the load client (autocannon, this process) in another.
 *
 * Rounds interleave the servers (every server once per round, starting at a different one each round),
 * so a phase where the shared machine is slow falls on all of them; the ratios are medians of per-round
 * ratios. Every token from our function is checked afterwards like `npm run load` checks them
 * (signature against the certificate, Qlik rules, the caller's identity, unique jti).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { routes } from '../../functions/routes.js';
import { bundleDefines, bundleFlagsFor } from '../../functions/runtime/bundle-flags.js';
import { parseConfig } from '../../functions/runtime/config.js';
import { createSelfSignedCertificate } from '../../functions/signing/certificates.js';
import { bundleLambda } from '../bench/cold-start.js';
import { median, percentile } from '../bench/stats.js';
import { type AuthenticatedCaller, authenticatedCaller } from '../dev/caller-event.js';
import type { DevTokenRequest } from '../dev/dev-identity.js';
import { DEV_KEY_ID, DEV_QLIK_ISSUER } from '../dev-server.js';
import { fireTokenRequests, type LoadResponse, requireNoStore, tallyTokens } from './autocannon-run.js';
import type { ServerSettings } from './servers.js';
import { checkVendResponse, loadUsers } from './vend-load.js';

/** What to run. */
export interface HandlerLoadOptions {
  /** Requests per server per round. @default 2500 */
  readonly requests?: number;
  /** @default 64 */
  readonly connections?: number;
  /** @default 6 */
  readonly users?: number;
  /** Short rounds, many of them: the shared machine's speed drifts within seconds. @default 6 */
  readonly rounds?: number;
  /** Unmeasured requests per server before the first round. @default 500 */
  readonly warmupRequests?: number;
}

/** One server's results over all rounds. */
export interface ServerLoadRow {
  readonly server: (typeof SERVERS)[number];
  /** Tokens/s of each round (200 responses ÷ time from the first request to the last response). */
  readonly tokensPerSecond: readonly number[];
  /** Median over rounds of this server's tokens/s ÷ the bare-sign server's in the same round. */
  readonly ratioToBareSign: number;
  /** Lowest and highest per-round ratio. */
  readonly ratioRange: readonly [number, number];
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly p50LatencyMs: number;
  readonly p99LatencyMs: number;
}

/** The outcome of one handler-mode run. */
export interface HandlerLoadReport {
  readonly requestsPerRound: number;
  readonly rounds: number;
  readonly connections: number;
  readonly users: number;
  readonly rows: readonly ServerLoadRow[];
  /** Our function's tokens checked after the run (all rounds), and how many failed a check. */
  readonly verified: number;
  readonly invalid: number;
  readonly duplicateJti: number;
  readonly problems: readonly string[];
  readonly loadAverage: readonly number[];
  readonly node: string;
  readonly cpus: number;
  readonly passed: boolean;
}

/** Our function as deployed by default (tracing on) and with `deployment.tracing: false`, and the two references. */
const SERVERS = ['handler', 'handler (tracing off)', 'bare-sign', 'boilerplate'] as const;

function startServer(
  kind: string,
  settingsFile: string,
  qtvConfig: string,
): Promise<{ url: string; child: ChildProcess }> {
  return new Promise((resolveStart, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve('scripts/load/servers.ts'), kind, settingsFile], {
      // Nothing inherited. Powertools' logger reads its level itself: no log line per token here, as in
      // `npm run load` (the dev server runs SILENT there).
      env: { POWERTOOLS_LOG_LEVEL: 'SILENT', QTV_CONFIG: qtvConfig },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      const port = /LISTENING (\d+)/.exec(chunk.toString())?.[1];
      if (port !== undefined) resolveStart({ url: `http://127.0.0.1:${port}`, child });
    });
    child.once('exit', (code) => reject(new Error(`${kind} server exited ${code}: ${stderr}`)));
  });
}

/**
 * The load's callers as API Gateway's JWT authorizer hands them to the function: each user's caller token
 * (in `Authorization`) and its claims, flattened, in the authorizer context.
 */
export function handlerLoadCallers(users: readonly DevTokenRequest[], nowSeconds: number): AuthenticatedCaller[] {
  return users.map((u) =>
    authenticatedCaller({
      iss: 'https://caller-idp.example',
      aud: 'qtv-load',
      iat: nowSeconds,
      exp: nowSeconds + 3600,
      sub: u.sub,
      name: u.name,
      email: u.email,
      email_verified: true,
      ...(u.groups !== undefined ? { groups: u.groups } : {}),
    }),
  );
}

/** Runs the handler-mode load. */
export async function runHandlerLoad(options: HandlerLoadOptions = {}): Promise<HandlerLoadReport> {
  const requests = options.requests ?? 2500;
  const connections = options.connections ?? 64;
  const userCount = options.users ?? 6;
  const rounds = options.rounds ?? 6;
  const warmup = options.warmupRequests ?? 500;
  const dir = mkdtempSync(join(tmpdir(), 'qtv-handler-load-'));
  const children: ChildProcess[] = [];
  try {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const privateKeyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const certificatePem = await createSelfSignedCertificate({ privateKey, commonName: 'load' });
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    writeFileSync(keyPath, privateKeyPem, { mode: 0o600 });
    writeFileSync(certPath, certificatePem);
    // The function as synth bundles it (file backend here: no AWS on the token path, as in `npm run load`).
    const config = parseConfig({
      qlik: { issuer: DEV_QLIK_ISSUER, keyId: DEV_KEY_ID },
      signing: { backend: 'file', privateKeyPath: keyPath, certificatePath: certPath },
    });
    const route = routes.find((r) => r.id === 'QlikJwt')!;
    const bundlePath = join(dir, 'qlik-jwt', 'index.mjs');
    await bundleLambda(resolve(route.entry), bundlePath, false, bundleDefines(bundleFlagsFor(route, config)));
    // The same function bundled with tracing off: the X-Ray SDK's async hooks (cls-hooked) are then absent.
    const untracedPath = join(dir, 'qlik-jwt-untraced', 'index.mjs');
    const untraced = { ...config, deployment: { ...config.deployment, tracing: false } };
    await bundleLambda(resolve(route.entry), untracedPath, false, bundleDefines(bundleFlagsFor(route, untraced)));
    const { deployment: _deployment, ...runtimeConfig } = config;
    const qtvConfig = JSON.stringify(runtimeConfig);

    const users = loadUsers(userCount);
    const now = Math.floor(Date.now() / 1000);
    const callers = handlerLoadCallers(users, now);
    const expected = users.map((u) => ({ sub: u.sub, name: u.name ?? u.sub, email: u.email ?? '', groups: u.groups }));

    // A real token's signing input, so the bare-sign server signs as many bytes as ours does.
    const signingInputFile = join(dir, 'probe.json');
    writeFileSync(
      signingInputFile,
      JSON.stringify({ callers, issuer: DEV_QLIK_ISSUER, keyId: DEV_KEY_ID, bundlePath }),
      {
        mode: 0o600,
      },
    );
    const probe = await startServer('handler', signingInputFile, qtvConfig);
    children.push(probe.child);
    const probeResponse = await fetch(`${probe.url}/qlik/jwt`, { method: 'POST', headers: { 'x-load-user': '0' } });
    const probeBody = await probeResponse.text();
    // The event must be one the function accepts, or every request of the run would time a refusal.
    if (probeResponse.status !== 200)
      throw new Error(`the handler answered ${probeResponse.status} to the load's event, not 200: ${probeBody}`);
    const sample = JSON.parse(probeBody) as { token: string };
    const signingInput = sample.token.split('.').slice(0, 2).join('.');

    const settings: ServerSettings = {
      privateKeyPem,
      signingInput,
      bundlePath,
      callers,
      issuer: DEV_QLIK_ISSUER,
      keyId: DEV_KEY_ID,
    };
    const settingsFile = join(dir, 'settings.json');
    writeFileSync(settingsFile, JSON.stringify(settings), { mode: 0o600 });
    const servers = new Map<string, string>([['handler', probe.url]]);
    for (const kind of ['bare-sign', 'boilerplate'] as const) {
      const started = await startServer(kind, settingsFile, qtvConfig);
      children.push(started.child);
      servers.set(kind, started.url);
    }
    const untracedFile = join(dir, 'untraced.json');
    writeFileSync(untracedFile, JSON.stringify({ ...settings, bundlePath: untracedPath }), { mode: 0o600 });
    const untracedServer = await startServer('handler', untracedFile, qtvConfig);
    children.push(untracedServer.child);
    servers.set('handler (tracing off)', untracedServer.url);

    const collected: LoadResponse[] = [];
    const fire = async (url: string, amount: number, keep: boolean) => {
      const run = await fireTokenRequests({
        url,
        amount,
        connections,
        callers: userCount,
        headersFor: (user) => ({ 'x-load-user': String(user) }),
        keep,
      });
      collected.push(...run.responses);
      return run;
    };

    for (const kind of SERVERS) await fire(servers.get(kind)!, warmup, false);
    const perServer = new Map<
      string,
      Array<{ tps: number; ok: number; non2xx: number; errors: number; p50: number; p99: number }>
    >(SERVERS.map((k) => [k, []]));
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < SERVERS.length; k++) {
        const kind = SERVERS[(round + k) % SERVERS.length]!;
        const { result, seconds } = await fire(servers.get(kind)!, requests, kind.startsWith('handler'));
        const ok = result['2xx'];
        perServer.get(kind)!.push({
          tps: ok / seconds,
          ok,
          non2xx: result.non2xx,
          errors: result.errors + result.timeouts,
          p50: result.latency.p50,
          p99: result.latency.p99,
        });
      }
    }

    // Verified against the certificate's public key, not the signer's key object.
    const verificationKey = new X509Certificate(certificatePem).publicKey;
    const tally = tallyTokens(collected, (response) =>
      requireNoStore(
        response,
        checkVendResponse(response.body, expected[response.caller]!, verificationKey, Math.floor(response.atMs / 1000)),
      ),
    );
    const { invalid, duplicateJti, problems } = tally;

    const bare = perServer.get('bare-sign')!.map((r) => r.tps);
    const rows: ServerLoadRow[] = SERVERS.map((kind) => {
      const list = perServer.get(kind)!;
      const ratios = list.map((r, i) => r.tps / bare[i]!);
      return {
        server: kind,
        tokensPerSecond: list.map((r) => r.tps),
        ratioToBareSign: median(ratios),
        ratioRange: [Math.min(...ratios), Math.max(...ratios)] as const,
        ok: list.reduce((n, r) => n + r.ok, 0),
        non2xx: list.reduce((n, r) => n + r.non2xx, 0),
        errors: list.reduce((n, r) => n + r.errors, 0),
        p50LatencyMs: median(list.map((r) => r.p50)),
        p99LatencyMs: percentile(
          list.map((r) => r.p99),
          100,
        ),
      };
    });
    const expectedPerServer = requests * rounds;
    const passed =
      rows.every((r) => r.ok === expectedPerServer && r.non2xx === 0 && r.errors === 0) &&
      // Both handler servers' tokens are kept and checked.
      collected.length === 2 * expectedPerServer &&
      tally.non2xx === 0 &&
      invalid === 0 &&
      duplicateJti === 0 &&
      tally.unique === 2 * expectedPerServer;
    return {
      requestsPerRound: requests,
      rounds,
      connections,
      users: userCount,
      rows,
      verified: tally.unique,
      invalid,
      duplicateJti,
      problems,
      loadAverage: loadavg(),
      node: process.version,
      cpus: cpus().length,
      passed,
    };
  } finally {
    for (const child of children) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}
