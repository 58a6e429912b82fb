import { describe, expect, it } from 'vitest';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { TenantRegistry } from '../../../functions/tenancy/registry.js';
import { MemoryTenantStore, type TenantRecord, type TenantStore } from '../../../functions/tenancy/store.js';
import { capturingLogger } from '../../support/logs.js';
import { tenancyConfig, tenantItem } from '../../support/tenants.js';

const NOW = Date.UTC(2026, 10, 26, 9, 0, 0);

function setup(options: { store?: TenantStore; maxEntries?: number } = {}) {
  const clock = new FixedClock(NOW);
  const log = capturingLogger();
  const memory = new MemoryTenantStore([
    tenantItem('acme'),
    tenantItem('globex'),
    tenantItem('initech', { status: 'suspended' }),
  ]);
  const store = options.store ?? memory;
  const registry = new TenantRegistry({
    store,
    tenancy: tenancyConfig(),
    clock,
    logger: log.logger,
    ttlMs: 60_000,
    ...(options.maxEntries !== undefined ? { maxEntries: options.maxEntries } : {}),
  });
  return { clock, log, memory, registry };
}

describe('Class: TenantRegistry', () => {
  it('reads each tenant once per TTL, however many requests ask', async () => {
    // Prepare
    const { registry, memory, clock } = setup();
    // Act
    await Promise.all(Array.from({ length: 50 }, () => registry.lookup('acme')));
    await registry.lookup('acme');
    clock.advance(59_999);
    await registry.lookup('acme');
    const readsWithinTtl = memory.reads.get('acme');
    clock.advance(1);
    await registry.lookup('acme');
    // Assess
    expect(readsWithinTtl).toBe(1);
    expect(memory.reads.get('acme')).toBe(2);
  });

  it('answers active with the validated item, suspended and unknown as states', async () => {
    const { registry } = setup();
    const acme = await registry.lookup('acme');
    expect(acme.state).toBe('active');
    if (acme.state === 'active') expect(acme.tenant.item.qlik.issuer).toBe('https://qtv.example/acme');
    expect(await registry.lookup('initech')).toEqual({ state: 'suspended', tenantId: 'initech' });
    expect(await registry.lookup('nobody')).toEqual({ state: 'unknown', tenantId: 'nobody' });
  });

  it('caches an unknown tenant for the TTL, so a caller bound to no tenant costs one read per TTL', async () => {
    const { registry, memory } = setup();
    for (let i = 0; i < 20; i++) await registry.lookup('nobody');
    expect(memory.reads.get('nobody')).toBe(1);
  });

  it('marks a bad item invalid with its problems and an error log line, while other tenants keep working', async () => {
    // Prepare
    const { registry, memory, log } = setup();
    memory.setRecord({ id: 'broken', status: 'active', version: 3, document: { qlik: { issuer: 'x' } } });
    // Act
    const broken = await registry.lookup('broken');
    const acme = await registry.lookup('acme');
    // Assess
    expect(broken).toMatchObject({
      state: 'invalid',
      tenantId: 'broken',
      problems: expect.arrayContaining([expect.stringMatching(/^qlik.tenantHost:/)]),
    });
    expect(acme.state).toBe('active');
    const line = log.lines.find((l) => l.includes('tenant registry item invalid'));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ level: 'ERROR', tenant: 'broken', version: 3 });
  });

  it('treats a document that is not JSON as an invalid item, not a crash', async () => {
    const { registry, memory } = setup();
    memory.setRecord({ id: 'garbled', status: 'active', version: 1, document: undefined });
    expect(await registry.lookup('garbled')).toMatchObject({ state: 'invalid' });
  });

  it('refuses an item whose stored ID differs from the key it was read under', async () => {
    const { registry, memory } = setup();
    const { id: _id, status: _s, version: _v, ...document } = tenantItem('acme');
    memory.setRecord({
      id: 'globex',
      status: 'active',
      version: 9,
      document: { ...document, signing: { backend: 'secrets-manager', secretId: 'qtv/tenants/acme' } },
    });
    expect(await registry.lookup('globex')).toMatchObject({ state: 'invalid' });
  });

  it('sees a suspension after the TTL, because the write bumps the version', async () => {
    const { registry, memory, clock } = setup();
    expect((await registry.lookup('acme')).state).toBe('active');
    await memory.setStatus('acme', 'suspended', new Date(NOW).toISOString());
    clock.advance(60_000);
    expect((await registry.lookup('acme')).state).toBe('suspended');
  });

  it('serves the last good item while the store fails, and says so in a warning', async () => {
    // Prepare
    let failing = false;
    const memory = new MemoryTenantStore([tenantItem('acme')]);
    const flaky: TenantStore = {
      description: 'flaky store',
      get: async (id) => {
        if (failing) throw new Error('ProvisionedThroughputExceededException');
        return memory.get(id);
      },
    };
    const { registry, clock, log } = setup({ store: flaky });
    await registry.lookup('acme');
    failing = true;
    clock.advance(61_000);
    // Act
    const during = await registry.lookup('acme');
    // Assess
    expect(during.state).toBe('active');
    expect(log.lines.some((l) => l.includes('tenant registry read failed') && l.includes('"servingStale":true'))).toBe(
      true,
    );
  });

  it('fails a tenant never read before with 503 TENANT_REGISTRY_UNAVAILABLE when the store is down', async () => {
    const down: TenantStore = {
      description: 'down store',
      get: async (): Promise<TenantRecord | undefined> => {
        throw new Error('connect ECONNREFUSED');
      },
    };
    const { registry } = setup({ store: down });
    await expect(registry.lookup('acme')).rejects.toMatchObject({ code: 'TENANT_REGISTRY_UNAVAILABLE', status: 503 });
  });

  it('keeps at most maxEntries tenants, dropping the least recently used', async () => {
    const { registry, memory } = setup({ maxEntries: 2 });
    await registry.lookup('acme');
    await registry.lookup('globex');
    await registry.lookup('initech');
    expect(registry.size).toBe(2);
    await registry.lookup('acme');
    // acme was evicted when initech came in, so it is read again.
    expect(memory.reads.get('acme')).toBe(2);
  });
});
