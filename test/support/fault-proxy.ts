/**
 * A tiny HTTP proxy on loopback in front of an AWS endpoint (moto): it counts requests by AWS
 * operation and can inject delays and canned error responses, so tests prove call counts
 * ("one Sign per token") and exercise faults moto cannot produce (throttling, 5xx, denied).
 */
import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';

/** One forwarded or answered request. */
export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  /** AWS JSON-protocol operation, from `X-Amz-Target` (`TrentService.Sign` -> `Sign`), or `''`. */
  readonly operation: string;
  /** True when a fault rule answered instead of the upstream. */
  readonly injected: boolean;
}

/** What to do with matching requests. */
export interface FaultRule {
  /** Operation name (`Sign`, `GetPublicKey`) or a predicate; absent matches every request. */
  readonly operation?: string | ((request: { operation: string; path: string; method: string }) => boolean);
  /** Wait this long before forwarding or answering. */
  readonly delayMs?: number;
  /** Answer with this status instead of forwarding. */
  readonly status?: number;
  /** Body of the injected answer; an object is sent as JSON. */
  readonly body?: string | object;
  readonly headers?: Record<string, string>;
  /** Apply to this many matching requests, then retire. @default Infinity */
  readonly times?: number;
}

/** A running proxy. */
export interface FaultProxy {
  readonly endpoint: string;
  readonly requests: readonly ProxiedRequest[];
  /** Requests seen for `operation` (forwarded and injected). */
  count(operation: string): number;
  /** Adds a rule; rules are tried in the order added. */
  inject(rule: FaultRule): void;
  /** Forgets rules and counts. */
  reset(): void;
  close(): Promise<void>;
}

/** An AWS JSON-protocol error body, as KMS sends it (`__type` names the exception). */
export function awsJsonError(type: string, message = type): { __type: string; message: string } {
  return { __type: type, message };
}

function operationOf(req: IncomingMessage): string {
  const target = req.headers['x-amz-target'];
  const value = Array.isArray(target) ? target[0] : target;
  return value?.split('.').pop() ?? '';
}

/** Starts a proxy on 127.0.0.1 (free port) that forwards to `upstream` (e.g. the moto endpoint). */
export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const requests: ProxiedRequest[] = [];
  let rules: { rule: FaultRule; left: number }[] = [];

  const matches = (rule: FaultRule, info: { operation: string; path: string; method: string }) =>
    rule.operation === undefined ||
    (typeof rule.operation === 'string' ? rule.operation === info.operation : rule.operation(info));

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const info = { operation: operationOf(req), path: req.url ?? '/', method: req.method ?? 'GET' };
      const active = rules.find((r) => r.left > 0 && matches(r.rule, info));
      if (active) active.left--;
      const rule = active?.rule;
      const injected = rule?.status !== undefined;
      requests.push({ ...info, injected });
      if (rule?.delayMs) await new Promise((r) => setTimeout(r, rule.delayMs));
      if (rule?.status !== undefined) {
        const body = typeof rule.body === 'string' ? rule.body : JSON.stringify(rule.body ?? {});
        res.writeHead(rule.status, { 'content-type': 'application/x-amz-json-1.1', ...rule.headers });
        res.end(body);
        return;
      }
      const upstreamRequest = httpRequest(
        {
          hostname: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
        },
        (upstreamResponse) => {
          res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
          upstreamResponse.pipe(res);
        },
      );
      upstreamRequest.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      upstreamRequest.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    count: (operation) => requests.filter((r) => r.operation === operation).length,
    inject: (rule) => {
      rules.push({ rule, left: rule.times ?? Number.POSITIVE_INFINITY });
    },
    reset: () => {
      rules = [];
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
