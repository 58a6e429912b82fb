/**
 * `npm run bench -- --only tenant-memory`: the memory a warm function holds when callers of 10,000
 * registered tenants come through it, with the registry cache and the per-tenant signers bounded
 * (`tenancy.registry.maxCachedTenants`) and, for comparison, unbounded. Each tenant has its own key secret
 * (the same PEM stored under 10,000 names, so every tenant's key is parsed into its own KeyObject, as in a
 * deployment). Run in a child process per bound so one figure cannot inflate the next; `--expose-gc` lets it
 * collect before reading heap and RSS.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../../functions/runtime/clock.js';
import { tenancySchema } from '../../functions/runtime/config.js';
import { MemorySecretStore } from '../../functions/secrets/secret-source.js';
import { TenantRegistry } from '../../functions/tenancy/registry.js';
import { TenantSigners } from '../../functions/tenancy/signers.js';
import { MemoryTenantStore } from '../../functions/tenancy/store.js';
import { tenantItemSchema } from '../../functions/tenancy/tenant.js';

const TENANTS = 10_000;
const MB = 1024 * 1024;

const silent = { warn: () => {}, error: () => {} } as never;

/** Measures one bound in this process; prints one JSON line. */
async function measure(maxCached: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const collect = () => {
    gc?.();
    gc?.();
  };
  const tenancy = tenancySchema.parse({
    tenantClaim: 'tenant',
    registry: { backend: 'dynamodb', tableName: 'bench', maxCachedTenants: maxCached },
  });
  const pem = generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ format: 'pem', type: 'pkcs8' })
    .toString();
  const secrets = new MemorySecretStore();
  const items = [];
  for (let i = 0; i < TENANTS; i++) {
    const id = `tenant-${i}`;
    secrets.set(`qtv/tenants/${id}`, pem);
    items.push(
      tenantItemSchema.parse({
        id,
        status: 'active',
        version: 1,
        qlik: { tenantHost: `${id}.eu.qlikcloud.com`, issuer: `https://qtv.example.com/${id}`, keyId: `${id}-kid` },
        identity: { preset: 'auth0', groups: { requirePrefix: 'qlik-', stripPrefix: true } },
        signing: { backend: 'secrets-manager', secretId: `qtv/tenants/${id}` },
        allowedOrigins: [`https://reports.${id}.example.com`],
      }),
    );
  }
  const store = new MemoryTenantStore(items);
  collect();
  const baseline = process.memoryUsage();
  const registry = new TenantRegistry({ store, tenancy, clock: systemClock, logger: silent });
  const signers = new TenantSigners({
    tenancy,
    clock: systemClock,
    logger: silent,
    secretStore: () => secrets,
    kms: () => {
      throw new Error('no KMS');
    },
  });
  const started = performance.now();
  // Every tenant once, then the first 10 % again (the hot set), as callers of all tenants would.
  for (let round = 0; round < 2; round++) {
    const count = round === 0 ? TENANTS : TENANTS / 10;
    for (let i = 0; i < count; i++) {
      const found = await registry.lookup(`tenant-${i}`);
      if (found.state !== 'active') throw new Error(`tenant-${i} is ${found.state}`);
      await signers.current(found.tenant);
    }
  }
  const elapsedMs = performance.now() - started;
  collect();
  const after = process.memoryUsage();
  console.log(
    JSON.stringify({
      maxCachedTenants: maxCached,
      tenantsServed: TENANTS,
      cachedNow: registry.size,
      heapUsedMb: Number(((after.heapUsed - baseline.heapUsed) / MB).toFixed(1)),
      externalMb: Number(((after.external - baseline.external) / MB).toFixed(1)),
      rssMb: Number((after.rss / MB).toFixed(1)),
      rssGrowthMb: Number(((after.rss - baseline.rss) / MB).toFixed(1)),
      lookupsPerSecond: Math.round((TENANTS * 1.1) / (elapsedMs / 1000)),
    }),
  );
}

/** Runs each bound in its own `node --expose-gc` child and returns the rows. */
export async function benchTenantMemory(
  bounds: readonly number[] = [1000, 10_000],
): Promise<Array<Record<string, unknown>>> {
  const self = fileURLToPath(import.meta.url);
  return bounds.map((bound) => {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', self, '--child', String(bound)], {
      encoding: 'utf8',
      maxBuffer: 1024 * 1024,
    });
    return JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--child') {
  await measure(Number(process.argv[3]));
}
