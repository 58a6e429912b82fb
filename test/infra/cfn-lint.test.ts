/**
 * cfn-lint (AWS's CloudFormation linter) on the template of every configuration in config/: 0 errors.
 * Warnings are printed, not failed (W3005, a redundant DependsOn CDK writes, is the known one: toolchain.md).
 * A machine without cfn-lint fails this test with the fix; it never skips.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConfigInput, loadConfigFile } from '../../functions/runtime/config.js';
import { PROJECT_ROOT } from '../../infra/constructs/token-function.js';
import { buildStack } from './synth.js';

interface CfnLintMatch {
  readonly Level: string;
  readonly Rule: { readonly Id: string };
  readonly Message: string;
  readonly Filename: string;
}

const configFiles = readdirSync(join(PROJECT_ROOT, 'config')).filter((f) => f.endsWith('.json'));
let dir: string;
let matches: CfnLintMatch[] = [];
const templatePaths = new Map<string, string>();
let canaryPath: string;

beforeAll(() => {
  const version = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
  if (version.error !== undefined || version.status !== 0)
    throw new Error(
      'cfn-lint is not installed, so the templates cannot be checked: install it with `pip install cfn-lint` (moto[server] brings it on these machines)',
    );
  dir = mkdtempSync(join(tmpdir(), 'qtv-cfn-lint-'));
  for (const [index, file] of configFiles.entries()) {
    const { template } = buildStack(
      loadConfigFile(join(PROJECT_ROOT, 'config', file)) as ConfigInput,
      `QtvLint${index}`,
    );
    const path = join(dir, file.replace(/\.json$/, '.template.json'));
    writeFileSync(path, JSON.stringify(template.toJSON()));
    templatePaths.set(file, path);
  }
  // A broken template beside them proves the check is live (E3002: unknown property).
  canaryPath = join(dir, 'canary.template.json');
  writeFileSync(canaryPath, JSON.stringify({ Resources: { B: { Type: 'AWS::S3::Bucket', Properties: { Nope: 1 } } } }));
  // One run for all templates: cfn-lint's start-up dominates. Exit status is non-zero whenever it finds anything.
  const run = spawnSync('cfn-lint', ['--format', 'json', '--', ...templatePaths.values(), canaryPath], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.error !== undefined) throw run.error;
  matches = JSON.parse(run.stdout || '[]') as CfnLintMatch[];
}, 300_000);

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('cfn-lint on every configuration’s template', () => {
  it('reports an error in a broken template (the check can fail)', () => {
    expect(matches.filter((m) => m.Filename === canaryPath && m.Level === 'Error')).not.toEqual([]);
  });

  it.each(configFiles)('reports 0 errors for %s', (file) => {
    const path = templatePaths.get(file)!;
    const own = matches.filter((m) => m.Filename === path);
    const warnings = own.filter((m) => m.Level !== 'Error').map((m) => m.Rule.Id);
    if (warnings.length > 0) console.log(`[cfn-lint] ${file}: warnings ${[...new Set(warnings)].join(', ')}`);
    expect(own.filter((m) => m.Level === 'Error').map((m) => `${m.Rule.Id}: ${m.Message}`)).toEqual([]);
  });
});
