/**
 * `POST /qlik/access-token` against the tenant emulator answering only in Qlik's documented error shape
 * (`{"errors":[…]}`, no RFC 6749 `error` member), with every plausible status for the impersonation grant's
 * undocumented "unknown user" answer (findings 1 and 3 of issue 13).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '../../functions/qlik-access-token/handler.js';
import { type ConfigInput, parseConfig } from '../../functions/runtime/config.js';
import { createRuntime } from '../../functions/runtime/wiring.js';
import { MemorySecretStore } from '../../functions/secrets/secret-source.js';
import { httpEvent, lambdaContext } from '../support/events.js';
import { capturingLogger } from '../support/logs.js';
import { startTenantEmulator, type TenantEmulator } from '../support/tenant-emulator/index.js';

const IMP_SECRET = `imp-${randomBytes(12).toString('hex')}`;
const ADMIN_SECRET = `adm-${randomBytes(12).toString('hex')}`;
const UNKNOWN_USER_STATUSES = [400, 401, 403, 404] as const;

let tenant: TenantEmulator;

beforeAll(async () => {
  tenant = await startTenantEmulator({ users: [{ subject: 'alice', name: 'Alice', email: 'alice@example.com' }] });
  tenant.addClient({ clientId: 'imp', secrets: [IMP_SECRET], impersonation: true });
  tenant.addClient({ clientId: 'admin', secrets: [ADMIN_SECRET], admin: true });
});
afterAll(async () => {
  await tenant?.close();
});

function vendor(impersonation: Record<string, unknown>) {
  const input: ConfigInput = {
    qlik: { issuer: 'https://qtv.test', tenantHost: tenant.tenantHost },
    signing: { backend: 'file', privateKeyPath: 'unused' },
    oauth: {
      tenantUrl: tenant.url,
      clientId: 'imp',
      clientSecretId: 'imp',
      redirectUris: ['https://qtv.test/oauth/callback'],
      appReturnUrls: ['https://app.example/'],
      upstream: { timeoutMs: 3000, retries: 0 },
      impersonation: { enabled: true, ...impersonation },
    },
  };
  const runtime = createRuntime(parseConfig(input), {
    logger: capturingLogger().logger,
    signers: { current: () => Promise.reject(new Error('unused')) },
    oauthSecretStore: new MemorySecretStore({ imp: IMP_SECRET, admin: ADMIN_SECRET }),
  });
  const handler = createHandler(runtime);
  return async (sub: string, headers: Record<string, string> = {}) => {
    const result = await handler(
      httpEvent({
        path: '/qlik/access-token',
        claims: { sub, name: `User ${sub}`, email: `${sub}@example.com`, email_verified: 'true' },
        headers,
      }),
      lambdaContext(),
    );
    return { status: result.statusCode, body: JSON.parse(result.body ?? '{}') as Record<string, unknown> };
  };
}

const ADMIN = { adminClientId: 'admin', adminClientSecretId: 'admin' };

async function usersMe(accessToken: string) {
  const response = await fetch(`${tenant.url}/api/v1/users/me`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('POST /qlik/access-token: JIT provisioning that does not depend on the error shape', () => {
  it.each(UNKNOWN_USER_STATUSES)(
    'gives a user Qlik does not know a 200 token when the impersonation grant refuses it with %i in Qlik’s shape',
    async (status) => {
      tenant.setOAuthBehaviour({ impersonationUnknownUserStatus: status });
      const vend = vendor({ provisionUsers: true, ...ADMIN });
      const subject = `jit-${status}-${randomBytes(3).toString('hex')}`;
      const result = await vend(subject);
      expect(result.status).toBe(200);
      expect(tenant.users.bySubject(subject)).toMatchObject({ name: `User ${subject}` });
      expect(await usersMe(String(result.body.accessToken))).toMatchObject({ status: 200, body: { subject } });
    },
  );

  it.each(UNKNOWN_USER_STATUSES)(
    'answers 403 IDENTITY_NOT_MAPPABLE (after a look-up) when provisioning is off and Qlik answers %i',
    async (status) => {
      tenant.setOAuthBehaviour({ impersonationUnknownUserStatus: status });
      const vend = vendor(ADMIN);
      const subject = `ghost-${randomBytes(3).toString('hex')}`;
      const result = await vend(subject);
      expect(result.status).toBe(403);
      expect(result.body).toMatchObject({ code: 'IDENTITY_NOT_MAPPABLE' });
      expect(tenant.users.bySubject(subject)).toBeUndefined();
    },
  );

  it('keeps Qlik’s refusal (no second user) when the user exists but is disabled (Qlik: 403)', async () => {
    const subject = `disabled-${randomBytes(3).toString('hex')}`;
    tenant.addUser({ subject, status: 'disabled' });
    const before = tenant.users.list().length;
    const result = await vendor({ provisionUsers: true, ...ADMIN })(subject);
    expect(result.status).toBe(403);
    expect(result.body).toMatchObject({ code: 'OAUTH_REJECTED' });
    expect(tenant.users.list()).toHaveLength(before);
  });
});

describe('POST /qlik/access-token: Cache-Control: no-cache after a revoked token', () => {
  it('never serves the revoked token on the no-cache retry, and replaces the cached entry', async () => {
    const vend = vendor({});
    const first = await vend('alice');
    expect(first.status).toBe(200);
    const revoked = String(first.body.accessToken);
    // Revoke it at Qlik (an admin or a logout elsewhere): Qlik's clients then get a 401 and ask again.
    const revoke = await fetch(`${tenant.url}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        token: revoked,
        token_type_hint: 'access_token',
        client_id: 'imp',
        client_secret: IMP_SECRET,
      }),
    });
    expect(revoke.status).toBe(200);
    expect((await usersMe(revoked)).status).toBe(401);
    // Without no-cache the per-user cache answers (what the retry got before the fix).
    expect((await vend('alice')).body.accessToken).toBe(revoked);
    // Act
    const retried = await vend('alice', { 'cache-control': 'no-cache' });
    // Assess
    expect(retried.status).toBe(200);
    expect(retried.body.accessToken).not.toBe(revoked);
    expect((await usersMe(String(retried.body.accessToken))).status).toBe(200);
    expect((await vend('alice')).body.accessToken).toBe(retried.body.accessToken);
  });

  it.each(['no-cache', 'max-age=0, no-cache', 'No-Cache'])('reads "%s" as no-cache', async (value) => {
    const vend = vendor({});
    const first = await vend('alice');
    const again = await vend('alice', { 'cache-control': value });
    expect(again.body.accessToken).not.toBe(first.body.accessToken);
  });
});
