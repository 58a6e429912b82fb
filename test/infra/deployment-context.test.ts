/**
 * `cdk synth` as a newcomer runs it (issue 14): the stage follows `-c config=<file>` when `-c stage` is
 * not given, a missing file is one readable error without a Node stack trace, and no synth prints
 * "N feature flags are not configured" (cdk.json sets the flags CDK recommends for new projects).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveDeployment } from '../../infra/deployment-context.js';
import { CDK_JSON_CONTEXT } from './synth.js';

const ROOT = resolve(import.meta.dirname, '../..');

function cdk(args: string[]) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
    const child = spawn('node_modules/.bin/cdk', args, {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), CDK_DISABLE_VERSION_CHECK: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('Function: resolveDeployment', () => {
  it.each([
    [{}, 'dev', join(ROOT, 'config/dev.json')],
    [{ stage: 'prod' }, 'prod', join(ROOT, 'config/prod.json')],
    [{ config: 'my.json' }, 'my', '/home/me/my.json'],
    [{ config: 'config/example-kms.json' }, 'example-kms', '/home/me/config/example-kms.json'],
    [{ config: '/abs/team-a.json', stage: 'prod' }, 'prod', '/abs/team-a.json'],
  ])('reads %o as stage %s from %s', (context, stage, configPath) => {
    expect(resolveDeployment(context, ROOT, '/home/me')).toEqual({ stage, configPath });
  });

  it.each([
    [{ config: 'my_config.json' }, /cannot name the stack after "my_config.json".*pass -c stage=<name>/],
    [{ config: '2026.json' }, /pass -c stage=<name>/],
    [{ stage: 'prod stack' }, /-c stage=prod stack is not a stage name/],
  ])('refuses %o with the fix', (context, message) => {
    expect(() => resolveDeployment(context, ROOT, '/home/me')).toThrow(message);
  });

  it('is not overridden by a stage in cdk.json (which would name every -c config=… stack "dev")', () => {
    expect(CDK_JSON_CONTEXT.stage).toBeUndefined();
  });
});

describe('Command: cdk synth', () => {
  it('names the stack after -c config=<file> and prints no unconfigured feature flags', async () => {
    // Prepare
    const out = mkdtempSync(join(tmpdir(), 'qtv-cdk-out-'));
    // Act
    const result = await cdk(['synth', '-q', '-c', 'config=config/example.json', '-o', out]);
    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(existsSync(join(out, 'QlikTokenVending-example.template.json'))).toBe(true);
    expect(`${result.stdout}${result.stderr}`).not.toMatch(/feature flags are not configured/);
  });

  it('says which file is missing and how to fix it, without a Node stack trace', async () => {
    // Act
    const result = await cdk(['synth', '-q', '-c', 'config=config/nope.json']);
    // Assess
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(
      /qlik-token-vending: Invalid .*config\/nope\.json:\n {2}- cannot read .*nope\.json: ENOENT/,
    );
    expect(result.stderr).toMatch(/fix: copy config\/example\.json to config\/<stage>\.json, edit its values/);
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });
});
