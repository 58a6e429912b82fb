/**
 * `POST /qlik/access-token` in multi-tenant mode, through the real handler, against two emulated Qlik
 * tenants (each with its own users and its own machine-to-machine impersonation client): every caller gets
 * an impersonation token from its own tenant's client, which its own tenant accepts and the other refuses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/qlik-access-token/handler.js';
import { systemClock } from '../../functions/runtime/clock.js';
import { parseConfig } from '../../functions/runtime/config.js';
import { createRuntime } from '../../functions/runtime/wiring.js';
import { MemorySecretStore } from '../../functions/secrets/secret-source.js';
import { MemoryTenantStore } from '../../functions/tenancy/store.js';
import { lambdaContext } from '../support/events.js';
import { capturingLogger } from '../support/logs.js';
import { type MultiTenantEmulator, startMultiTenantEmulator } from '../support/multi-tenant-emulator.js';
import { apiGatewayEvent } from '../support/tenant-isolation.js';
import { tenantItem } from '../support/tenants.js';

const CLAIM = 'org_id';
let qlik: MultiTenantEmulator;
let handler: ReturnType<typeof createHandler>;
let log: ReturnType<typeof capturingLogger>;

beforeAll(async () => {
  qlik = await startMultiTenantEmulator({
    acme: { users: [{ subject: 'alice' }, { subject: 'shared-name' }] },
    globex: { users: [{ subject: 'bob' }, { subject: 'shared-name' }] },
  });
  const secrets = new MemorySecretStore();
  const items = [];
  for (const [id, emulator] of qlik.tenants) {
    emulator.addClient({ clientId: `${id}-m2m`, secrets: [`${id}-m2m-secret`], impersonation: true });
    secrets.set(`qtv/tenants/${id}/impersonation`, `${id}-m2m-secret`);
    secrets.set(`qtv/tenants/${id}/oauth-client`, `${id}-web-secret`);
    items.push(
      tenantItem(id, {
        qlik: { tenantHost: emulator.tenantHost, issuer: `https://qtv.example/${id}` },
        oauth: {
          tenantUrl: emulator.url,
          clientId: `${id}-web`,
          clientSecretId: `qtv/tenants/${id}/oauth-client`,
          redirectUris: [`http://127.0.0.1/${id}/oauth/callback`],
          mode: 'json',
          impersonation: { enabled: true, clientId: `${id}-m2m`, clientSecretId: `qtv/tenants/${id}/impersonation` },
        },
      }),
    );
  }
  items.push(tenantItem('initech'));
  log = capturingLogger('INFO');
  const config = parseConfig({
    qlik: { issuer: 'https://qtv.example/shared', keyId: 'shared' },
    signing: { backend: 'file', privateKeyPath: 'unused' },
    tenancy: { tenantClaim: CLAIM, registry: { backend: 'dynamodb', tableName: 'unused' } },
  });
  handler = createHandler(
    createRuntime(config, {
      logger: log.logger,
      signers: { current: () => Promise.reject(new Error('not used')) },
      tenancy: { store: new MemoryTenantStore(items), secretStore: secrets },
    }),
  );
});

afterAll(() => qlik.close());

const nowSeconds = () => Math.floor(systemClock.nowMs() / 1000);
const caller = (sub: string, tenants: unknown) => ({
  iss: 'https://idp.example',
  sub,
  iat: nowSeconds() - 5,
  exp: nowSeconds() + 600,
  email: `${sub}@example.com`,
  email_verified: true,
  [CLAIM]: tenants,
});

async function accessToken(sub: string, tenants: unknown, body?: unknown) {
  const result = await handler(
    apiGatewayEvent(caller(sub, tenants), { path: '/qlik/access-token', ...(body !== undefined ? { body } : {}) }),
    lambdaContext(),
  );
  return {
    status: result.statusCode,
    json: JSON.parse(result.body ?? '{}') as { accessToken?: string; code?: string },
  };
}

const me = async (id: string, token: string) => {
  const response = await fetch(`${qlik.tenant(id).url}/api/v1/users/me`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return {
    status: response.status,
    subject: response.ok ? ((await response.json()) as { subject: string }).subject : undefined,
  };
};

describe('Handler: POST /qlik/access-token in multi-tenant mode', () => {
  it('impersonates each caller with its own tenant’s client; the token works at its own tenant only', async () => {
    // Act
    const alice = await accessToken('alice', 'acme');
    const bob = await accessToken('bob', 'globex');
    // Assess
    expect(alice.status, JSON.stringify(alice.json)).toBe(200);
    expect(bob.status, JSON.stringify(bob.json)).toBe(200);
    expect(await me('acme', alice.json.accessToken!)).toEqual({ status: 200, subject: 'alice' });
    expect(await me('globex', bob.json.accessToken!)).toEqual({ status: 200, subject: 'bob' });
    expect((await me('globex', alice.json.accessToken!)).status).toBe(401);
    expect((await me('acme', bob.json.accessToken!)).status).toBe(401);
    expect(qlik.tenant('acme').requests.some((r) => r.path === '/oauth/token')).toBe(true);
  });

  it('keeps the token caches apart: the same subject in two tenants gets two different tokens', async () => {
    const inAcme = await accessToken('shared-name', 'acme');
    const inGlobex = await accessToken('shared-name', 'globex');
    expect(inAcme.json.accessToken).not.toBe(inGlobex.json.accessToken);
    expect((await me('acme', inAcme.json.accessToken!)).subject).toBe('shared-name');
    expect((await me('globex', inAcme.json.accessToken!)).status).toBe(401);
  });

  it('refuses a body choice outside the claim, and a tenant without impersonation', async () => {
    expect(await accessToken('alice', ['acme'], { tenant: 'globex' })).toMatchObject({
      status: 403,
      json: { code: 'TENANT_NOT_ALLOWED' },
    });
    expect(await accessToken('carol', 'initech')).toMatchObject({ status: 404, json: { code: 'NOT_CONFIGURED' } });
  });

  it('writes one audit line per answered token, with the tenant and the Qlik subject, never the token', async () => {
    const before = log.lines.length;
    const alice = await accessToken('alice', 'acme', { tenant: 'acme' });
    const lines = log.lines.slice(before).map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.message === 'token issued')).toMatchObject([
      { audit: { kind: 'impersonation', tenant: 'acme', subject: 'alice', callerSub: 'alice' } },
    ]);
    expect(log.text()).not.toContain(alice.json.accessToken!);
  });
});
