import { describe, expect, it } from 'vitest';
import { FixedClock } from '../../functions/runtime/clock.js';
import { TenantRegistry } from '../../functions/tenancy/registry.js';
import { DynamoDbTenantStore } from '../../functions/tenancy/store.js';
import { motoDynamoDb, uniqueName } from '../support/aws.js';
import { capturingLogger } from '../support/logs.js';
import { createTenantTable, tenancyConfig, tenantItem } from '../support/tenants.js';

async function table() {
  const client = motoDynamoDb();
  const tableName = uniqueName('qtv-tenants');
  await createTenantTable(client, tableName);
  return { client, tableName, store: new DynamoDbTenantStore(client, tableName) };
}

describe('Class: DynamoDbTenantStore (moto)', () => {
  it('writes an item once, refuses a second create, and reads back exactly what was written', async () => {
    // Prepare
    const { store } = await table();
    const item = tenantItem('acme', { description: 'Acme Corp – ünïcode “quoted”' });
    // Act
    const first = await store.put(item, 0);
    const again = await store.put(item, 0);
    const read = await store.get('acme');
    // Assess
    expect(first).toBe(true);
    expect(again).toBe(false);
    const { id, status, version, ...document } = item;
    expect(read).toMatchObject({ id, status, version, document: JSON.parse(JSON.stringify(document)) });
  });

  it('guards updates with the stored version (optimistic concurrency)', async () => {
    const { store } = await table();
    await store.put(tenantItem('acme'), 0);
    expect(await store.put(tenantItem('acme', { version: 2 }), 5)).toBe(false);
    expect(await store.put(tenantItem('acme', { version: 2 }), 1)).toBe(true);
    expect((await store.get('acme'))?.version).toBe(2);
  });

  it('suspends by setting the status and bumping the version; a missing tenant is reported, not created', async () => {
    const { store } = await table();
    await store.put(tenantItem('acme'), 0);
    expect(await store.setStatus('acme', 'suspended', '2026-11-26T09:00:00.000Z')).toBe(true);
    expect(await store.get('acme')).toMatchObject({
      status: 'suspended',
      version: 2,
      updatedAt: '2026-11-26T09:00:00.000Z',
    });
    expect(await store.setStatus('nobody', 'suspended', '2026-11-26T09:00:00.000Z')).toBe(false);
    expect(await store.get('nobody')).toBeUndefined();
  });

  it('lists every tenant across scan pages, sorted by ID, and removes one', async () => {
    const { store } = await table();
    const ids = Array.from({ length: 30 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    for (const id of ids.toReversed()) await store.put(tenantItem(id), 0);
    expect((await store.list()).map((r) => r.id)).toEqual(ids);
    expect(await store.remove('t05')).toBe(true);
    expect(await store.remove('t05')).toBe(false);
    expect((await store.list()).length).toBe(29);
  });

  it('feeds the registry cache: a valid item is active, a suspended one refused, one bad item harms no other', async () => {
    // Prepare
    const { client, tableName, store } = await table();
    await store.put(tenantItem('acme'), 0);
    await store.put(tenantItem('initech', { status: 'suspended' }), 0);
    // A hand-written bad item (another tenant's key) straight into the table.
    const { PutItemCommand } = await import('@aws-sdk/client-dynamodb');
    await client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          tenantId: { S: 'broken' },
          status: { S: 'active' },
          version: { N: '1' },
          document: {
            S: JSON.stringify({
              ...JSON.parse(JSON.stringify(tenantItem('broken'))),
              signing: { backend: 'secrets-manager', secretId: 'qtv/tenants/acme' },
              id: undefined,
            }),
          },
        },
      }),
    );
    const log = capturingLogger();
    const registry = new TenantRegistry({
      store,
      tenancy: tenancyConfig(),
      clock: new FixedClock(0),
      logger: log.logger,
    });
    // Act + Assess
    expect((await registry.lookup('acme')).state).toBe('active');
    expect((await registry.lookup('initech')).state).toBe('suspended');
    expect(await registry.lookup('broken')).toMatchObject({
      state: 'invalid',
      problems: [
        expect.stringMatching(/^signing\.secretId: must be the tenant's own key secret qtv\/tenants\/broken$/),
      ],
    });
    expect((await registry.lookup('nobody')).state).toBe('unknown');
  });
});
