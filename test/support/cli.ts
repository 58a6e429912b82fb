/** Runs the real `qtv` CLI as a subprocess (real argv, files, exit codes), as a user would. */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** Absolute path of the `qtv` bin shim. */
export const QTV_BIN = resolve(import.meta.dirname, '../../scripts/qtv.mjs');

/** What a `qtv` run produced. */
export interface QtvResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options for {@link runQtv}. */
export interface RunQtvOptions {
  /** Extra environment; the child gets only PATH and HOME besides, so nothing leaks in from the test runner. */
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  /** Written to stdin, which is then closed (stdin is always closed). */
  readonly input?: string;
}

/** Runs `node scripts/qtv.mjs ...args`. */
export function runQtv(args: readonly string[], options: RunQtvOptions = {}): Promise<QtvResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [QTV_BIN, ...args], {
      cwd: options.cwd ?? tmpdir(),
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** A fresh temporary folder. */
export const tempDir = (prefix = 'qtv-cli-') => mkdtempSync(join(tmpdir(), prefix));
