import { describe, expect, it } from 'vitest';
import { createHandler } from '../../../functions/qlik-jwt/handler.js';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { parseConfig } from '../../../functions/runtime/config.js';
import { createRuntime } from '../../../functions/runtime/wiring.js';
import { signingKeyFromSecret } from '../../../functions/signing/signing-key.js';
import { lambdaContext } from '../../support/events.js';
import { decodeJwt, verifyWithJsonwebtoken } from '../../support/keys.js';
import { capturingLogger } from '../../support/logs.js';
import { apiGatewayEvent, isolationFixture, TENANT_CLAIM } from '../../support/tenant-isolation.js';

// Now, because tokens are verified with jsonwebtoken against the real clock.
const NOW_MS = Math.floor(Date.now() / 1000) * 1000;
const fixture = isolationFixture();
const tenant = (id: string) => fixture.tenants.find((t) => t.id === id)!;

async function setup() {
  const config = parseConfig({
    qlik: { issuer: 'https://qtv.example/shared', keyId: 'shared' },
    signing: { backend: 'file', privateKeyPath: 'unused' },
    tenancy: { tenantClaim: TENANT_CLAIM, registry: { backend: 'dynamodb', tableName: 'unused' } },
  });
  const shared = await signingKeyFromSecret(fixture.sharedPrivateKeyPem, { fallbackKid: 'shared' });
  const log = capturingLogger('INFO');
  const runtime = createRuntime(config, {
    clock: new FixedClock(NOW_MS),
    logger: log.logger,
    signers: { current: async () => shared },
    tenancy: { store: fixture.store, secretStore: fixture.secrets },
  });
  const handler = createHandler(runtime);
  const invoke = async (event: ReturnType<typeof apiGatewayEvent>) => {
    const result = await handler(event, lambdaContext());
    return { ...result, json: JSON.parse(result.body ?? '{}') as Record<string, unknown> };
  };
  return { invoke, log };
}

const caller = (tenants: unknown, sub = 'alice') => ({
  iss: 'https://idp.example',
  sub,
  iat: NOW_MS / 1000 - 10,
  exp: NOW_MS / 1000 + 600,
  email: `${sub}@example.com`,
  email_verified: true,
  [TENANT_CLAIM]: tenants,
});

describe('Handler: POST /qlik/jwt in multi-tenant mode', () => {
  it('signs with the caller’s tenant’s own key and issuer, and writes one audit line without the token', async () => {
    // Prepare
    const { invoke, log } = await setup();
    // Act
    const response = await invoke(apiGatewayEvent(caller('globex')));
    // Assess
    expect(response.statusCode, response.body).toBe(200);
    const token = response.json.token as string;
    const { payload } = verifyWithJsonwebtoken(token, tenant('globex').publicKeyPem);
    expect(payload.iss).toBe('https://qtv.example/globex');
    expect(response.json.keyId).toBe('globex-kid');
    const audit = log.lines.map((l) => JSON.parse(l)).filter((l) => l.message === 'token issued');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      audit: {
        kind: 'qlik-jwt',
        tenant: 'globex',
        subject: 'alice',
        jti: payload.jti,
        callerIss: 'https://idp.example',
        callerSub: 'alice',
      },
    });
    expect(log.text()).not.toContain(token.split('.')[2]);
  });

  it('lets a caller with several tenants pick one in the body, and refuses a pick outside its claim', async () => {
    const { invoke } = await setup();
    const picked = await invoke(apiGatewayEvent(caller(['acme', 'initech']), { body: { tenant: 'initech' } }));
    expect(picked.statusCode, picked.body).toBe(200);
    expect(decodeJwt(picked.json.token as string).payload.iss).toBe('https://qtv.example/initech');
    const ambiguous = await invoke(apiGatewayEvent(caller(['acme', 'initech'])));
    expect(ambiguous).toMatchObject({ statusCode: 403, json: { code: 'TENANT_AMBIGUOUS' } });
    const outside = await invoke(apiGatewayEvent(caller(['acme', 'initech']), { body: { tenant: 'globex' } }));
    expect(outside).toMatchObject({ statusCode: 403, json: { code: 'TENANT_NOT_ALLOWED' } });
    expect(outside.headers?.['content-type']).toBe('application/problem+json');
  });

  it('never reads a tenant from the query string or headers', async () => {
    const { invoke } = await setup();
    const response = await invoke(
      apiGatewayEvent(caller('acme'), {
        query: { tenant: 'globex' },
        headers: { 'x-tenant': 'globex', tenant: 'globex', 'x-qtv-tenant': 'globex' },
      }),
    );
    expect(response.statusCode).toBe(200);
    expect(decodeJwt(response.json.token as string).payload.iss).toBe('https://qtv.example/acme');
  });

  it.each([
    ['no tenant claim', caller(undefined), 403, 'TENANT_CLAIM_MISSING'],
    ['an unknown tenant', caller('nobody'), 403, 'TENANT_UNKNOWN'],
    ['a suspended tenant', caller('stark'), 403, 'TENANT_SUSPENDED'],
    ['a look-alike of a tenant', caller('GLOBEX'), 403, 'TENANT_UNKNOWN'],
  ])('refuses a caller with %s (%i %s)', async (_, claims, status, code) => {
    const { invoke } = await setup();
    expect(await invoke(apiGatewayEvent(claims))).toMatchObject({ statusCode: status, json: { code } });
  });

  it('signs tenants on the shared key under their own issuer and key ID', async () => {
    const { invoke } = await setup();
    const response = await invoke(apiGatewayEvent(caller('hooli')));
    const { header, payload } = verifyWithJsonwebtoken(response.json.token as string, tenant('hooli').publicKeyPem);
    expect(header.kid).toBe('hooli-key-1');
    expect(payload.iss).toBe('https://qtv.example/hooli');
  });
});

describe('Handler: POST /qlik/jwt in single-tenant mode', () => {
  it('keeps refusing a body field "tenant" as unknown (400), as before', async () => {
    const config = parseConfig({
      qlik: { issuer: 'https://qtv.example' },
      signing: { backend: 'file', privateKeyPath: 'unused' },
    });
    const key = await signingKeyFromSecret(fixture.sharedPrivateKeyPem, { fallbackKid: 'k' });
    const handler = createHandler(
      createRuntime(config, {
        clock: new FixedClock(NOW_MS),
        logger: capturingLogger().logger,
        signers: { current: async () => key },
      }),
    );
    const result = await handler(apiGatewayEvent(caller('acme'), { body: { tenant: 'acme' } }), lambdaContext());
    expect(result.statusCode).toBe(400);
    expect(JSON.parse(result.body ?? '{}')).toMatchObject({ code: 'INVALID_REQUEST' });
  });

  it('writes the audit line with tenant "default"', async () => {
    const config = parseConfig({
      qlik: { issuer: 'https://qtv.example' },
      signing: { backend: 'file', privateKeyPath: 'unused' },
    });
    const key = await signingKeyFromSecret(fixture.sharedPrivateKeyPem, { fallbackKid: 'k' });
    const log = capturingLogger('INFO');
    const handler = createHandler(
      createRuntime(config, {
        clock: new FixedClock(NOW_MS),
        logger: log.logger,
        signers: { current: async () => key },
      }),
    );
    const result = await handler(apiGatewayEvent(caller(undefined)), lambdaContext());
    expect(result.statusCode).toBe(200);
    expect(log.lines.map((l) => JSON.parse(l)).find((l) => l.message === 'token issued')).toMatchObject({
      audit: { tenant: 'default', subject: 'alice' },
    });
  });
});
