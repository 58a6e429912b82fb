import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { tenancySchema } from '../../../functions/runtime/config.js';
import { FileSecretStore } from '../../../functions/secrets/secret-source.js';
import { createTenancyRuntime, tenantRequestContext } from '../../../functions/tenancy/runtime.js';
import { tempDir } from '../../support/cli.js';
import { pkcs8Pem, rsaKeyPair } from '../../support/keys.js';
import { capturingLogger } from '../../support/logs.js';
import { tenantItemInput } from '../../support/tenants.js';

/** A dev-server style registry: a JSON file of items with file keys, under a temp ".local". */
function fileRegistry() {
  const dir = tempDir('qtv-tenants-');
  const keyPath = join(dir, 'acme.pem');
  writeFileSync(keyPath, pkcs8Pem(rsaKeyPair().privateKey));
  const path = join(dir, 'tenants.json');
  const write = (items: unknown[]) => writeFileSync(path, JSON.stringify({ tenants: items }));
  write([
    tenantItemInput('acme', { signing: { backend: 'file', privateKeyPath: keyPath } }),
    tenantItemInput('globex', { status: 'suspended', signing: { backend: 'file', privateKeyPath: keyPath } }),
  ]);
  const tenancy = tenancySchema.parse({ tenantClaim: 'org_id', registry: { backend: 'file', path } });
  return { tenancy, write };
}

describe('Function: createTenancyRuntime with the dev server’s file registry', () => {
  it('binds a caller to its tenant from the file and signs with that tenant’s file key and issuer', async () => {
    // Prepare
    const { tenancy } = fileRegistry();
    const clock = new FixedClock(Date.UTC(2026, 10, 26));
    const runtime = createTenancyRuntime(tenancy, {
      clock,
      logger: capturingLogger().logger,
      secretStore: () => new FileSecretStore(),
      kms: () => {
        throw new Error('no KMS');
      },
    });
    // Act
    const context = await tenantRequestContext({ org_id: 'acme', sub: 'alice' }, undefined, runtime);
    const key = await context.signers.current();
    // Assess
    expect(context.tenant.item.id).toBe('acme');
    expect(context.qlik.issuer).toBe('https://qtv.example/acme');
    expect(key.issuer).toBe('https://qtv.example/acme');
    expect(key.kid).toBe('acme-key-1');
    await expect(tenantRequestContext({ org_id: 'globex' }, undefined, runtime)).rejects.toMatchObject({
      code: 'TENANT_SUSPENDED',
    });
  });

  it('sees an edited file after the short dev TTL (5 s)', async () => {
    const { tenancy, write } = fileRegistry();
    const clock = new FixedClock(Date.UTC(2026, 10, 26));
    const runtime = createTenancyRuntime(tenancy, {
      clock,
      logger: capturingLogger().logger,
      secretStore: () => new FileSecretStore(),
      kms: () => {
        throw new Error('no KMS');
      },
    });
    await tenantRequestContext({ org_id: 'acme' }, undefined, runtime);
    write([]);
    clock.advance(5_000);
    await expect(tenantRequestContext({ org_id: 'acme' }, undefined, runtime)).rejects.toMatchObject({
      code: 'TENANT_UNKNOWN',
    });
  });
});

describe('Function: createTenancyRuntime, edits without a version bump', () => {
  it('sees a changed item whose version number stayed the same (a hand-edited dev file)', async () => {
    const { tenancy, write } = fileRegistry();
    const clock = new FixedClock(Date.UTC(2026, 10, 26));
    const runtime = createTenancyRuntime(tenancy, {
      clock,
      logger: capturingLogger().logger,
      secretStore: () => new FileSecretStore(),
      kms: () => {
        throw new Error('no KMS');
      },
    });
    await tenantRequestContext({ org_id: 'acme' }, undefined, runtime);
    write([tenantItemInput('acme', { status: 'suspended', version: 1 })]);
    clock.advance(5_000);
    await expect(tenantRequestContext({ org_id: 'acme' }, undefined, runtime)).rejects.toMatchObject({
      code: 'TENANT_SUSPENDED',
    });
  });
});
