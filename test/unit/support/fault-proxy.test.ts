import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { awsJsonError, type FaultProxy, startFaultProxy } from '../../support/fault-proxy.js';

let upstream: Server | undefined;
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.close();
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
  proxy = undefined;
  upstream = undefined;
});

/** An upstream that echoes the operation and body it received. */
async function echoUpstream(): Promise<string> {
  upstream = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ target: req.headers['x-amz-target'], body: Buffer.concat(chunks).toString() }));
    });
  });
  await new Promise<void>((resolve) => upstream?.listen(0, '127.0.0.1', resolve));
  const address = upstream.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

const call = (endpoint: string, operation: string) =>
  fetch(endpoint, {
    method: 'POST',
    headers: { 'x-amz-target': `TrentService.${operation}`, 'content-type': 'application/x-amz-json-1.1' },
    body: '{"KeyId":"k"}',
  });

describe('Function: startFaultProxy', () => {
  it('forwards requests unchanged and counts them by AWS operation', async () => {
    proxy = await startFaultProxy(await echoUpstream());
    const response = await call(proxy.endpoint, 'Sign');
    await call(proxy.endpoint, 'GetPublicKey');
    await call(proxy.endpoint, 'Sign');
    expect(await response.json()).toEqual({ target: 'TrentService.Sign', body: '{"KeyId":"k"}' });
    expect(proxy.count('Sign')).toBe(2);
    expect(proxy.count('GetPublicKey')).toBe(1);
  });

  it('answers matching requests with an injected error for the given number of times, then forwards again', async () => {
    proxy = await startFaultProxy(await echoUpstream());
    proxy.inject({ operation: 'Sign', status: 400, body: awsJsonError('ThrottlingException'), times: 2 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(proxy.endpoint, 'Sign')).status);
    const other = await call(proxy.endpoint, 'GetPublicKey');
    expect(statuses).toEqual([400, 400, 200]);
    expect(other.status).toBe(200);
    expect(proxy.requests.map((r) => r.injected)).toEqual([true, true, false, false]);
  });

  it('delays matching requests and still forwards them', async () => {
    proxy = await startFaultProxy(await echoUpstream());
    proxy.inject({ operation: 'Sign', delayMs: 30, times: 1 });
    const started = Date.now();
    const response = await call(proxy.endpoint, 'Sign');
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(proxy.requests[0]?.injected).toBe(false);
  });
});
