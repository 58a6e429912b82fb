/**
 * What every load mode shares (`npm run load`, `--tenants`, `--mode handler`): one bounded autocannon run of
 * `POST /qlik/jwt` timed from the first request built to the last response received, the responses kept
 * for checking afterwards, and the after-run tally of every token (status, the mode's own check, unique jti).
 *
 * Timing: autocannon's promise resolves on its next one-second tick (toolchain.md), so a run timed around
 * the promise comes out up to a second too long; the hooks below time the requests themselves.
 */
import { cpus } from 'node:os';
import autocannon, { type AutocannonResult } from 'autocannon';

/** One response of a run, attributed to the caller it was sent for. */
export interface LoadResponse {
  readonly status: number;
  readonly body: string;
  /** Index of the caller (as `headersFor` was given it). */
  readonly caller: number;
  /** When it arrived: time rules are checked against it, so a slow run cannot expire its own tokens. */
  readonly atMs: number;
  readonly cacheControl: unknown;
}

/** What to fire. */
export interface TokenRequestsOptions {
  readonly url: string;
  readonly amount: number;
  readonly connections: number;
  /** Callers, used round-robin from `firstCaller`: each request gets the headers of its caller. */
  readonly callers: number;
  readonly headersFor: (caller: number) => Record<string, string>;
  /** Keep the responses (measured runs) or only count them (warm-up). */
  readonly keep: boolean;
  /** @default 0 */
  readonly firstCaller?: number;
}

/** The outcome of one run. */
export interface TokenRequestsRun {
  readonly result: AutocannonResult;
  /** From the first request built to the last response received. */
  readonly seconds: number;
  readonly responses: readonly LoadResponse[];
}

/** Fires `amount` requests at `POST /qlik/jwt` and times them (see the module comment). */
export async function fireTokenRequests(options: TokenRequestsOptions): Promise<TokenRequestsRun> {
  const responses: LoadResponse[] = [];
  let next = options.firstCaller ?? 0;
  let firstAt = 0n;
  let lastAt = 0n;
  const result = await autocannon({
    url: options.url,
    connections: Math.min(options.connections, options.amount),
    amount: options.amount,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path: '/qlik/jwt',
        setupRequest: (request, context) => {
          if (firstAt === 0n) firstAt = process.hrtime.bigint();
          const caller = next++ % options.callers;
          context.caller = caller;
          return { ...request, headers: { ...request.headers, ...options.headersFor(caller) } };
        },
        onResponse: (status, body, context, headers) => {
          lastAt = process.hrtime.bigint();
          if (options.keep)
            responses.push({
              status,
              body,
              caller: context.caller as number,
              atMs: Date.now(),
              cacheControl: headers['cache-control'],
            });
        },
      },
    ],
  });
  return { result, seconds: Number(lastAt - firstAt) / 1e9, responses };
}

/** The after-run tally of a run's tokens. */
export interface TokenTally {
  readonly ok: number;
  readonly non2xx: number;
  /** 200 responses whose token failed the mode's check. */
  readonly invalid: number;
  readonly duplicateJti: number;
  /** Distinct valid tokens. */
  readonly unique: number;
  /** The first few reasons, for the operator. */
  readonly problems: readonly string[];
}

/**
 * Checks every kept response: a 200 whose `check` finds no problem counts once per jti; anything else is
 * counted and its reason noted.
 */
export function tallyTokens(
  responses: readonly LoadResponse[],
  check: (response: LoadResponse) => { readonly jti?: string; readonly problem?: string },
): TokenTally {
  const jtis = new Set<string>();
  const problems: string[] = [];
  const note = (problem: string) => {
    if (problems.length < 10) problems.push(problem);
  };
  let ok = 0;
  let non2xx = 0;
  let invalid = 0;
  let duplicateJti = 0;
  for (const response of responses) {
    if (response.status !== 200) {
      non2xx++;
      note(`status ${response.status}: ${response.body.slice(0, 200)}`);
      continue;
    }
    ok++;
    const verdict = check(response);
    if (verdict.problem !== undefined) {
      invalid++;
      note(verdict.problem);
    } else if (verdict.jti !== undefined) {
      if (jtis.has(verdict.jti)) {
        duplicateJti++;
        note(`duplicate jti ${verdict.jti.slice(0, 8)}…`);
      } else jtis.add(verdict.jti);
    }
  }
  return { ok, non2xx, invalid, duplicateJti, unique: jtis.size, problems };
}

/** The `Cache-Control: no-store` rule every token response must keep, after the mode's own check. */
export function requireNoStore(
  response: LoadResponse,
  verdict: { readonly jti?: string; readonly problem?: string },
): { readonly jti?: string; readonly problem?: string } {
  if (verdict.problem !== undefined || response.cacheControl === 'no-store') return verdict;
  return { problem: 'Cache-Control is not no-store' };
}

/** The figures every dev-server load run reports beside its counts. */
export interface LoadRunFigures {
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly wallSeconds: number;
  /** 200 responses per second, from the first request built to the last response received. */
  readonly tokensPerSecond: number;
  /** Bare `crypto.sign` (RSA-SHA256, same signing-input size), single thread, before and after the run. */
  readonly bareSignOpsPerSecond: { readonly before: number; readonly after: number; readonly mean: number };
  /** tokensPerSecond / bareSignOpsPerSecond.mean. */
  readonly ratioToBareSign: number;
  readonly node: string;
  readonly cpus: number;
  /** True when nothing failed: every request answered 200 with a unique, valid token for its caller. */
  readonly passed: boolean;
}

/**
 * The figures of a measured run of `requests` tokens: throughput against the bare-sign loops run just
 * before and after it, and whether every request answered 200 with a unique, valid token.
 */
export function runFigures(
  run: TokenRequestsRun,
  tally: TokenTally,
  requests: number,
  bareSign: { readonly before: number; readonly after: number },
): LoadRunFigures {
  const { result } = run;
  const mean = (bareSign.before + bareSign.after) / 2;
  const tokensPerSecond = tally.ok / run.seconds;
  return {
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    wallSeconds: run.seconds,
    tokensPerSecond,
    bareSignOpsPerSecond: { before: bareSign.before, after: bareSign.after, mean },
    ratioToBareSign: tokensPerSecond / mean,
    node: process.version,
    cpus: cpus().length,
    passed:
      tally.ok === requests &&
      run.responses.length === requests &&
      tally.non2xx === 0 &&
      result.errors === 0 &&
      result.timeouts === 0 &&
      tally.invalid === 0 &&
      tally.duplicateJti === 0 &&
      tally.unique === requests,
  };
}

/** A two-column report (label, value), as `npm run load` prints it. */
export function keyValueTable(rows: ReadonlyArray<readonly [string, string]>): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

/** A number as the load reports print it (thousands separated). */
export function formatNumber(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits });
}
