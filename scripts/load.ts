/**
 * `npm run load`: a bounded load run against the dev server's POST /qlik/jwt, every token checked
 * (signature, Qlik rules, caller identity, unique jti), next to bare crypto.sign throughput measured
 * in the same process. Exits 1 on any error, non-2xx, invalid or duplicate token.
 *
 *   npm run load                                   # 20,000 requests, 64 connections, 6 callers
 *   npm run load -- --requests 5000 --connections 32 --users 4
 *   npm run load -- --json
 *   npm run load -- --tenants 50                   # multi-tenant: 50 tenants, each token checked against its own tenant
 *   npm run load -- --tenants 1 --onboard 2        # issue #17's Done-when: 2 tenants onboarded with qtv tenant add
 *                                                  # (moto + multi-tenant emulator) while the load runs on the first
 *   npm run load -- --mode handler                 # the function without the local authorizer, beside a
 *                                                  # bare-sign server and the boilerplate, each its own process
 *   npm run load -- --mode handler --requests 2500 --rounds 6
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { formatNumber, keyValueTable } from './load/autocannon-run.js';
import { type HandlerLoadReport, runHandlerLoad } from './load/handler-load.js';
import { onboardingTable, runOnboardingLoad } from './load/onboarding.js';
import { runTenantLoad, type TenantLoadReport } from './load/tenant-load.js';
import { runVendLoad, type VendLoadReport } from './load/vend-load.js';

function positive(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number of at least 1, got ${value}`);
  return n;
}

function table(report: VendLoadReport): string {
  const f = formatNumber;
  const rows: Array<[string, string]> = [
    ['requests / connections / callers', `${f(report.requests)} / ${report.connections} / ${report.users}`],
    ['200 responses', f(report.ok)],
    ['non-2xx / socket errors / timeouts', `${report.non2xx} / ${report.errors} / ${report.timeouts}`],
    ['invalid tokens / duplicate jti', `${report.invalid} / ${report.duplicateJti}`],
    [
      'latency p50 / p99 / max (ms)',
      `${f(report.latencyMs.p50, 1)} / ${f(report.latencyMs.p99, 1)} / ${f(report.latencyMs.max, 1)}`,
    ],
    ['wall time (s)', f(report.wallSeconds, 2)],
    ['tokens/s over HTTP (verified after)', f(report.tokensPerSecond)],
    [
      'bare crypto.sign ops/s (before / after / mean)',
      `${f(report.bareSignOpsPerSecond.before)} / ${f(report.bareSignOpsPerSecond.after)} / ${f(report.bareSignOpsPerSecond.mean)}`,
    ],
    ['tokens/s ÷ bare sign ops/s', f(report.ratioToBareSign, 3)],
    ['node / cpus', `${report.node} / ${report.cpus}`],
    ['result', report.passed ? 'PASS' : 'FAIL'],
  ];
  return keyValueTable(rows);
}

function handlerTable(report: HandlerLoadReport): string {
  const f = formatNumber;
  const lines = [
    `requests per server per round / rounds / connections / callers: ${f(report.requestsPerRound)} / ${report.rounds} / ${report.connections} / ${report.users}`,
    `load average (1, 5, 15 min) at the end: ${report.loadAverage.map((n) => n.toFixed(2)).join(', ')}`,
    '',
    'server                 tokens/s per round                     ÷ bare-sign (median, range)   200s     non-2xx  errors  p50 ms  p99 ms',
  ];
  for (const row of report.rows)
    lines.push(
      [
        row.server.padEnd(22),
        row.tokensPerSecond
          .map((t) => f(t))
          .join(' / ')
          .padEnd(38),
        `${row.ratioToBareSign.toFixed(3)} (${row.ratioRange[0].toFixed(3)}–${row.ratioRange[1].toFixed(3)})`.padEnd(
          29,
        ),
        f(row.ok).padEnd(8),
        String(row.non2xx).padEnd(8),
        String(row.errors).padEnd(7),
        f(row.p50LatencyMs, 1).padEnd(7),
        f(row.p99LatencyMs, 1),
      ].join(' '),
    );
  lines.push(
    '',
    `our tokens verified / invalid / duplicate jti: ${f(report.verified)} / ${report.invalid} / ${report.duplicateJti}`,
    `node / cpus: ${report.node} / ${report.cpus}`,
    `result: ${report.passed ? 'PASS' : 'FAIL'}`,
  );
  return lines.join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string' },
      connections: { type: 'string' },
      users: { type: 'string' },
      'sign-ops': { type: 'string' },
      tenants: { type: 'string' },
      onboard: { type: 'string' },
      mode: { type: 'string' },
      rounds: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      'usage: npm run load -- [--requests 20000] [--connections 64] [--users 6] [--sign-ops 2000] [--tenants N] [--json]',
    );
    console.log(
      '       npm run load -- --tenants 1 --onboard 2 [--requests 10000] [--connections 32] [--users 4] [--json]',
    );
    console.log(
      '       npm run load -- --mode handler [--requests 2500] [--rounds 6] [--connections 64] [--users 6] [--json]',
    );
    return 0;
  }
  const tenants = positive('tenants', values.tenants);
  const onboard = positive('onboard', values.onboard);
  if (onboard !== undefined) {
    const report = await runOnboardingLoad({
      tenants: tenants ?? 1,
      onboard,
      ...(values.requests !== undefined ? { requests: positive('requests', values.requests)! } : {}),
      ...(values.connections !== undefined ? { connections: positive('connections', values.connections)! } : {}),
      ...(values.users !== undefined ? { usersPerTenant: positive('users', values.users)! } : {}),
    });
    if (values.json) console.log(JSON.stringify(report, null, 2));
    else {
      console.log(onboardingTable(report));
      for (const problem of report.problems) console.log(`  problem: ${problem}`);
    }
    return report.passed ? 0 : 1;
  }
  if (tenants !== undefined) return tenantMain(tenants, values);
  if (values.mode !== undefined && values.mode !== 'dev-server' && values.mode !== 'handler')
    throw new Error(`--mode must be dev-server (the default) or handler, got ${values.mode}`);
  if (values.mode === 'handler') {
    const handlerOptions = {
      requests: positive('requests', values.requests),
      connections: positive('connections', values.connections),
      users: positive('users', values.users),
      rounds: positive('rounds', values.rounds),
    };
    const started = loadavg();
    const report = await runHandlerLoad(
      Object.fromEntries(Object.entries(handlerOptions).filter(([, v]) => v !== undefined)) as typeof handlerOptions,
    );
    if (values.json) console.log(JSON.stringify({ ...report, loadAverageAtStart: started }, null, 2));
    else {
      console.log(`load average (1, 5, 15 min) at the start: ${started.map((n) => n.toFixed(2)).join(', ')}`);
      console.log(handlerTable(report));
      for (const problem of report.problems) console.log(`  problem: ${problem}`);
    }
    return report.passed ? 0 : 1;
  }
  const options = {
    requests: positive('requests', values.requests),
    connections: positive('connections', values.connections),
    users: positive('users', values.users),
    signOps: positive('sign-ops', values['sign-ops']),
  };
  const report = await runVendLoad(
    Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as typeof options,
  );
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else {
    console.log(table(report));
    for (const problem of report.problems) console.log(`  problem: ${problem}`);
  }
  return report.passed ? 0 : 1;
}

/** `--tenants N`: the multi-tenant run (scripts/load/tenant-load.ts). */
async function tenantMain(
  tenants: number,
  values: { requests?: string; connections?: string; users?: string; 'sign-ops'?: string; json?: boolean },
): Promise<number> {
  const options = {
    tenants,
    requests: positive('requests', values.requests),
    connections: positive('connections', values.connections),
    usersPerTenant: positive('users', values.users),
    signOps: positive('sign-ops', values['sign-ops']),
  };
  const report: TenantLoadReport = await runTenantLoad(
    Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as typeof options,
  );
  if (values.json) console.log(JSON.stringify(report, null, 2));
  else {
    const f = formatNumber;
    const rows: Array<[string, string]> = [
      ['tenants / callers', `${report.tenants} / ${report.callers}`],
      ['requests / connections', `${f(report.requests)} / ${report.connections}`],
      ['200 responses', f(report.ok)],
      ['non-2xx / socket errors / timeouts', `${report.non2xx} / ${report.errors} / ${report.timeouts}`],
      ['tokens failing their own tenant / duplicate jti', `${report.invalid} / ${report.duplicateJti}`],
      [
        `registry reads per tenant (TTL ${report.registryTtlSeconds} s)`,
        `${report.registryReadsPerTenant.min}–${report.registryReadsPerTenant.max}`,
      ],
      [
        'latency p50 / p99 / max (ms)',
        `${f(report.latencyMs.p50, 1)} / ${f(report.latencyMs.p99, 1)} / ${f(report.latencyMs.max, 1)}`,
      ],
      ['wall time (s)', f(report.wallSeconds, 2)],
      ['tokens/s over HTTP (verified after)', f(report.tokensPerSecond)],
      ['bare crypto.sign ops/s (mean)', f(report.bareSignOpsPerSecond.mean)],
      ['tokens/s ÷ bare sign ops/s', f(report.ratioToBareSign, 3)],
      ['result', report.passed ? 'PASS' : 'FAIL'],
    ];
    console.log(keyValueTable(rows));
    for (const problem of report.problems) console.log(`  problem: ${problem}`);
  }
  return report.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`load: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
