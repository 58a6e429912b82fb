/**
 * A bounded load run against the dev server's `POST /qlik/jwt`: autocannon drives a fixed number of
 * requests at a fixed concurrency with caller tokens of several users, keeps every response body, and
 * afterwards checks EVERY token: RS256 signature against the dev certificate (node:crypto), every
 * Qlik rule (checkQlikToken), the identity of the user who asked, and jti uniqueness across the run.
 * Beside it, a single-threaded loop of bare `crypto.sign` calls with the same key gives the ceiling.
 *
 * autocannon (not a hand-written loop) because its `requests[].onResponse` hook hands over each
 * response body with the per-connection context that `setupRequest` filled, so bodies can be checked
 * and attributed to the user who asked, while latency comes from its HDR histogram.
 */
import {
  createPrivateKey,
  sign as cryptoSign,
  verify as cryptoVerify,
  type KeyObject,
  X509Certificate,
} from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkQlikToken, qlikRejections } from '../../functions/qlik/claims.js';
import type { DevTokenRequest } from '../dev/dev-identity.js';
import { DEV_KEY_ID, DEV_QLIK_ISSUER, startDevServer } from '../dev-server.js';
import { fireTokenRequests, type LoadRunFigures, requireNoStore, runFigures, tallyTokens } from './autocannon-run.js';

/** What to run. */
export interface VendLoadOptions {
  /** Requests in the measured run. @default 20000 */
  readonly requests?: number;
  /** Concurrent connections. @default 64 */
  readonly connections?: number;
  /** Distinct callers (different sub, name, email and groups), used round-robin. @default 6 */
  readonly users?: number;
  /** Operations in each bare crypto.sign loop (one before and one after the run). @default 2000 */
  readonly signOps?: number;
  /** Unmeasured requests sent first (JIT, key cache, connection setup). @default min(1000, requests / 10) */
  readonly warmupRequests?: number;
}

/** The outcome of one load run. Every count is over the measured run only. */
export interface VendLoadReport extends LoadRunFigures {
  readonly requests: number;
  readonly connections: number;
  readonly users: number;
  /** Responses with status 200. */
  readonly ok: number;
  /** Responses with any other status. */
  readonly non2xx: number;
  /** Socket errors and timeouts reported by autocannon. */
  readonly errors: number;
  readonly timeouts: number;
  /** Responses received (must equal `requests`). */
  readonly responses: number;
  /** Tokens whose jti was already seen in this run. */
  readonly duplicateJti: number;
  /** 200 responses whose token failed a check (signature, Qlik rule, identity, headers). */
  readonly invalid: number;
  /** The first few reasons for `invalid` or `non2xx`, for the operator. */
  readonly problems: readonly string[];
}

export interface Expected {
  readonly sub: string;
  readonly name: string;
  readonly email: string;
  readonly groups: readonly string[] | undefined;
}

const GROUP_SETS: ReadonlyArray<readonly string[]> = [
  ['Sales'],
  ['Finance', 'EMEA'],
  [],
  ['Analysts', 'Sales', 'Support', 'Admins'],
  ['Engineering'],
  ['Marketing', 'APAC'],
];

/** The callers of a run: distinct subjects, names, emails and group sets, so the mapping varies. */
export function loadUsers(count: number): DevTokenRequest[] {
  return Array.from({ length: count }, (_, i) => {
    const groups = GROUP_SETS[i % GROUP_SETS.length]!;
    return {
      sub: `load-user-${i}`,
      name: `Load User ${i}`,
      email: `load.user.${i}@example.com`,
      ...(groups.length > 0 ? { groups: [...groups] } : {}),
    };
  });
}

/** Ops per second of a single-threaded loop of `crypto.sign` over `input`. */
export function bareSignOpsPerSecond(privateKey: KeyObject, input: Buffer, ops: number): number {
  for (let i = 0; i < Math.min(100, ops); i++) cryptoSign('sha256', input, privateKey);
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) cryptoSign('sha256', input, privateKey);
  return ops / (Number(process.hrtime.bigint() - start) / 1e9);
}

/**
 * Checks one response body; returns a reason when it is not a valid token for `expected`.
 * Exported for the load test's own can-fail check.
 */
export function checkVendResponse(
  body: string,
  expected: Expected,
  verificationKey: KeyObject,
  nowSeconds: number,
  /** The issuer and key ID the token must carry (multi-tenant load: the caller's tenant's). */
  idp: { readonly issuer: string; readonly keyId: string } = { issuer: DEV_QLIK_ISSUER, keyId: DEV_KEY_ID },
): { jti?: string; problem?: string } {
  let parsed: { token?: unknown; keyId?: unknown };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    return { problem: 'body is not JSON' };
  }
  if (typeof parsed.token !== 'string') return { problem: 'no token in body' };
  const parts = parsed.token.split('.');
  if (parts.length !== 3) return { problem: 'token is not a compact JWS' };
  const [h, p, s] = parts as [string, string, string];
  if (!cryptoVerify('sha256', Buffer.from(`${h}.${p}`), verificationKey, Buffer.from(s, 'base64url')))
    return { problem: 'signature does not verify against the expected certificate' };
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
  const rejections = qlikRejections(
    checkQlikToken(header, payload, { issuer: idp.issuer, keyId: idp.keyId, nowSeconds }),
  );
  if (rejections.length > 0) return { problem: `Qlik rules: ${rejections.map((r) => r.rule).join(', ')}` };
  const groups = payload.groups as readonly string[] | undefined;
  if (
    payload.sub !== expected.sub ||
    payload.name !== expected.name ||
    payload.email !== expected.email ||
    JSON.stringify(groups) !== JSON.stringify(expected.groups)
  )
    return { problem: `identity mismatch: asked as ${expected.sub}, got ${String(payload.sub)}` };
  if (parsed.keyId !== header.kid) return { problem: 'keyId in body differs from the header kid' };
  return { jti: payload.jti as string };
}

/** Runs the load and checks every token. Starts and stops its own dev server on a free loopback port. */
export async function runVendLoad(options: VendLoadOptions = {}): Promise<VendLoadReport> {
  const requests = options.requests ?? 20_000;
  const connections = options.connections ?? 64;
  const userCount = options.users ?? 6;
  const signOps = options.signOps ?? 2000;
  const warmupRequests = options.warmupRequests ?? Math.min(1000, Math.ceil(requests / 10));
  const localDir = mkdtempSync(join(tmpdir(), 'qtv-load-'));
  const dev = await startDevServer({ host: '127.0.0.1', port: 0, localDir, logLevel: 'SILENT' });
  try {
    const privateKeyPem = readFileSync(join(localDir, 'dev-signing-key.pem'), 'utf8');
    const certificate = new X509Certificate(readFileSync(join(localDir, 'dev-signing-cert.pem'), 'utf8'));
    const privateKey = createPrivateKey(privateKeyPem);
    const users = loadUsers(userCount);
    const callerTokens = await Promise.all(users.map((u) => dev.identityProvider.mint(u)));
    const expected: Expected[] = users.map((u) => ({
      sub: u.sub,
      name: u.name ?? u.sub,
      email: u.email ?? '',
      groups: u.groups,
    }));

    const fire = (amount: number, keep: boolean) =>
      fireTokenRequests({
        url: dev.url,
        amount,
        connections,
        callers: userCount,
        headersFor: (user) => ({ authorization: `Bearer ${callerTokens[user]}` }),
        keep,
      });

    // Warm-up: JIT, the key cache, and the first RSA operations, none of it measured.
    if (warmupRequests > 0) await fire(warmupRequests, false);
    const sample = await (
      await fetch(`${dev.url}/qlik/jwt`, { method: 'POST', headers: { authorization: `Bearer ${callerTokens[0]}` } })
    ).json();
    const signingInput = Buffer.from(
      ((sample as { token: string }).token.split('.').slice(0, 2) as string[]).join('.'),
    );

    const before = bareSignOpsPerSecond(privateKey, signingInput, signOps);
    const run = await fire(requests, true);
    const { result } = run;
    const after = bareSignOpsPerSecond(privateKey, signingInput, signOps);

    // Every body is checked after the run, so checking costs the server nothing; time rules are
    // checked against the moment each response arrived, so a slow run cannot expire its own tokens.
    const verificationKey = certificate.publicKey;
    const tally = tallyTokens(run.responses, (response) => {
      const who = expected[response.caller];
      return requireNoStore(
        response,
        who === undefined
          ? { problem: 'response not attributable to a caller' }
          : checkVendResponse(response.body, who, verificationKey, Math.floor(response.atMs / 1000)),
      );
    });
    const { ok, non2xx, invalid, duplicateJti, problems } = tally;
    const errors = result.errors;
    const responses = run.responses.length;
    return {
      requests,
      connections,
      users: userCount,
      ok,
      non2xx,
      errors,
      timeouts: result.timeouts,
      responses,
      duplicateJti,
      invalid,
      problems,
      ...runFigures(run, tally, requests, { before, after }),
    };
  } finally {
    await dev.close();
    rmSync(localDir, { recursive: true, force: true });
  }
}
