/**
 * The installable construct, as a consumer gets it: `npm pack` (prepack builds the construct and the prebuilt Lambda
 * bundles), then in a folder outside the repository `npm install <tarball> aws-cdk-lib constructs cdk-nag` from npm's
 * cache, then examples/cdk-app synthesizes with plain node (no TypeScript loader, no esbuild, no sources of ours)
 * with cdk-nag on, and cfn-lint reads the template.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../infra/constructs/token-function.js';

const work = mkdtempSync(join(tmpdir(), 'qtv-consumer-'));
const consumer = join(work, 'app');
let tarball = '';
let synth: ReturnType<typeof spawnSync>;
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs a command; throws with its output when it fails. */
function run(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** The environment of a consumer's shell: no loader or test settings inherited from vitest. */
function consumerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG'])
    if (process.env[name] !== undefined) env[name] = process.env[name];
  return env;
}

beforeAll(() => {
  // Pack: prepack runs `npm run build` (build:construct and every other build:* script).
  run('npm', ['pack', '--pack-destination', work], PROJECT_ROOT);
  const packed = readdirSync(work).filter((f) => f.endsWith('.tgz'));
  expect(packed).toHaveLength(1);
  tarball = join(work, packed[0]!);
  // Install as a consumer would, outside the repository, from npm's cache.
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  for (const file of ['app.mjs', 'cdk.json'])
    copyFileSync(join(PROJECT_ROOT, 'examples/cdk-app', file), join(consumer, file));
  run(
    'npm',
    [
      'install',
      tarball,
      'aws-cdk-lib@2.276.0',
      'constructs@10.8.1',
      'cdk-nag@3.0.2',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
    ],
    consumer,
    consumerEnv(),
  );
  synth = spawnSync(process.execPath, ['app.mjs'], {
    cwd: consumer,
    env: { ...consumerEnv(), CDK_OUTDIR: join(consumer, 'cdk.out') },
    encoding: 'utf8',
  });
}, 600_000);

describe('Package: qlik-token-vending from its packed tarball', () => {
  it('carries the built construct and prebuilt Lambda bundles, no TypeScript sources, and peer-depends on aws-cdk-lib and constructs', () => {
    // Act
    const files = run('tar', ['tzf', tarball], work).stdout.split('\n').filter(Boolean);
    const manifest = JSON.parse(readFileSync(join(consumer, 'node_modules/qlik-token-vending/package.json'), 'utf8'));
    // Assess
    expect(files).toContain('package/dist/construct/index.mjs');
    for (const entry of ['qlik-jwt/index', 'idp-config/index', 'oauth/login', 'rotate-signing-key/index'])
      expect(files).toContain(`package/dist/lambda/functions/${entry}/index.mjs`);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(manifest.peerDependencies).toEqual({ 'aws-cdk-lib': expect.any(String), constructs: expect.any(String) });
    expect(manifest.dependencies?.['aws-cdk-lib']).toBeUndefined();
  });

  it('synthesizes examples/cdk-app with plain node from a folder outside the repository, with 0 cdk-nag findings', () => {
    // Assess
    expect(synth.status, `${synth.stdout}\n${synth.stderr}`).toBe(0);
    const report = JSON.parse(readFileSync(join(consumer, 'cdk.out/validation-report.json'), 'utf8')) as {
      pluginReports: { pluginName: string; conclusion: string; violations: unknown[] }[];
    };
    expect(report.pluginReports.map((r) => [r.pluginName, r.conclusion, r.violations.length])).toEqual([
      ['AwsSolutions', 'success', 0],
    ]);
    // Every function's code is a prebuilt bundle copied as an asset: nothing was bundled at synth.
    const template = JSON.parse(readFileSync(join(consumer, 'cdk.out/AnalyticsPortal.template.json'), 'utf8'));
    const functions = Object.values(template.Resources as Record<string, { Type: string }>).filter(
      (r) => r.Type === 'AWS::Lambda::Function',
    );
    expect(functions).toHaveLength(2);
    const assets = readdirSync(join(consumer, 'cdk.out')).filter((f) => f.startsWith('asset.'));
    for (const asset of assets) expect(existsSync(join(consumer, 'cdk.out', asset, 'index.mjs'))).toBe(true);
  });

  it('gives cfn-lint no error on the consumer template', () => {
    // Act: cfn-lint exits non-zero for warnings too; the JSON says which.
    const lint = spawnSync('cfn-lint', ['-f', 'json', join(consumer, 'cdk.out/AnalyticsPortal.template.json')], {
      encoding: 'utf8',
    });
    // Assess
    expect(lint.error, 'cfn-lint must be installed (pip install cfn-lint)').toBeUndefined();
    const findings = JSON.parse(lint.stdout || '[]') as { Rule: { Id: string }; Message: string }[];
    expect(findings.filter((f) => f.Rule.Id.startsWith('E'))).toEqual([]);
  });
});
