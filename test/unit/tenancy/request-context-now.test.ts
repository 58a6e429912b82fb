/**
 * The per-token form of binding a caller to its tenant (issue #15): a tenant fresh in the registry cache is
 * bound without a promise, with the same ports the async form gives; a tenant not cached yet is left to the
 * async form; a refused caller is refused the same way, only synchronously.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { tenancySchema } from '../../../functions/runtime/config.js';
import { FileSecretStore } from '../../../functions/secrets/secret-source.js';
import {
  createTenancyRuntime,
  tenantRequestContext,
  tenantRequestContextNow,
} from '../../../functions/tenancy/runtime.js';
import { tempDir } from '../../support/cli.js';
import { pkcs8Pem, rsaKeyPair } from '../../support/keys.js';
import { capturingLogger } from '../../support/logs.js';
import { tenantItemInput } from '../../support/tenants.js';

function runtimeWithFileRegistry() {
  const dir = tempDir('qtv-tenants-now-');
  const keyPath = join(dir, 'acme.pem');
  writeFileSync(keyPath, pkcs8Pem(rsaKeyPair().privateKey));
  const path = join(dir, 'tenants.json');
  writeFileSync(
    path,
    JSON.stringify({
      tenants: [
        tenantItemInput('acme', { signing: { backend: 'file', privateKeyPath: keyPath } }),
        tenantItemInput('globex', { status: 'suspended', signing: { backend: 'file', privateKeyPath: keyPath } }),
      ],
    }),
  );
  return createTenancyRuntime(tenancySchema.parse({ tenantClaim: 'org_id', registry: { backend: 'file', path } }), {
    clock: new FixedClock(Date.UTC(2026, 10, 26)),
    logger: capturingLogger().logger,
    secretStore: () => new FileSecretStore(),
    kms: () => {
      throw new Error('no KMS');
    },
  });
}

describe('Function: tenantRequestContextNow', () => {
  it('leaves a tenant the registry cache does not hold yet to the async form', () => {
    const runtime = runtimeWithFileRegistry();
    expect(tenantRequestContextNow({ org_id: 'acme' }, undefined, runtime)).toBeUndefined();
  });

  it('binds a cached tenant without a promise, to the same ports the async form gives', async () => {
    // Prepare
    const runtime = runtimeWithFileRegistry();
    const awaited = await tenantRequestContext({ org_id: 'acme' }, undefined, runtime);

    // Act
    const now = tenantRequestContextNow({ org_id: 'acme' }, undefined, runtime);

    // Assess
    expect(now).not.toBeInstanceOf(Promise);
    expect(now?.tenant).toBe(awaited.tenant);
    expect(now?.signers).toBe(awaited.signers);
    expect(now?.qlik.issuer).toBe('https://qtv.example/acme');
  });

  it('refuses a cached suspended tenant with the same error, thrown synchronously', async () => {
    const runtime = runtimeWithFileRegistry();
    await expect(tenantRequestContext({ org_id: 'globex' }, undefined, runtime)).rejects.toMatchObject({
      code: 'TENANT_SUSPENDED',
    });
    expect(() => tenantRequestContextNow({ org_id: 'globex' }, undefined, runtime)).toThrow(
      expect.objectContaining({ code: 'TENANT_SUSPENDED' }),
    );
  });
});
