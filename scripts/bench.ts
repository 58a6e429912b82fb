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
