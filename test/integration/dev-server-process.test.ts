/**
 * `npm start` as a process (issue 14): it answers from the first accepted connection, no request can
 * end it, a signing-key store that is down gives 503 + Retry-After instead of an exit (with the reason
 * and the fix printed), and a port in use gets a hint that is free and not the tenant emulator's.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const children: ChildProcessWithoutNullStreams[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGTERM');
});

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((done) => probe.close(() => done()));
  return port;
}

/** Starts `tsx scripts/dev-server.ts` on `port`; output is collected as it comes. */
function startDevServer(port: number, args: string[] = [], env: Record<string, string> = {}) {
  const child = spawn('node_modules/.bin/tsx', ['scripts/dev-server.ts', ...args], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: String(port), ...env },
  });
  children.push(child);
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => {
    out.stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    out.stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const ready = new Promise<void>((done, fail) => {
    child.stdout.on('data', () => {
      if (out.stdout.includes('Get a caller token')) done();
    });
    void exited.then((code) => fail(new Error(`dev server exited with ${code}: ${out.stderr}`)));
  });
  ready.catch(() => {}); // awaited by the tests that expect it; the port test expects an exit instead
  return { child, out, ready, exited };
}

/** Sends raw bytes on one connection; resolves with what came back before the socket closed or went idle. */
function rawRequest(port: number, send: (socket: ReturnType<typeof connect>) => void, idleMs = 3000) {
  return new Promise<{ response: string; connected: boolean }>((done) => {
    let response = '';
    let connected = false;
    const socket = connect(port, '127.0.0.1', () => {
      connected = true;
      send(socket);
    });
    socket.setTimeout(idleMs, () => socket.destroy());
    socket.on('data', (chunk) => {
      response += chunk.toString();
    });
    socket.on('error', () => {});
    socket.on('close', () => done({ response, connected }));
  });
}

describe('Dev server process: never hangs, never dies', () => {
  it('answers every connection it accepts while starting (503 problem+json with Retry-After, or the real answer)', async () => {
    // Prepare
    const port = await freePort();
    const dev = startDevServer(port);
    const answers: string[] = [];
    // Act: knock until a connection is accepted, then keep asking until the server is ready.
    let readyNow = false;
    void dev.ready.then(() => {
      readyNow = true;
    });
    while (!readyNow) {
      const { response, connected } = await rawRequest(
        port,
        (socket) => socket.write('GET /qlik/idp-config HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'),
        5000,
      );
      if (connected) answers.push(response);
      else await new Promise((r) => setTimeout(r, 5));
    }
    await dev.ready;
    // Assess: each accepted connection was answered; answers before ready are 503 with Retry-After.
    expect(answers.length).toBeGreaterThan(0);
    for (const answer of answers) {
      expect(answer).toMatch(/^HTTP\/1\.1 (200|503) /);
      if (answer.startsWith('HTTP/1.1 503'))
        expect(answer).toMatch(/retry-after: 1\r\n[\s\S]*"code":"UPSTREAM_UNAVAILABLE"/i);
    }
  });

  it('answers a request line the HTTP parser refuses with 400, logged once', async () => {
    // Prepare
    const port = await freePort();
    const dev = startDevServer(port);
    await dev.ready;
    // Act
    const garbage = await rawRequest(port, (s) => s.write('HELLO\r\n\r\n'));
    await new Promise((r) => setTimeout(r, 200));
    // Assess
    expect(garbage.response).toMatch(/^HTTP\/1\.1 400 /);
    expect(`${dev.out.stdout}${dev.out.stderr}`.match(/refused a malformed request \(HPE_\w+\)/g)).toHaveLength(1);
    expect((await fetch(`http://127.0.0.1:${port}/qlik/idp-config`)).status).toBe(200);
  });

  it('answers //, an aborted body and a bad chunk with 400 or a closed socket, logs each once, and keeps serving', async () => {
    // Prepare
    const port = await freePort();
    const dev = startDevServer(port);
    await dev.ready;
    // Act
    const slashes = await rawRequest(port, (s) => s.write('GET /// HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'));
    const aborted = await rawRequest(port, (s) => {
      s.write(
        'POST /qlik/jwt HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"a":',
      );
      setTimeout(() => s.destroy(), 100);
    });
    const badChunk = await rawRequest(port, (s) =>
      s.write('POST /dev/identity/token HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n'),
    );
    await new Promise((r) => setTimeout(r, 300));
    const after = await fetch(`http://127.0.0.1:${port}/qlik/idp-config`);
    // Assess
    expect(slashes.response).toMatch(/^HTTP\/1\.1 400 [\s\S]*"code":"INVALID_REQUEST"/);
    expect(aborted.response).toBe('');
    expect(badChunk.response === '' || badChunk.response.startsWith('HTTP/1.1 400')).toBe(true);
    expect(after.status).toBe(200);
    expect(dev.child.exitCode).toBeNull();
    const logged = `${dev.out.stdout}\n${dev.out.stderr}`;
    console.log(
      logged
        .split('\n')
        .filter((l) => /failed|malformed/.test(l))
        .join('\n'),
    );
    expect(logged.match(/GET request failed \(ERR_INVALID_URL\)/g)).toHaveLength(1);
    // The aborted body and the bad chunk are one line each (the listener sees both as the connection ending).
    expect(logged.match(/POST request failed/g)).toHaveLength(2);
    expect(logged).not.toMatch(/refused a malformed request/);
  });
});

describe('Dev server process: routes the configuration leaves out', () => {
  it('answers /qlik/access-token and /oauth/* without --tenant with 404 NOT_CONFIGURED and how to turn them on', async () => {
    // Prepare
    const port = await freePort();
    const dev = startDevServer(port);
    await dev.ready;
    // Act
    const accessToken = await fetch(`http://127.0.0.1:${port}/qlik/access-token`, { method: 'POST' });
    const login = await fetch(`http://127.0.0.1:${port}/oauth/login`);
    // Assess
    for (const response of [accessToken, login]) {
      expect(response.status).toBe(404);
      const body = (await response.json()) as { code: string; detail: string };
      expect(body.code).toBe('NOT_CONFIGURED');
      expect(body.detail).toMatch(/start the dev server with --tenant <Qlik tenant URL>/);
    }
    expect(dev.out.stdout).toMatch(/OAuth proxy and POST \/qlik\/access-token: off \(they answer 404 NOT_CONFIGURED\)/);
  });
});

describe('Dev server process: a signing-key store that is down', () => {
  it.each([
    [
      '--secrets-manager with the store unreachable',
      ['--secrets-manager', 'qtv/dev-key'],
      { AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', AWS_ENDPOINT_URL: 'CLOSED' },
      /ECONNREFUSED/,
    ],
    ['the shipped config/dev.json without AWS settings', ['--config', 'config/dev.json'], {}, /Region is missing/],
  ])(
    '%s: keeps serving, prints the reason and the fix, and answers POST /qlik/jwt with 503 + Retry-After',
    async (_name, args, env, reason) => {
      // Prepare
      const port = await freePort();
      const closed = await freePort();
      const dev = startDevServer(
        port,
        args,
        Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === 'CLOSED' ? `http://127.0.0.1:${closed}` : v])),
      );
      await dev.ready;
      // Act
      const callerToken = (
        (await (
          await fetch(`http://127.0.0.1:${port}/dev/identity/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ sub: 'alice', name: 'Alice', email: 'alice@example.com' }),
          })
        ).json()) as { id_token: string }
      ).id_token;
      const minted = await fetch(`http://127.0.0.1:${port}/qlik/jwt`, {
        method: 'POST',
        headers: { authorization: `Bearer ${callerToken}` },
      });
      // Assess
      expect(dev.out.stdout).toMatch(/The signing key is not available yet: The signing key could not be fetched/);
      expect(dev.out.stdout).toMatch(new RegExp(`reason: .*${reason.source}`));
      expect(dev.out.stdout).toMatch(/fix: +store a key with `qtv secret put --secret-id \S+ .*AWS_REGION/);
      expect(minted.status).toBe(503);
      expect(minted.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(((await minted.json()) as { code: string }).code).toBe('SIGNING_KEY_UNAVAILABLE');
      expect(dev.child.exitCode).toBeNull();
    },
  );
});

describe('Dev server process: port in use', () => {
  it("suggests a free port that is not the tenant emulator's", async () => {
    // Prepare: hold a port; the emulator's port is the next one (free, but the hint must skip it).
    const blocker = createServer();
    await new Promise<void>((done) => blocker.listen(0, '127.0.0.1', done));
    const { port } = blocker.address() as { port: number };
    try {
      // Act
      const dev = startDevServer(port, [], { EMULATOR_PORT: String(port + 1) });
      const code = await dev.exited;
      // Assess
      expect(code).toBe(1);
      const hint = /port (\d+) is in use .*e\.g\. PORT=(\d+) npm start\./.exec(dev.out.stderr);
      expect(hint?.[1]).toBe(String(port));
      expect(Number(hint?.[2])).toBeGreaterThan(port + 1);
      expect(Number(hint?.[2])).not.toBe(8788);
    } finally {
      blocker.close();
    }
  });
});
