/**
 * Hostile request bodies against the /qlik/jwt handler (through middy): bodies that try to set an
 * identity at any depth, prototype-pollution keys, random JSON, random bytes, invalid UTF-8 and
 * oversized bodies. The body may only choose a lifetime; it must never change who the token is for.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../../functions/qlik-jwt/handler.js';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { parseConfig } from '../../../functions/runtime/config.js';
import { createRuntime } from '../../../functions/runtime/wiring.js';
import { signingKeyFromSecret } from '../../../functions/signing/signing-key.js';
import { httpEvent, lambdaContext } from '../../support/events.js';
import {
  assertPrototypeClean,
  type HostileBody,
  hostileBody,
  RUNS,
  SMUGGLING_CORPUS,
  smugglingBodyText,
} from '../../support/hostile.js';
import { pkcs8Pem, rsaKeyPair, verifyWithJsonwebtoken } from '../../support/keys.js';
import { capturingLogger } from '../../support/logs.js';

const NOW_MS = Date.UTC(2026, 10, 21, 12, 0, 0);
const { privateKey, publicKey } = rsaKeyPair(2048);
const publicPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
const CALLER = {
  iss: 'https://idp.example',
  sub: 'user-42',
  name: 'Grace Hopper',
  email: 'grace@example.com',
  email_verified: 'true',
  groups: ['Sales', 'Finance'],
};
const IDENTITY = { sub: 'user-42', name: 'Grace Hopper', email: 'grace@example.com', groups: ['Sales', 'Finance'] };

const log = capturingLogger('DEBUG');
const issued: string[] = [];
const handlerPromise = (async () => {
  const key = await signingKeyFromSecret(pkcs8Pem(privateKey), { fallbackKid: 'qtv-test' });
  const config = parseConfig({
    qlik: { issuer: 'https://qtv.example', token: { defaultTtlSeconds: 300, maxTtlSeconds: 600 } },
    signing: { backend: 'file', privateKeyPath: 'unused' },
  });
  return createHandler(
    createRuntime(config, { clock: new FixedClock(NOW_MS), logger: log.logger, signers: { current: async () => key } }),
  );
})();

async function send({ body, contentType }: HostileBody) {
  const handler = await handlerPromise;
  const isBytes = body instanceof Uint8Array;
  const event = httpEvent({
    claims: CALLER,
    body: isBytes ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: isBytes,
    headers: contentType === undefined ? {} : { 'content-type': contentType },
  });
  if (contentType === undefined) delete event.headers['content-type'];
  return handler(event, lambdaContext());
}

/** What a body is allowed to be for a 200: nothing, or an object with at most a valid ttlSeconds. */
function acceptableBody(body: string | Uint8Array): { ttlSeconds?: number } | undefined {
  // The handler decodes like TextDecoder: a leading byte-order mark is dropped.
  const text = (typeof body === 'string' ? body : Buffer.from(body).toString('utf8')).replace(/^\uFEFF/, '');
  if (text === '') return {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    const keys = Object.keys(parsed);
    if (keys.some((k) => k !== 'ttlSeconds')) return undefined;
    const ttl = (parsed as { ttlSeconds?: unknown }).ttlSeconds;
    if (ttl === undefined) return {};
    return Number.isInteger(ttl) && (ttl as number) >= 1 && (ttl as number) <= 3600
      ? { ttlSeconds: ttl as number }
      : undefined;
  } catch {
    return undefined;
  }
}

/** The single assertion every hostile body must meet. */
function assessResponse(input: HostileBody, result: Awaited<ReturnType<typeof send>>) {
  const status = result.statusCode ?? 0;
  // Never a server fault: every hostile body is the caller's mistake.
  expect(status === 200 || (status >= 400 && status < 500)).toBe(true);
  if (status !== 200) {
    expect(result.headers?.['content-type']).toBe('application/problem+json');
    return;
  }
  const allowed = acceptableBody(input.body);
  expect(allowed).toBeDefined();
  const response = JSON.parse(result.body ?? '{}') as { token: string; expiresIn: number };
  issued.push(response.token);
  const { payload } = verifyWithJsonwebtoken(response.token, publicPem, { clockTimestamp: NOW_MS / 1000 });
  // The identity is the caller's, whatever the body said; the body chose at most the lifetime.
  expect({ sub: payload.sub, name: payload.name, email: payload.email, groups: payload.groups }).toEqual(IDENTITY);
  expect(payload.email_verified).toBe(true);
  expect(response.expiresIn).toBe(Math.min(allowed?.ttlSeconds ?? 300, 600));
}

afterAll(() => {
  // No hostile body polluted Object.prototype, and no issued token reached a log line.
  assertPrototypeClean();
  const text = log.text();
  for (const token of issued) expect(text).not.toContain(token.split('.')[2]);
});

describe('Handler: POST /qlik/jwt (hostile bodies)', () => {
  it.each(SMUGGLING_CORPUS)(
    'refuses the body %j with a 4xx problem, or issues a token for the caller',
    async (body) => {
      const input = { body, contentType: 'application/json' };
      const result = await send(input);
      assessResponse(input, result);
      expect(result.statusCode).toBeGreaterThanOrEqual(400);
      assertPrototypeClean();
    },
  );

  it('refuses every body that names a field besides ttlSeconds, at any depth, with 400', async () => {
    await fc.assert(
      fc.asyncProperty(smugglingBodyText, async (body) => {
        const input = { body, contentType: 'application/json' };
        const result = await send(input);
        assessResponse(input, result);
        if (body.length <= 8 * 1024) expect(result.statusCode).toBe(400);
      }),
      { numRuns: RUNS.cheap },
    );
    assertPrototypeClean();
  });

  it('answers any body (random JSON, text, bytes, invalid UTF-8, oversized, odd content types) with 200 or 4xx, never for another identity', async () => {
    const statuses = new Set<number>();
    await fc.assert(
      fc.asyncProperty(hostileBody, async (input) => {
        const result = await send(input);
        statuses.add(result.statusCode ?? 0);
        assessResponse(input, result);
      }),
      { numRuns: RUNS.signing },
    );
    // The generator reached the size, media-type and parse checks as well as the happy path.
    expect([...statuses].sort()).toEqual(expect.arrayContaining([200, 400, 413, 415]));
    assertPrototypeClean();
  });

  it.each([
    ['invalid UTF-8 (a lone 0xff byte)', 400, [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]],
    ['an overlong UTF-8 encoding of "/"', 400, [0x7b, 0xc0, 0xaf, 0x7d]],
    ['a UTF-16 surrogate encoded as UTF-8 (CESU)', 400, [0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]],
    ['8 KiB + 1 byte', 413, [...Buffer.from(`{"x":"${'a'.repeat(8 * 1024 - 7)}"}`)]],
  ])('refuses %s with %i', async (_case, status, bytes) => {
    const input = { body: new Uint8Array(bytes), contentType: 'application/json' };
    const result = await send(input);
    assessResponse(input, result);
    expect(result.statusCode).toBe(status);
  });

  it('reads a UTF-8 byte-order mark before {} as {} (RFC 8259 lets parsers ignore it) and issues the caller’s token', async () => {
    const input = { body: new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]), contentType: 'application/json' };
    const result = await send(input);
    assessResponse(input, result);
    expect(result.statusCode).toBe(200);
  });
});
