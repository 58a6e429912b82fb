import { type ChildProcess, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { checkQlikToken } from '../../functions/qlik/claims.js';
import { motoEnv, motoKms } from '../support/aws.js';
import { decodeJwt, verifyWithJsonwebtoken } from '../support/keys.js';
import { createKmsKey, kmsPublicKey } from '../support/kms.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGTERM');
});

/** Runs `npm start -- --kms <key>` as a user would (tsx, AWS_ENDPOINT_URL pointing at moto). */
function startDevServerProcess(keyId: string) {
  const child = spawn('node_modules/.bin/tsx', ['scripts/dev-server.ts', '--kms', keyId], {
    env: { ...process.env, ...motoEnv(), PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const banner = new Promise<string>((resolve, reject) => {
    const check = () => {
      if (/curl -s -X POST .*\/qlik\/jwt/.test(stdout)) resolve(stdout);
    };
    child.stdout?.on('data', check);
    void exited.then((code) => reject(new Error(`dev server exited with ${code}: ${stderr}`)));
  });
  return { banner, exited, output: () => ({ stdout, stderr }) };
}

describe('Script: npm start -- --kms <key-id>', () => {
  it('serves Qlik-valid tokens signed by the KMS key and prints a KMS-made certificate', async () => {
    // Prepare
    const keyId = await createKmsKey(motoKms(), 'RSA_2048');
    const publicKey = await kmsPublicKey(motoKms(), keyId);

    // Act
    const dev = startDevServerProcess(keyId);
    const banner = await dev.banner;
    const url = /listening on (http:\/\/\S+)/.exec(banner)?.[1] ?? '';
    const identity = await fetch(`${url}/dev/identity/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'alice', name: 'Alice Example', email: 'alice@example.com', groups: ['Sales'] }),
    }).then((r) => r.json() as Promise<{ id_token: string }>);
    const vended = await fetch(`${url}/qlik/jwt`, {
      method: 'POST',
      headers: { authorization: `Bearer ${identity.id_token}` },
    });
    const idp = await fetch(`${url}/qlik/idp-config`).then((r) => r.json() as Promise<{ certificate: string }>);

    // Assess
    expect(vended.status).toBe(200);
    const { token } = (await vended.json()) as { token: string };
    const { header, payload } = decodeJwt(token);
    expect(checkQlikToken(header, payload, { nowSeconds: Math.floor(Date.now() / 1000) }).filter((v) => !v.ok)).toEqual(
      [],
    );
    verifyWithJsonwebtoken(token, publicKey.pem);
    verifyWithJsonwebtoken(token, idp.certificate);
    expect(new X509Certificate(idp.certificate).verify(publicKey.key)).toBe(true);
    expect(banner).toContain('BEGIN CERTIFICATE');
  });

  it('refuses at start, with the reason, a KMS key that cannot sign Qlik JWTs', async () => {
    const keyId = await createKmsKey(motoKms(), 'ECC_NIST_P384');
    const dev = startDevServerProcess(keyId);
    dev.banner.catch(() => {});
    expect(await dev.exited).toBe(1);
    expect(dev.output().stderr).toMatch(/accepts RS256 only/);
  });
});
