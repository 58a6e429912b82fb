/**
 * Docs that run (issue 14): every fenced block marked ```sh runnable in README.md and docs/*.md is run
 * with bash (errexit, pipefail) in a fresh folder against a dev server wired to the Qlik tenant emulator,
 * seeded as `npm run emulator` seeds it. The documented ports (8787 for the dev server, 8788 for the
 * emulator) are replaced by the test's free ports; `npx qtv` and `npm run cli --` run this checkout's
 * CLI. A documented command that stops working fails here, naming its file and line.
 */
import { spawn } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, EMULATOR_DEMO_CLIENTS, startDevServer } from '../../scripts/dev-server.js';
import { tempDir } from '../support/cli.js';
import { startTenantEmulator, type TenantEmulator } from '../support/tenant-emulator/index.js';

const ROOT = resolve(import.meta.dirname, '../..');
const FILES = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** Every runnable block: where it is and its text. */
const blocks = FILES.flatMap((file) => {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/^```sh runnable\n([\s\S]*?)^```$/gm)].map((match) => ({
    where: `${file}:${text.slice(0, match.index).split('\n').length}`,
    script: match[1] ?? '',
  }));
});

let tenant: TenantEmulator;
let dev: DevServer;
let binDir: string;

beforeAll(async () => {
  tenant = await startTenantEmulator({
    users: [{ subject: 'demo-user', name: 'Demo User', email: 'demo@example.com', roles: ['TenantAdmin'] }],
    clients: [
      {
        clientId: EMULATOR_DEMO_CLIENTS.web.clientId,
        name: 'Demo web app',
        secrets: [EMULATOR_DEMO_CLIENTS.web.secret],
        redirectUris: [],
      },
      {
        clientId: EMULATOR_DEMO_CLIENTS.impersonation.clientId,
        name: 'Demo impersonation backend',
        secrets: [EMULATOR_DEMO_CLIENTS.impersonation.secret],
        impersonation: true,
      },
      {
        clientId: EMULATOR_DEMO_CLIENTS.admin.clientId,
        name: 'Demo admin',
        secrets: [EMULATOR_DEMO_CLIENTS.admin.secret],
        admin: true,
      },
    ],
    webIntegrations: [{ id: 'demo-web-integration', validOrigins: [] }],
  });
  dev = await startDevServer({
    port: 0,
    localDir: join(tempDir('qtv-docs-keys-'), '.local'),
    tenantUrl: tenant.url,
    logLevel: 'SILENT',
  });
  binDir = tempDir('qtv-docs-bin-');
  writeFileSync(join(binDir, 'qtv'), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'scripts/qtv.mjs')}" "$@"\n`);
  chmodSync(join(binDir, 'qtv'), 0o755);
});

afterAll(async () => {
  await dev?.close();
  await tenant?.close();
});

function bash(script: string, cwd: string) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
      cwd,
      env: { PATH: `${binDir}:${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? cwd },
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

describe('Docs: every `sh runnable` block runs', () => {
  it('finds the runnable blocks of README.md and docs/frontend.md and docs/cli.md', () => {
    expect(blocks.map((b) => b.where.split(':')[0])).toEqual(
      expect.arrayContaining(['README.md', 'docs/frontend.md', 'docs/cli.md']),
    );
  });

  it.each(blocks.map((b) => [b.where, b.script] as const))('%s', async (_where, script) => {
    // Prepare: the documented ports become the test's servers; the CLI is this checkout's.
    const local = script
      .replaceAll('http://127.0.0.1:8787', dev.url)
      .replaceAll('http://127.0.0.1:8788', tenant.url)
      .replaceAll('npx qtv ', 'qtv ')
      .replaceAll('npm run cli -- ', 'qtv ');
    // Act
    const result = await bash(local, tempDir('qtv-docs-run-'));
    // Assess
    expect(result.code, `${local}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`).toBe(0);
  });
});
