import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkQlikToken, qlikRejections } from '../../functions/qlik/claims.js';
import { DEV_AUDIENCE } from '../../scripts/dev/dev-identity.js';
import { type DevServer, describeDevServer, startDevServer } from '../../scripts/dev-server.js';
import { verifyWithJsonwebtoken } from '../support/keys.js';

let dev: DevServer;
let localDir: string;

beforeAll(async () => {
  localDir = mkdtempSync(join(tmpdir(), 'qtv-dev-'));
  dev = await startDevServer({ port: 0, localDir, logLevel: 'SILENT' });
});
afterAll(async () => dev?.close());

async function callerToken(
  body: object = { sub: 'alice', name: 'Alice Example', email: 'alice@example.com', groups: ['Sales', 'Sales EMEA'] },
) {
  const response = await fetch(`${dev.url}/dev/identity/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { id_token: string }).id_token;
}

const vend = (token: string | undefined, body?: string, headers: Record<string, string> = {}) =>
  fetch(`${dev.url}/qlik/jwt`, {
    method: 'POST',
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(body !== undefined ? { body } : {}),
  });

describe('Dev server (over real HTTP)', () => {
  it('generates a dev key and certificate on first run, the private key readable only by its owner', async () => {
    const { statSync } = await import('node:fs');
    expect(statSync(join(localDir, 'dev-signing-key.pem')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(localDir, 'dev-signing-cert.pem'), 'utf8')).toMatch(/BEGIN CERTIFICATE/);
  });

  it('serves the printed curl pair: a caller token, then a Qlik JWT that passes every rule and verifies against the printed certificate', async () => {
    // Prepare
    const banner = await describeDevServer(dev);
    const certificate = banner
      .match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)?.[0]
      .replace(/^ +/gm, '');
    expect(certificate).toBeDefined();
    expect(banner).toContain(`${dev.url}/dev/identity/token`);
    // Act
    const response = await vend(await callerToken());
    const body = (await response.json()) as { token: string; keyId: string; expiresIn: number };
    // Assess
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const { header, payload } = verifyWithJsonwebtoken(body.token, certificate!);
    expect(payload).toMatchObject({
      sub: 'alice',
      name: 'Alice Example',
      email: 'alice@example.com',
      email_verified: true,
      groups: ['Sales', 'Sales EMEA'],
    });
    const issuer = banner.match(/Issuer: +(\S+)/)?.[1];
    const keyId = banner.match(/Key ID: +(\S+)/)?.[1];
    expect(qlikRejections(checkQlikToken(header, payload, { issuer, keyId, nowSeconds: Date.now() / 1000 }))).toEqual(
      [],
    );
  });

  it('serves the same certificate at GET /qlik/idp-config', async () => {
    const response = await fetch(`${dev.url}/qlik/idp-config`);
    const body = (await response.json()) as { certificate: string; certificateSource: string };
    expect(response.status).toBe(200);
    expect(body.certificateSource).toBe('stored');
    expect(body.certificate).toBe(readFileSync(join(localDir, 'dev-signing-cert.pem'), 'utf8'));
  });

  it('publishes OIDC discovery and a JWKS for the dev identity provider', async () => {
    const discovery = (await (await fetch(`${dev.url}/dev/identity/.well-known/openid-configuration`)).json()) as {
      issuer: string;
      jwks_uri: string;
    };
    expect(discovery.issuer).toBe(`${dev.url}/dev/identity`);
    const jwks = (await (await fetch(discovery.jwks_uri)).json()) as { keys: Array<{ kty: string; d?: string }> };
    expect(jwks.keys[0]?.kty).toBe('RSA');
    expect(jwks.keys[0]?.d).toBeUndefined();
  });

  const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const forged = (issuer: string, audience: string, expSeconds: number) =>
    new SignJWT({ email: 'mallory@example.com', email_verified: true })
      .setProtectedHeader({ alg: 'RS256', kid: 'x' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject('mallory')
      .setIssuedAt()
      .setExpirationTime(expSeconds)
      .sign(stranger);

  it.each([
    ['no token', async () => undefined],
    ['a token that is not a JWT', async () => 'garbage'],
    [
      'an unsigned token (alg none)',
      async () =>
        new UnsecuredJWT({ sub: 'mallory', email: 'm@example.com', email_verified: true })
          .setIssuer(`${dev.url}/dev/identity`)
          .setAudience(DEV_AUDIENCE)
          .setExpirationTime('1h')
          .encode(),
    ],
    [
      'a token signed by another key',
      async () => forged(`${dev.url}/dev/identity`, DEV_AUDIENCE, Math.floor(Date.now() / 1000) + 600),
    ],
    [
      'a tampered token',
      async () => {
        const [h, , s] = (await callerToken()).split('.');
        return `${h}.${Buffer.from(JSON.stringify({ sub: 'admin' })).toString('base64url')}.${s}`;
      },
    ],
  ])('refuses %s with 401 problem+json', async (_case, token) => {
    const response = await vend(await token());
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(((await response.json()) as { code: string }).code).toBe('UNAUTHENTICATED');
  });

  it.each([
    ['malformed JSON', '{', 400],
    ['an unknown field', '{"sub":"admin"}', 400],
    ['an out-of-range ttlSeconds', '{"ttlSeconds":99999}', 400],
    ['a body over 8 KiB', JSON.stringify({ pad: 'x'.repeat(9000) }), 413],
  ])('refuses %s from an authenticated caller with %i', async (_case, body, status) => {
    const response = await vend(await callerToken(), body);
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
  });

  it('answers an unknown route with 404 and a wrong method with 405, as problem+json', async () => {
    expect((await fetch(`${dev.url}/nope`)).status).toBe(404);
    const wrong = await fetch(`${dev.url}/qlik/jwt`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  it('answers CORS preflights only for allowed origins', async () => {
    const allowed = await fetch(`${dev.url}/qlik/jwt`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' },
    });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    const denied = await fetch(`${dev.url}/qlik/jwt`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses a dev token request without a sub', async () => {
    const response = await fetch(`${dev.url}/dev/identity/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(response.status).toBe(400);
  });
});
