import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createHandler } from '../../../functions/idp-config/handler.js';
import { parseConfig } from '../../../functions/runtime/config.js';
import { createRuntime } from '../../../functions/runtime/wiring.js';
import { signCompactJws } from '../../../functions/signing/signer.js';
import { signingKeyFromSecret } from '../../../functions/signing/signing-key.js';
import { httpEvent, lambdaContext } from '../../support/events.js';
import { pkcs8Pem, rsaKeyPair, verifyWithJsonwebtoken } from '../../support/keys.js';
import { capturingLogger } from '../../support/logs.js';

describe('Handler: GET /qlik/idp-config', () => {
  it('describes the live key for Qlik’s console and API, with a certificate that verifies its tokens', async () => {
    // Prepare
    const key = await signingKeyFromSecret(pkcs8Pem(rsaKeyPair(2048).privateKey), { fallbackKid: 'qtv-1' });
    const config = parseConfig({
      qlik: { issuer: 'https://qtv.example' },
      signing: { backend: 'file', privateKeyPath: 'x' },
    });
    const handler = createHandler(
      createRuntime(config, { logger: capturingLogger().logger, signers: { current: async () => key } }),
    );
    // Act
    const response = await handler(httpEvent({ method: 'GET', path: '/qlik/idp-config' }), lambdaContext());
    const body = JSON.parse(response.body ?? '{}');
    // Assess
    expect(response.statusCode).toBe(200);
    expect(body).toMatchObject({
      issuer: 'https://qtv.example',
      keyId: 'qtv-1',
      algorithm: 'RS256',
      certificateSource: 'generated',
    });
    expect(body.publicKey).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(new X509Certificate(body.certificate).publicKey.export({ format: 'pem', type: 'spki' })).toBe(
      body.publicKey,
    );
    expect(body.identityProviderRequest).toMatchObject({
      protocol: 'jwtAuth',
      provider: 'external',
      interactive: false,
      options: {
        jwtLoginEnabled: true,
        issuer: 'https://qtv.example',
        staticKeys: [{ kid: 'qtv-1', pem: body.certificate.trim().split(/\s+/).join(' ') }],
      },
    });
    // Qlik's automation example: "pem must be on a single line".
    expect(body.identityProviderRequest.options.staticKeys[0].pem).not.toMatch(/[\r\n]/);
    const token = await signCompactJws({ sub: 'a' }, key);
    expect(verifyWithJsonwebtoken(token, body.certificate).payload).toEqual({ sub: 'a' });
    expect(response.body).not.toMatch(/PRIVATE KEY/);
  });

  it('makes the certificate once per key, not per request', async () => {
    const key = await signingKeyFromSecret(pkcs8Pem(rsaKeyPair(2048).privateKey));
    const config = parseConfig({ qlik: { issuer: 'i' }, signing: { backend: 'file', privateKeyPath: 'x' } });
    const handler = createHandler(
      createRuntime(config, { logger: capturingLogger().logger, signers: { current: async () => key } }),
    );
    const first = JSON.parse((await handler(httpEvent({ method: 'GET' }), lambdaContext())).body ?? '{}');
    const second = JSON.parse((await handler(httpEvent({ method: 'GET' }), lambdaContext())).body ?? '{}');
    expect(second.certificate).toBe(first.certificate);
  });
});
