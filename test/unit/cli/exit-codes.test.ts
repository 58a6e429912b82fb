import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../../scripts/cli/support.js';
import { runCli } from '../../../scripts/cli.js';

const docs = readFileSync(resolve(import.meta.dirname, '../../../docs/cli.md'), 'utf8');

async function helpText(): Promise<string> {
  let out = '';
  await runCli(['--help'], {
    stdout: (t) => {
      out += t;
    },
    stderr: () => {},
    readStdin: async () => '',
    fetch,
  });
  return out;
}

describe('Exit codes: one table for every command', () => {
  it('docs/cli.md lists exactly the codes scripts/cli/support.ts defines, with the same meaning', () => {
    // Act
    const rows = [...docs.matchAll(/^\| (\d) \| ([^|]+)/gm)].map((m) => [Number(m[1]), m[2]?.trim() ?? ''] as const);
    // Assess
    expect(rows.map(([code]) => code)).toEqual(Object.values(EXIT));
    expect(rows[0]?.[1]).toBe('ok');
    expect(rows[1]?.[1]).toMatch(/^a check failed/);
    expect(rows[2]?.[1]).toMatch(/^usage or input error/);
    expect(rows[3]?.[1]).toMatch(/^upstream error/);
    // doctor's unreachable API is an upstream error (3), not a failed check (1).
    expect(rows[3]?.[1]).toMatch(/`doctor` too, when the API or tenant cannot be reached/);
  });

  it('qtv --help summarises the same table', async () => {
    // Act
    const help = await helpText();
    // Assess
    expect(help).toMatch(
      `exit codes: ${EXIT.ok} ok, ${EXIT.checkFailed} a check failed, ${EXIT.usage} usage or input error, ${EXIT.upstream} upstream (AWS, Qlik, token API) error`,
    );
  });
});
