import { createHash, verify, X509Certificate } from 'node:crypto';
import type { KeySpec, KMSClient } from '@aws-sdk/client-kms';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createHandler as createIdpConfigHandler } from '../../functions/idp-config/handler.js';
import { checkQlikToken } from '../../functions/qlik/claims.js';
import { createHandler as createJwtHandler } from '../../functions/qlik-jwt/handler.js';
import { FixedClock } from '../../functions/runtime/clock.js';
import { type ConfigInput, parseConfig } from '../../functions/runtime/config.js';
import { createRuntime } from '../../functions/runtime/wiring.js';
import { kmsCertificate, kmsPublicJwk, kmsPublicKeyPem } from '../../functions/signing/kms-certificate.js';
import { type KmsJwsAlgorithm, loadKmsSigningKey } from '../../functions/signing/kms-signer.js';
import { signCompactJws } from '../../functions/signing/signer.js';
import { motoKms } from '../support/aws.js';
import { httpEvent, lambdaContext } from '../support/events.js';
import { awsJsonError, type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { decodeJwt, verifyWithJsonwebtoken } from '../support/keys.js';
import { createKmsKey, kmsPublicKey } from '../support/kms.js';
import { capturingLogger } from '../support/logs.js';

const ISSUER = 'https://qtv.example.com';
const KEY_ID = 'qtv-kms-test';
const NOW_MS = Date.parse('2026-11-21T12:00:00Z');
const NOW_SECONDS = NOW_MS / 1000;
const CALLER = { sub: 'alice', name: 'Alice Example', email: 'alice@example.com', email_verified: 'true' };

// moto, reached directly: creates keys and reads public keys outside the code under test.
const direct = () => motoKms();

const proxies: FaultProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

/** A counting (and fault-injecting) proxy in front of moto, and a KMS client that goes through it. */
async function proxiedKms(): Promise<{ proxy: FaultProxy; kms: KMSClient }> {
  const proxy = await startFaultProxy(inject('motoEndpoint'));
  proxies.push(proxy);
  return { proxy, kms: motoKms(proxy.endpoint) };
}

function kmsRuntime(kms: KMSClient, keyId: string, logger = capturingLogger().logger) {
  const config: ConfigInput = {
    qlik: { issuer: ISSUER, keyId: KEY_ID },
    identity: { preset: 'generic' },
    // Small waits keep the fault tests quick; the budget logic is the same as the defaults'.
    signing: { backend: 'kms', keyId, retry: { maxAttempts: 3, baseDelayMs: 5, budgetMs: 500 } },
  };
  return createRuntime(parseConfig(config), { kms, clock: new FixedClock(NOW_MS), logger });
}

async function vend(runtime: ReturnType<typeof kmsRuntime>): Promise<APIGatewayProxyStructuredResultV2> {
  return createJwtHandler(runtime)(httpEvent({ claims: CALLER }), lambdaContext());
}

const body = (response: APIGatewayProxyStructuredResultV2) => JSON.parse(String(response.body));

describe('Function: KMS signing through POST /qlik/jwt', () => {
  it.each<KeySpec>(['RSA_2048', 'RSA_3072', 'RSA_4096'])(
    'mints Qlik-valid RS256 tokens with a %s key, one Sign per token, the key read once, verifiable against the KMS-made certificate',
    async (keySpec) => {
      // Prepare
      const keyId = await createKmsKey(direct(), keySpec);
      const publicKey = await kmsPublicKey(direct(), keyId);
      const { proxy, kms } = await proxiedKms();
      const { logger, text } = capturingLogger();
      const runtime = kmsRuntime(kms, keyId, logger);

      // Act
      const responses = [];
      for (let i = 0; i < 3; i++) responses.push(await vend(runtime));

      // Assess: every token passes every Qlik rule and verifies with jsonwebtoken against KMS's public key
      const tokens = responses.map((response) => {
        expect(response.statusCode).toBe(200);
        return body(response).token as string;
      });
      for (const token of tokens) {
        const { header, payload } = decodeJwt(token);
        const verdicts = checkQlikToken(header, payload, { issuer: ISSUER, keyId: KEY_ID, nowSeconds: NOW_SECONDS });
        expect(verdicts.filter((v) => !v.ok)).toEqual([]);
        expect(verifyWithJsonwebtoken(token, publicKey.pem, { clockTimestamp: NOW_SECONDS }).header).toMatchObject({
          alg: 'RS256',
          kid: KEY_ID,
        });
      }
      expect(proxy.count('Sign')).toBe(3);
      expect(proxy.count('GetPublicKey')).toBe(1);

      // Act: the IdP config shows a certificate that KMS signed
      const idpResponse = await createIdpConfigHandler(runtime)(
        httpEvent({ method: 'GET', path: '/qlik/idp-config' }),
        lambdaContext(),
      );
      const idp = body(idpResponse);

      // Assess
      expect(idpResponse.statusCode).toBe(200);
      expect(idp).toMatchObject({ keyId: KEY_ID, algorithm: 'RS256', certificateSource: 'generated', issuer: ISSUER });
      const certificate = new X509Certificate(idp.certificate);
      expect(certificate.publicKey.equals(publicKey.key)).toBe(true);
      expect(certificate.verify(publicKey.key)).toBe(true);
      for (const token of tokens) verifyWithJsonwebtoken(token, idp.certificate, { clockTimestamp: NOW_SECONDS });
      // One more Sign for the certificate, still no second GetPublicKey.
      expect(proxy.count('Sign')).toBe(4);
      expect(proxy.count('GetPublicKey')).toBe(1);
      for (const token of tokens) expect(text()).not.toContain(token);
    },
  );
});

describe('Function: loadKmsSigningKey for OAuth client assertions', () => {
  it.each<[KeySpec, KmsJwsAlgorithm, string]>([
    ['RSA_2048', 'RS512', 'sha512'],
    ['RSA_4096', 'RS256', 'sha256'],
    ['ECC_NIST_P384', 'ES384', 'sha384'],
  ])(
    'signs %s %s assertions that node:crypto and jsonwebtoken verify, with the certificate too',
    async (keySpec, alg, hash) => {
      // Prepare
      const keyId = await createKmsKey(direct(), keySpec);
      const publicKey = await kmsPublicKey(direct(), keyId);
      const { proxy, kms } = await proxiedKms();
      const key = await loadKmsSigningKey(kms, {
        keyId,
        algorithm: alg,
        purpose: 'client-assertion',
        kid: 'client-kid',
      });
      const claims = (i: number) => ({
        iss: 'client-id',
        sub: 'client-id',
        aud: 'https://tenant.example.com/oauth/token',
        jti: `assertion-${i}`,
        iat: NOW_SECONDS,
        exp: NOW_SECONDS + 300,
      });

      // Act
      const tokens: string[] = [];
      for (let i = 0; i < 8; i++) tokens.push(await signCompactJws(claims(i), key));
      const certificatePem = await key.createCertificate!({ commonName: 'client-assertion', validityDays: 30 });

      // Assess
      const certificate = new X509Certificate(certificatePem);
      expect(certificate.verify(publicKey.key)).toBe(true);
      for (const token of tokens) {
        const [h, p, s] = token.split('.') as [string, string, string];
        const signature = Buffer.from(s, 'base64url');
        if (alg === 'ES384') expect(signature).toHaveLength(96);
        const options = { key: publicKey.key, dsaEncoding: 'ieee-p1363' as const };
        expect(verify(hash, Buffer.from(`${h}.${p}`), options, signature)).toBe(true);
        expect(verify(hash, Buffer.from(`${h}.${p}`), { ...options, key: certificate.publicKey }, signature)).toBe(
          true,
        );
        expect(
          verifyWithJsonwebtoken(token, certificatePem, { algorithms: [alg], clockTimestamp: NOW_SECONDS }).header,
        ).toMatchObject({ alg, kid: 'client-kid', typ: 'JWT' });
      }
      expect(proxy.count('Sign')).toBe(tokens.length + 1);
      expect(proxy.count('GetPublicKey')).toBe(1);
    },
  );
});

describe('Function: kmsCertificate, kmsPublicKeyPem, kmsPublicJwk', () => {
  it('makes a certificate with the chosen subject and validity, signed by KMS for the key KMS publishes', async () => {
    // Prepare
    const keyId = await createKmsKey(direct(), 'RSA_2048');
    const publicKey = await kmsPublicKey(direct(), keyId);
    const notBefore = new Date('2026-11-01T00:00:00Z');

    // Act
    const pem = await kmsCertificate(direct(), keyId, { commonName: 'qtv-cli', validityDays: 30, notBefore });
    const publicPem = await kmsPublicKeyPem(direct(), keyId);
    const { jwk, thumbprint } = await kmsPublicJwk(direct(), keyId);

    // Assess
    const certificate = new X509Certificate(pem);
    expect(certificate.subject).toBe('CN=qtv-cli');
    expect(certificate.issuer).toBe('CN=qtv-cli');
    expect(new Date(certificate.validFrom).toISOString()).toBe(notBefore.toISOString());
    expect(new Date(certificate.validTo).getTime() - notBefore.getTime()).toBe(30 * 86_400_000);
    expect(certificate.verify(publicKey.key)).toBe(true);
    expect(publicPem).toBe(publicKey.pem);
    // RFC 7638 §3: SHA-256 over the required members in lexicographic order, no whitespace.
    const canonical = JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n });
    expect(thumbprint).toBe(createHash('sha256').update(canonical).digest('base64url'));
  });
});

describe('Function: KMS key refusals at start', () => {
  it.each<[string, () => Promise<string>, RegExp]>([
    ['an ECC key for Qlik JWTs', () => createKmsKey(direct(), 'ECC_NIST_P384'), /accepts RS256 only/],
    [
      'an ENCRYPT_DECRYPT key',
      () => createKmsKey(direct(), 'RSA_2048', 'ENCRYPT_DECRYPT'),
      /key usage ENCRYPT_DECRYPT/,
    ],
    ['a key that does not exist', async () => 'alias/qtv-missing-key', /NotFoundException/],
  ])(
    'refuses %s with 500 SIGNING_KEY_INVALID, logs the reason once, and names no key in the body',
    async (_name, makeKey, reason) => {
      // Prepare
      const keyId = await makeKey();
      const { proxy, kms } = await proxiedKms();
      const { logger, lines } = capturingLogger();
      const runtime = kmsRuntime(kms, keyId, logger);

      // Act
      const first = await vend(runtime);
      const second = await vend(runtime);

      // Assess
      for (const response of [first, second]) {
        expect(response.statusCode).toBe(500);
        expect(response.headers?.['content-type']).toBe('application/problem+json');
        expect(body(response).code).toBe('SIGNING_KEY_INVALID');
        expect(String(response.body)).not.toContain(keyId);
      }
      const refusals = lines.filter((line) => line.includes('KMS signing key refused'));
      expect(refusals).toHaveLength(1);
      expect(refusals[0]).toMatch(reason);
      expect(proxy.count('GetPublicKey')).toBe(1);
      expect(proxy.count('Sign')).toBe(0);
    },
  );
});

describe('Function: KMS faults', () => {
  it('retries throttled Sign calls and still answers 200 when KMS recovers within the budget', async () => {
    const keyId = await createKmsKey(direct(), 'RSA_2048');
    const { proxy, kms } = await proxiedKms();
    proxy.inject({
      operation: 'Sign',
      status: 400,
      body: awsJsonError('ThrottlingException', 'Rate exceeded'),
      times: 2,
    });
    const response = await vend(kmsRuntime(kms, keyId));
    expect(response.statusCode).toBe(200);
    verifyWithJsonwebtoken(body(response).token, (await kmsPublicKey(direct(), keyId)).pem, {
      clockTimestamp: NOW_SECONDS,
    });
    expect(proxy.count('Sign')).toBe(3);
  });

  it.each([
    ['throttling', 400, 'ThrottlingException', 'SIGNING_BACKEND_THROTTLED', '1'],
    ['a 500', 500, 'KMSInternalException', 'SIGNING_KEY_UNAVAILABLE', '2'],
    ['a 503', 503, 'ServiceUnavailable', 'SIGNING_KEY_UNAVAILABLE', '2'],
  ])(
    'answers lasting %s with 503 %s and Retry-After after the retry budget',
    async (_name, status, type, code, retryAfter) => {
      const keyId = await createKmsKey(direct(), 'RSA_2048');
      const { proxy, kms } = await proxiedKms();
      proxy.inject({ operation: 'Sign', status, body: awsJsonError(type) });
      const response = await vend(kmsRuntime(kms, keyId));
      expect(response.statusCode).toBe(503);
      expect(response.headers).toMatchObject({ 'content-type': 'application/problem+json', 'retry-after': retryAfter });
      expect(body(response)).toMatchObject({ code, status: 503 });
      expect(String(response.body)).not.toContain(keyId);
      expect(proxy.count('Sign')).toBe(3);
    },
  );

  it('recovers from a throttled GetPublicKey at start: the next request reads the key again', async () => {
    const keyId = await createKmsKey(direct(), 'RSA_2048');
    const { proxy, kms } = await proxiedKms();
    proxy.inject({ operation: 'GetPublicKey', status: 400, body: awsJsonError('ThrottlingException'), times: 3 });
    const runtime = kmsRuntime(kms, keyId);
    const first = await vend(runtime);
    const second = await vend(runtime);
    expect(first.statusCode).toBe(503);
    expect(body(first).code).toBe('SIGNING_BACKEND_THROTTLED');
    expect(second.statusCode).toBe(200);
    expect(proxy.count('GetPublicKey')).toBe(4);
  });

  it.each([
    ['Sign', 'DisabledException', 'SIGNING_KEY_DISABLED', /disabled/],
    ['Sign', 'KMSInvalidStateException', 'SIGNING_KEY_DISABLED', /pending deletion/],
    ['Sign', 'AccessDeniedException', 'SIGNING_KEY_ACCESS_DENIED', /kms:Sign/],
    ['GetPublicKey', 'AccessDeniedException', 'SIGNING_KEY_ACCESS_DENIED', /kms:GetPublicKey/],
    ['GetPublicKey', 'DisabledException', 'SIGNING_KEY_DISABLED', /enable it/],
  ])(
    'answers %s %s with 500 %s, no retry, the reason in the log and no key ID in the body',
    async (operation, type, code, reason) => {
      const keyId = await createKmsKey(direct(), 'RSA_2048');
      const { proxy, kms } = await proxiedKms();
      proxy.inject({ operation, status: 400, body: awsJsonError(type) });
      const { logger, text } = capturingLogger();
      const response = await vend(kmsRuntime(kms, keyId, logger));
      expect(response.statusCode).toBe(500);
      expect(body(response)).toMatchObject({ code, status: 500 });
      expect(String(response.body)).not.toContain(keyId);
      expect(proxy.count(operation)).toBe(1);
      expect(text()).toMatch(reason);
    },
  );
});
