/**
 * Hostile input over real HTTP against the dev server's stand-in for API Gateway
 * (scripts/dev/local-api-gateway.ts: the same JWT authorizer rules, claim flattening and routes) in
 * front of the real /qlik/jwt handler. The caller identity provider's key is held by the test, so
 * tokens that are correctly signed but wrong in another way (issuer, audience, time, headers) can be
 * made, next to tokens an attacker without the key could make.
 */
import { createHmac, sign as cryptoSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { createLocalJWKSet, exportJWK, type JWK, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityNotMappableError } from '../../functions/errors.js';
import { callerClaimsFrom } from '../../functions/identity/caller.js';
import { mapCallerIdentity } from '../../functions/identity/mapping.js';
import { checkQlikToken, qlikRejections } from '../../functions/qlik/claims.js';
import { routes } from '../../functions/routes.js';
import { parseConfig } from '../../functions/runtime/config.js';
import { createRuntime, type Runtime } from '../../functions/runtime/wiring.js';
import { signingKeyFromSecret } from '../../functions/signing/signing-key.js';
import { createLocalApiGateway, type LocalHandler } from '../../scripts/dev/local-api-gateway.js';
import { httpEvent } from '../support/events.js';
import { assertPrototypeClean, callerClaims, hostileBody, plausibleCallerClaims, RUNS } from '../support/hostile.js';
import { pkcs8Pem, rsaKeyPair, verifyWithJsonwebtoken } from '../support/keys.js';
import { capturingLogger } from '../support/logs.js';

const ISSUER = 'https://idp.hostile.test';
const AUDIENCE = 'qtv-hostile-app';
const IDP_KID = 'idp-1';
const QLIK_ISSUER = 'https://qtv.hostile.test';
const QLIK_KID = 'qtv-hostile';

// The caller identity provider (the test holds its private key) and an attacker's key.
const idp = generateKeyPairSync('rsa', { modulusLength: 2048 });
const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
const idpSpkiPem = idp.publicKey.export({ format: 'pem', type: 'spki' }).toString();
const idpPkcs1Pem = idp.publicKey.export({ format: 'pem', type: 'pkcs1' }).toString();
// The Qlik signing key of the service.
const qlik = rsaKeyPair(2048);
const qlikPublicPem = qlik.publicKey.export({ format: 'pem', type: 'spki' }).toString();

let server: Server;
let baseUrl: string;
let runtime: Runtime;
let idpJwk: JWK;
const log = capturingLogger('DEBUG');
const seenTokens: string[] = [];

beforeAll(async () => {
  idpJwk = { ...(await exportJWK(idp.publicKey)), kid: IDP_KID, alg: 'RS256', use: 'sig' };
  const key = await signingKeyFromSecret(pkcs8Pem(qlik.privateKey), { fallbackKid: QLIK_KID });
  const config = parseConfig({
    qlik: { issuer: QLIK_ISSUER, keyId: QLIK_KID },
    signing: { backend: 'file', privateKeyPath: 'unused' },
    callerIdp: { issuer: ISSUER, audience: [AUDIENCE] },
  });
  runtime = createRuntime(config, { logger: log.logger, signers: { current: async () => key } });
  const localRoutes = await Promise.all(
    routes.map(async (route) => ({ route, handler: (await route.load()).createHandler(runtime) as LocalHandler })),
  );
  server = createServer(
    createLocalApiGateway({
      routes: localRoutes,
      authorizer: { issuer: ISSUER, audience: [AUDIENCE], keys: createLocalJWKSet({ keys: [idpJwk] }) },
      allowedOrigins: [],
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  // Neither a caller token nor an issued token reached any log line; nothing polluted Object.prototype.
  const text = log.text();
  for (const token of seenTokens) expect(text).not.toContain(token.split('.')[2] || token);
  assertPrototypeClean();
});

/**
 * One POST over node:http on a fresh connection (the gateway drops the socket after a 413, so a pooled
 * keep-alive socket could be reset under the next request).
 */
function post(
  headers: Record<string, string>,
  body?: string | Uint8Array,
): Promise<{ status: number; contentType: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${baseUrl}/qlik/jwt`, { method: 'POST', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers['content-type'],
          text: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

const b64 = (value: string | object) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A JWS over exactly these header and payload texts (so duplicate keys survive), RS256 with `key`. */
function rawJws(headerText: string, payloadText: string, key: KeyObject | undefined): string {
  const input = `${b64(headerText)}.${b64(payloadText)}`;
  return `${input}.${key ? cryptoSign('sha256', Buffer.from(input), key).toString('base64url') : ''}`;
}

function hs256(headerText: string, payloadText: string, secret: string | Buffer): string {
  const input = `${b64(headerText)}.${b64(payloadText)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const goodClaims = () => ({
  iss: ISSUER,
  aud: AUDIENCE,
  sub: 'alice',
  name: 'Alice Example',
  email: 'alice@example.com',
  email_verified: true,
  groups: ['Sales', 'Sales EMEA'],
  iat: nowSeconds(),
  exp: nowSeconds() + 600,
});
const goodHeader = { alg: 'RS256', kid: IDP_KID, typ: 'JWT' };
const signed = (payload: object, header: object = goodHeader, key: KeyObject = idp.privateKey) =>
  rawJws(JSON.stringify(header), JSON.stringify(payload), key);

/**
 * The identity the service must assert for a verified token: the mapping of the claims as the
 * authorizer verified, read with their JSON types from the same token.
 */
function expectedIdentity(token: string, payload: Record<string, unknown>) {
  try {
    const verified = callerClaimsFrom(httpEvent({ claims: payload, headers: { authorization: `Bearer ${token}` } }));
    return mapCallerIdentity(verified, runtime.identity);
  } catch (error) {
    if (error instanceof IdentityNotMappableError) return undefined;
    throw error;
  }
}

/** Sends `token` (and `body`), and checks the one rule for every answer: 200 with the right identity, or 4xx. */
async function vendAs(token: string, body?: string | Uint8Array, contentType = 'application/json') {
  seenTokens.push(token);
  const response = await post(
    { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': contentType } : {}) },
    body,
  );
  expect(response.status === 200 || (response.status >= 400 && response.status < 500)).toBe(true);
  if (response.status === 200) {
    const issued = (JSON.parse(response.text) as { token: string }).token;
    seenTokens.push(issued);
    const { header, payload } = verifyWithJsonwebtoken(issued, qlikPublicPem);
    expect(qlikRejections(checkQlikToken(header, payload, { issuer: QLIK_ISSUER, keyId: QLIK_KID }))).toEqual([]);
    return { ...response, issued: payload };
  }
  expect(response.contentType).toBe('application/problem+json');
  return { ...response, issued: undefined };
}

describe('Local API Gateway + POST /qlik/jwt: hostile caller tokens', () => {
  it('issues a token for a well-formed caller token (the baseline the refusals are measured against)', async () => {
    const claims = goodClaims();
    const token = signed(claims);
    const response = await vendAs(token);
    expect(response.status).toBe(200);
    expect(response.issued).toMatchObject({
      sub: 'alice',
      email: 'alice@example.com',
      groups: ['Sales', 'Sales EMEA'],
    });
  });

  const cases: Array<[string, () => string | Promise<string>]> = [
    [
      'alg none (unsigned)',
      () => new UnsecuredJWT(goodClaims()).setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('1h').encode(),
    ],
    [
      'alg "None" with the kid of the real key',
      () => rawJws('{"alg":"None","kid":"idp-1"}', JSON.stringify(goodClaims()), undefined),
    ],
    ['alg "nOnE" with a signature', () => `${rawJws('{"alg":"nOnE"}', JSON.stringify(goodClaims()), undefined)}AAAA`],
    [
      'HS256 keyed with the identity provider’s public key PEM (SPKI)',
      () => hs256('{"alg":"HS256","kid":"idp-1","typ":"JWT"}', JSON.stringify(goodClaims()), idpSpkiPem),
    ],
    [
      'HS256 keyed with the identity provider’s public key PEM (PKCS#1)',
      () => hs256('{"alg":"HS256","kid":"idp-1"}', JSON.stringify(goodClaims()), idpPkcs1Pem),
    ],
    [
      'HS256 keyed with the identity provider’s JWK text',
      () => hs256('{"alg":"HS256","kid":"idp-1"}', JSON.stringify(goodClaims()), JSON.stringify(idpJwk)),
    ],
    ['a wrong issuer, correctly signed', () => signed({ ...goodClaims(), iss: 'https://evil.example' })],
    ['the issuer with a trailing slash', () => signed({ ...goodClaims(), iss: `${ISSUER}/` })],
    ['a wrong audience, correctly signed', () => signed({ ...goodClaims(), aud: 'another-app' })],
    ['an expired token', () => signed({ ...goodClaims(), iat: nowSeconds() - 7200, exp: nowSeconds() - 600 })],
    ['a far-future nbf', () => signed({ ...goodClaims(), nbf: nowSeconds() + 86_400 * 365 })],
    [
      'no exp',
      () => {
        const { exp: _exp, ...claims } = goodClaims();
        return signed(claims);
      },
    ],
    ['exp as a string', () => signed({ ...goodClaims(), exp: String(nowSeconds() + 600) })],
    ['crit naming an unknown header', () => signed(goodClaims(), { ...goodHeader, crit: ['x-evil'], 'x-evil': 1 })],
    ['crit b64:false (unencoded payload)', () => signed(goodClaims(), { ...goodHeader, crit: ['b64'], b64: false })],
    [
      'jku pointing at the attacker’s key set',
      () =>
        signed(goodClaims(), { alg: 'RS256', kid: 'evil', jku: 'https://evil.example/jwks.json' }, attacker.privateKey),
    ],
    [
      'x5u pointing at the attacker’s certificate',
      () =>
        signed(goodClaims(), { alg: 'RS256', kid: 'evil', x5u: 'https://evil.example/cert.pem' }, attacker.privateKey),
    ],
    [
      'the attacker’s public key embedded as jwk',
      async () => signed(goodClaims(), { alg: 'RS256', jwk: await exportJWK(attacker.publicKey) }, attacker.privateKey),
    ],
    [
      'kid path traversal, attacker-signed',
      () => signed(goodClaims(), { alg: 'RS256', kid: '../../../../etc/passwd' }, attacker.privateKey),
    ],
    [
      'kid path traversal, signed by the real key',
      () => signed(goodClaims(), { alg: 'RS256', kid: '../../../../dev/null' }),
    ],
    ['kid of the real key, attacker-signed', () => signed(goodClaims(), goodHeader, attacker.privateKey)],
    ['a 4 KiB kid with NUL bytes', () => signed(goodClaims(), { alg: 'RS256', kid: `\u0000${'k'.repeat(4096)}` })],
    [
      'duplicate alg header keys, last one none, signed by the real key',
      () => rawJws('{"alg":"RS256","kid":"idp-1","alg":"none"}', JSON.stringify(goodClaims()), idp.privateKey),
    ],
    [
      'duplicate alg header keys, last one RS256, attacker-signed',
      () => rawJws('{"alg":"none","kid":"idp-1","alg":"RS256"}', JSON.stringify(goodClaims()), attacker.privateKey),
    ],
    ['a header that is not an object', () => rawJws('["RS256"]', JSON.stringify(goodClaims()), idp.privateKey)],
    ['a payload that is not an object', () => rawJws(JSON.stringify(goodHeader), '[1,2]', idp.privateKey)],
    ['the signature stripped', () => `${signed(goodClaims()).split('.').slice(0, 2).join('.')}.`],
    [
      'another user’s payload under a valid signature',
      () => {
        const [h, , s] = signed(goodClaims()).split('.');
        return `${h}.${b64({ ...goodClaims(), sub: 'admin', groups: ['Admins'] })}.${s}`;
      },
    ],
    ['five segments (JWE-shaped)', () => `${signed(goodClaims())}.AAAA.BBBB`],
    [
      'base64 with padding and +/ characters',
      () => signed(goodClaims()).replaceAll('-', '+').replaceAll('_', '/').concat('=='),
    ],
  ];

  it.each(cases)('refuses %s with 401 problem+json', async (_case, make) => {
    const response = await vendAs(await make());
    expect(response.status).toBe(401);
    expect((JSON.parse(response.text) as { code: string }).code).toBe('UNAUTHENTICATED');
  });

  it.each([
    ['no sub', { sub: undefined }],
    ['an unverified email', { email_verified: false }],
    ['email_verified as the string "false"', { email_verified: 'false' }],
    ['no email at all', { email: undefined }],
    ['an email that is not an address', { email: 'alice' }],
  ])('refuses a correctly signed token with %s with 403 IDENTITY_NOT_MAPPABLE', async (_case, patch) => {
    const claims: Record<string, unknown> = { ...goodClaims(), ...patch };
    for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
    const response = await vendAs(signed(claims));
    expect(response.status).toBe(403);
    expect((JSON.parse(response.text) as { code: string }).code).toBe('IDENTITY_NOT_MAPPABLE');
  });

  it('refuses a correctly signed token whose identity sits under "__proto__" (no sub of its own) with 403', async () => {
    const { sub: _sub, ...claims } = goodClaims();
    // Written as text so "__proto__" is an own key of the payload, as a hostile profile field could make it.
    const text = JSON.stringify(claims).replace(/}$/, ',"__proto__":{"sub":"admin","groups":["Admins"]}}');
    const response = await vendAs(rawJws(JSON.stringify(goodHeader), text, idp.privateKey));
    expect(response.status).toBe(403);
    expect((JSON.parse(response.text) as { code: string }).code).toBe('IDENTITY_NOT_MAPPABLE');
  });

  it('refuses a caller token with 100 KB of groups at the HTTP layer (431), before any handler runs', async () => {
    const groups = Array.from({ length: 10_000 }, (_, i) => `group-${i}`);
    const response = await post({ authorization: `Bearer ${signed({ ...goodClaims(), groups })}` });
    expect(response.status).toBe(431);
  });

  it('caps the groups of a caller token that fits the header limit (1,000 groups) at identity.groups.max', async () => {
    const groups = Array.from({ length: 1000 }, (_, i) => `g${i}`);
    const claims = { ...goodClaims(), groups };
    const token = signed(claims);
    const response = await vendAs(token);
    expect(response.status).toBe(200);
    expect(response.issued?.groups).toEqual(groups.slice(0, runtime.config.identity.groups.max));
    expect(response.issued?.sub).toBe(expectedIdentity(token, claims)?.sub);
  });

  it.each([
    ['lower-case bearer', (t: string) => `bearer ${t}`, 200],
    ['two spaces after Bearer', (t: string) => `Bearer  ${t}`, 200],
    ['Basic instead of Bearer', (t: string) => `Basic ${t}`, 401],
    ['a second word after the token', (t: string) => `Bearer ${t} ${t}`, 401],
    ['two tokens separated by a comma', (t: string) => `Bearer ${t},${t}`, 401],
    ['only the word Bearer', () => 'Bearer', 401],
  ])('answers an Authorization header with %s with %i', async (_case, header, status) => {
    const token = signed(goodClaims());
    seenTokens.push(token);
    const response = await post({ authorization: header(token) });
    expect(response.status).toBe(status);
  });

  it('refuses random strings and random three-part tokens as bearer tokens with 401, never 5xx', async () => {
    const segment = fc.string({ unit: fc.constantFrom(...'ABCxyz019-_'), maxLength: 60 });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 200 }).filter((s) => /^[\x21-\x7e]+$/.test(s)),
          fc.tuple(segment, segment, segment).map((parts) => parts.join('.')),
          fc
            .tuple(fc.jsonValue(), fc.jsonValue(), segment)
            .map(([h, p, s]) => `${b64(JSON.stringify(h) ?? 'null')}.${b64(JSON.stringify(p) ?? 'null')}.${s}`),
        ),
        async (token) => {
          const response = await post({ authorization: `Bearer ${token}` });
          expect(response.status).toBe(401);
        },
      ),
      { numRuns: RUNS.http },
    );
  });

  it('answers correctly signed tokens with claims of any shape with 200 or 4xx, and any token issued is for the mapping of those claims', async () => {
    let issued = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(callerClaims, plausibleCallerClaims), async (extra) => {
        const claims = { iss: ISSUER, aud: AUDIENCE, iat: nowSeconds(), exp: nowSeconds() + 600, ...extra };
        const token = signed(claims);
        const response = await vendAs(token);
        const expected = expectedIdentity(token, claims);
        if (response.status !== 200) {
          expect(expected).toBeUndefined();
          return;
        }
        issued++;
        expect({
          sub: response.issued?.sub,
          name: response.issued?.name,
          email: response.issued?.email,
          groups: response.issued?.groups ?? [],
        }).toEqual({ sub: expected?.sub, name: expected?.name, email: expected?.email, groups: expected?.groups });
      }),
      { numRuns: RUNS.http },
    );
    expect(issued).toBeGreaterThan(0);
  });
});

describe('Local API Gateway + POST /qlik/jwt: hostile bodies from an authenticated caller', () => {
  it('answers any body with 200 or 4xx, and a token issued is always the caller’s own', async () => {
    const token = signed(goodClaims());
    await fc.assert(
      fc.asyncProperty(hostileBody, async ({ body, contentType }) => {
        const response = await vendAs(token, body, contentType ?? 'application/octet-stream');
        if (response.status === 200)
          expect(response.issued).toMatchObject({ sub: 'alice', name: 'Alice Example', email: 'alice@example.com' });
      }),
      { numRuns: RUNS.http },
    );
  });

  it('refuses a 2 MiB body at the gateway with 413 before the handler reads it', async () => {
    const response = await post(
      { authorization: `Bearer ${signed(goodClaims())}`, 'content-type': 'application/json' },
      `{"x":"${'a'.repeat(2 * 1024 * 1024)}"}`,
    );
    expect(response.status).toBe(413);
  });

  it('gives the caller its own identity with an empty object body, and refuses the same caller’s smuggling body with 400', async () => {
    const token = signed(goodClaims());
    const plain = await vendAs(token, '{}');
    const smuggled = await vendAs(token, '{"sub":"admin","__proto__":{"sub":"admin"}}');
    expect(plain.status).toBe(200);
    expect(smuggled.status).toBe(400);
    const expected = expectedIdentity(token, goodClaims());
    expect(plain.issued).toMatchObject({
      sub: expected?.sub,
      name: expected?.name,
      email: expected?.email,
      groups: expected?.groups,
    });
  });
});
