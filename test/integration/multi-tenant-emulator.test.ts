import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rsaKeyPair } from '../support/keys.js';
import { type MultiTenantEmulator, startMultiTenantEmulator } from '../support/multi-tenant-emulator.js';

let qlik: MultiTenantEmulator;

beforeAll(async () => {
  qlik = await startMultiTenantEmulator({
    acme: { adminApiKey: 'acme-admin', users: [{ subject: 'alice' }] },
    globex: { adminApiKey: 'globex-admin', users: [{ subject: 'bob' }] },
  });
});
afterAll(() => qlik.close());

const listUsers = (url: string, key: string) =>
  fetch(`${url}/api/v1/users?limit=100`, { headers: { authorization: `Bearer ${key}` } });

describe('Support: multi-tenant emulator', () => {
  it('serves several tenants at once, each on its own host with its own tenant ID', () => {
    const acme = qlik.tenant('acme');
    const globex = qlik.tenant('globex');
    expect(acme.url).not.toBe(globex.url);
    expect(acme.tenantId).not.toBe(globex.tenantId);
  });

  it('keeps users and admin credentials apart: one tenant’s admin key is refused by another', async () => {
    const acme = await listUsers(qlik.tenant('acme').url, 'acme-admin');
    expect(acme.status).toBe(200);
    const subjects = ((await acme.json()) as { data: { subject: string }[] }).data.map((u) => u.subject);
    expect(subjects).toContain('alice');
    expect(subjects).not.toContain('bob');
    expect((await listUsers(qlik.tenant('globex').url, 'acme-admin')).status).toBe(401);
  });

  it('adds a tenant while running (onboarding) without touching the others', async () => {
    const before = qlik.tenant('acme').identityProviders.list().length;
    const initech = await qlik.addTenant('initech', { adminApiKey: 'initech-admin' });
    const pem = rsaKeyPair().publicKey.export({ format: 'pem', type: 'spki' }).toString();
    initech.addJwtIdentityProvider({ issuer: 'https://qtv.example/initech', kid: 'k', pem });
    expect(initech.identityProviders.list()).toHaveLength(1);
    expect(qlik.tenants.size).toBe(3);
    expect(qlik.tenant('acme').identityProviders.list()).toHaveLength(before);
    await expect(qlik.addTenant('initech')).rejects.toThrow(/already emulated/);
  });
});
