/**
 * `npm start -- --tenants`: the dev server in multi-tenant mode over its embedded registry file, driven
 * over HTTP through the local API gateway with caller tokens from the dev identity provider.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevSigningKey } from '../../scripts/dev/dev-keys.js';
import { DEV_TENANT_CLAIM, ensureDevTenants, withDevTenants } from '../../scripts/dev/dev-tenants.js';
import { type DevServer, defaultDevConfig, startDevServer } from '../../scripts/dev-server.js';
import { tempDir } from '../support/cli.js';
import { verifyWithJsonwebtoken } from '../support/keys.js';

let dev: DevServer;
let dir: string;

beforeAll(async () => {
  dir = tempDir('qtv-dev-tenants-');
  const registry = await ensureDevTenants(dir);
  const keys = await ensureDevSigningKey(dir);
  dev = await startDevServer({
    port: 0,
    localDir: dir,
    config: (baseUrl) => withDevTenants(defaultDevConfig(baseUrl, keys), registry),
  });
});
afterAll(() => dev?.close());

async function vend(claims: Record<string, unknown>, body?: unknown) {
  const minted = await fetch(`${dev.url}/dev/identity/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub: 'alice', claims }),
  });
  const { id_token } = (await minted.json()) as { id_token: string };
  const response = await fetch(`${dev.url}/qlik/jwt`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${id_token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, json: (await response.json()) as { token?: string; code?: string } };
}

const certificate = (id: string) => readFileSync(join(dir, 'tenants', id, 'dev-signing-cert.pem'), 'utf8');

describe('Dev server: multi-tenant mode with the embedded registry', () => {
  it('gives each demo tenant’s caller a token signed with that tenant’s own dev key and issuer', async () => {
    for (const id of ['acme', 'globex']) {
      const result = await vend({ [DEV_TENANT_CLAIM]: id });
      expect(result.status, JSON.stringify(result.json)).toBe(200);
      const { header, payload } = verifyWithJsonwebtoken(result.json.token!, certificate(id));
      expect(payload.iss).toBe(`https://qlik-token-vending.local/${id}`);
      expect(header.kid).toBe(`qtv-dev-${id}`);
      expect(() =>
        verifyWithJsonwebtoken(result.json.token!, certificate(id === 'acme' ? 'globex' : 'acme')),
      ).toThrow();
    }
  });

  it('reads a list claim from the verified token (not API Gateway’s flattened string) and lets the body pick', async () => {
    expect(await vend({ [DEV_TENANT_CLAIM]: ['acme', 'globex'] })).toMatchObject({
      status: 403,
      json: { code: 'TENANT_AMBIGUOUS' },
    });
    const picked = await vend({ [DEV_TENANT_CLAIM]: ['acme', 'globex'] }, { tenant: 'globex' });
    expect(picked.status).toBe(200);
    expect(verifyWithJsonwebtoken(picked.json.token!, certificate('globex')).payload.iss).toBe(
      'https://qlik-token-vending.local/globex',
    );
  });

  it('refuses a caller without a tenant claim, and one naming an unregistered tenant', async () => {
    expect(await vend({})).toMatchObject({ status: 403, json: { code: 'TENANT_CLAIM_MISSING' } });
    expect(await vend({ [DEV_TENANT_CLAIM]: 'initech' })).toMatchObject({
      status: 403,
      json: { code: 'TENANT_UNKNOWN' },
    });
  });
});
