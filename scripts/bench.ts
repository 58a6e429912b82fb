/**
 * `npm run bench`: speed figures, measured in one process, printed as a table of medians and ratios
 * (`--json` for machines). Ratios, not absolute times, are what to compare across machines.
 *
 *   npm run bench                 # every section
 *   npm run bench -- --only vend  # one section
 *   npm run bench -- --json
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { probeAfterSignature } from './bench/after-signature.js';
import { benchColdStart } from './bench/cold-start.js';
import { benchKms } from './bench/kms.js';
import { benchTenantMemory } from './bench/tenant-memory.js';
import { benchTenantVend } from './bench/tenant-vend.js';
import { benchVend } from './bench/vend.js';

type Section = { name: string; run: () => Promise<Array<Record<string, unknown>>> };

const rows = (list: readonly object[]) => list as unknown as Array<Record<string, unknown>>;
const sections: Section[] = [
  { name: 'vend', run: async () => rows(await benchVend()) },
  { name: 'kms', run: async () => rows(await benchKms()) },
  { name: 'cold-start', run: async () => rows(await benchColdStart()) },
  { name: 'tenant-vend', run: async () => rows(await benchTenantVend()) },
  { name: 'tenant-memory', run: async () => rows(await benchTenantMemory()) },
  // Not a target: what a signature does to the code after it, the host state the per-token ratios follow.
  { name: 'after-signature', run: async () => rows([2048, 4096].map((bits) => probeAfterSignature(bits))) },
];

function printTable(title: string, rows: Array<Record<string, unknown>>): void {
  if (rows.length === 0) return;
  // Union of every row's keys: a column that only later rows carry (the KMS notes) still shows.
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) =>
    v === undefined ? '' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : String(v);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  console.log(`\n## ${title}`);
  console.log(columns.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(columns.map((c, i) => cell(r[c]).padEnd(widths[i]!)).join('  '));
}

type Row = Record<string, unknown>;

/**
 * The figures the issues' targets are judged on, from the sections of this run, one line each, so a run's
 * verdict can be pasted into docs/performance.md as it is. A section not run leaves its lines out.
 */
function targetSummary(results: Record<string, unknown>): Row[] {
  const rowsOf = (section: string) => (results[section] as Row[] | undefined) ?? [];
  const find = (section: string, match: (row: Row) => boolean) => rowsOf(section).find(match);
  const line = (target: string, value: unknown, limit: number, atMost = true): Row => {
    const measured = typeof value === 'number' ? value : Number.NaN;
    return {
      target,
      measured,
      limit,
      met: Number.isNaN(measured)
        ? 'not measured'
        : (atMost ? measured <= limit : measured >= limit)
          ? 'met'
          : 'NOT met',
    };
  };
  const summary: Row[] = [];
  const coldOff = find('cold-start', (r) => r.function === 'qlik-jwt (tracing off)');
  const coldOn = find('cold-start', (r) => r.function === 'qlik-jwt');
  if (coldOff !== undefined) {
    summary.push(line('qlik-jwt bundle KiB, secrets-manager, tracing off', coldOff.bundleKiB, 450));
    summary.push(
      line('cold start ÷ minimal Secrets Manager Lambda, tracing off', coldOff.ratioToMinimalSecretsManager, 1.25),
    );
  }
  if (coldOn !== undefined)
    summary.push(
      line('cold start ÷ minimal Secrets Manager Lambda, tracing on', coldOn.ratioToMinimalSecretsManager, 1.25),
    );
  for (const bits of [2048, 4096]) {
    const vend = find('vend', (r) => r.bits === bits && String(r.case).startsWith('full vend path'));
    const bare = find('vend', (r) => r.bits === bits && String(r.case).startsWith('bare crypto.sign'));
    if (vend !== undefined)
      summary.push({
        ...line(`per token ÷ bare crypto.sign, RSA ${bits}`, vend.ratioToBareSign, 1.05),
        // The ratio follows the host's state, which the bare signature's time shows (docs/performance.md).
        context: typeof bare?.medianMs === 'number' ? `bare sign ${bare.medianMs.toFixed(3)} ms` : undefined,
      });
  }
  const multi = find('tenant-vend', (r) => String(r.case).includes('multi-tenant'));
  if (multi !== undefined)
    summary.push(line('per token, multi-tenant (50) ÷ single-tenant', multi.ratioToSingleTenant, 1.05));
  for (const row of summary) row.node = results.node;
  return summary;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { json: { type: 'boolean' }, only: { type: 'string' } } });
  const wanted = values.only?.split(',');
  const results: Record<string, unknown> = {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    at: new Date().toISOString(),
    // The machine is shared: the load average (1, 5, 15 min) says how much, at the start and the end.
    loadAverageAtStart: loadavg().map((n) => Number(n.toFixed(2))),
  };
  if (!values.json)
    console.log(
      `${results.node} ${results.platform} ${results.at}, load average ${loadavg()
        .map((n) => n.toFixed(2))
        .join(' ')}`,
    );
  for (const section of sections) {
    if (wanted && !wanted.includes(section.name)) continue;
    const rows = await section.run();
    results[section.name] = rows;
    if (!values.json) printTable(section.name, rows);
  }
  results.loadAverageAtEnd = loadavg().map((n) => Number(n.toFixed(2)));
  const summary = targetSummary(results);
  results.targets = summary;
  if (!values.json) printTable('targets (issues #15 and #17): one run; the Done-when asks for three in a row', summary);
  if (values.json) console.log(JSON.stringify(results, null, 2));
  else
    console.log(
      `\nload average at the end: ${loadavg()
        .map((n) => n.toFixed(2))
        .join(' ')}`,
    );
}

main().catch((error: unknown) => {
  console.error('bench failed:', error);
  process.exit(1);
});
