import { describe, expect, it } from 'vitest';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { TenantRegistry } from '../../../functions/tenancy/registry.js';
import { callerTenantIds, resolveCallerTenant, selectTenantId } from '../../../functions/tenancy/resolve.js';
import { MemoryTenantStore } from '../../../functions/tenancy/store.js';
import { capturingLogger } from '../../support/logs.js';
import { tenancyConfig, tenantItem } from '../../support/tenants.js';

const tenancy = tenancyConfig();
const CLAIM = 'custom:tenant';

function deps() {
  const store = new MemoryTenantStore([
    tenantItem('acme'),
    tenantItem('globex'),
    tenantItem('initech', { status: 'suspended' }),
  ]);
  store.setRecord({ id: 'broken', status: 'active', version: 1, document: {} });
  const registry = new TenantRegistry({ store, tenancy, clock: new FixedClock(0), logger: capturingLogger().logger });
  return { tenancy, registry };
}

describe('Function: callerTenantIds', () => {
  it('reads one tenant ID from a string claim and several from an array claim, exactly as sent', () => {
    expect(callerTenantIds({ [CLAIM]: 'acme' }, CLAIM)).toEqual(['acme']);
    expect(callerTenantIds({ [CLAIM]: ['acme', 'globex'] }, CLAIM)).toEqual(['acme', 'globex']);
  });

  it('never splits a flattened list: "[acme globex]" is one (unregistrable) value', () => {
    expect(callerTenantIds({ [CLAIM]: '[acme globex]' }, CLAIM)).toEqual(['[acme globex]']);
  });

  it.each([
    ['absent', {}],
    ['empty', { [CLAIM]: '' }],
    ['a number', { [CLAIM]: 42 }],
    ['an object', { [CLAIM]: { id: 'acme' } }],
    ['an empty list', { [CLAIM]: [] }],
    ['a list with a non-string', { [CLAIM]: ['acme', 7] }],
    ['a list of 101', { [CLAIM]: Array.from({ length: 101 }, (_, i) => `t${i}`) }],
  ])('refuses a claim that is %s with 403 TENANT_CLAIM_MISSING', (_, claims) => {
    expect(() => callerTenantIds(claims, CLAIM)).toThrow(
      expect.objectContaining({ code: 'TENANT_CLAIM_MISSING', status: 403 }),
    );
  });

  it('does not take the claim from the prototype chain', () => {
    expect(() => callerTenantIds(Object.create({ [CLAIM]: 'acme' }), CLAIM)).toThrow(
      expect.objectContaining({ code: 'TENANT_CLAIM_MISSING' }),
    );
  });
});

describe('Function: selectTenantId', () => {
  it('uses the only tenant when the caller names none, or the one it names from its list', () => {
    expect(selectTenantId(['acme'], undefined, CLAIM)).toBe('acme');
    expect(selectTenantId(['acme'], 'acme', CLAIM)).toBe('acme');
    expect(selectTenantId(['acme', 'globex'], 'globex', CLAIM)).toBe('globex');
  });

  it('refuses a caller with several tenants that names none (TENANT_AMBIGUOUS)', () => {
    expect(() => selectTenantId(['acme', 'globex'], undefined, CLAIM)).toThrow(
      expect.objectContaining({ code: 'TENANT_AMBIGUOUS', status: 403 }),
    );
  });

  it.each(['globex', 'ACME', 'acme ', ' acme', 'acme\u200b', 'acm', 'acme\u0000'])(
    'refuses %j for a caller whose claim says acme (TENANT_NOT_ALLOWED: compared byte for byte)',
    (requested) => {
      expect(() => selectTenantId(['acme'], requested, CLAIM)).toThrow(
        expect.objectContaining({ code: 'TENANT_NOT_ALLOWED', status: 403 }),
      );
    },
  );
});

describe('Function: resolveCallerTenant', () => {
  it('returns the active tenant the caller is bound to', async () => {
    const tenant = await resolveCallerTenant({ [CLAIM]: 'globex' }, undefined, deps());
    expect(tenant.item.id).toBe('globex');
  });

  it.each([
    ['a suspended tenant', 'initech', 'TENANT_SUSPENDED', 403],
    ['an unregistered tenant', 'nobody', 'TENANT_UNKNOWN', 403],
    ['a tenant whose item is invalid', 'broken', 'TENANT_CONFIG_INVALID', 503],
  ])('refuses %s with %s', async (_, id, code, status) => {
    await expect(resolveCallerTenant({ [CLAIM]: id }, undefined, deps())).rejects.toMatchObject({ code, status });
  });

  it('refuses a value no tenant ID can have without reading the registry (no 503 from a store that rejects the key)', async () => {
    // Prepare: a store that fails every read, as DynamoDB does for a key over 2048 bytes.
    const failing = {
      description: 'failing',
      get: async () => {
        throw new Error('ValidationException');
      },
    };
    const registry = new TenantRegistry({
      store: failing,
      tenancy,
      clock: new FixedClock(0),
      logger: capturingLogger().logger,
    });
    // Act / Assess
    for (const value of ['x'.repeat(5000), 'acme globex', '[acme]', 'acme\u0000', '-acme'])
      await expect(resolveCallerTenant({ [CLAIM]: value }, undefined, { tenancy, registry })).rejects.toMatchObject({
        code: 'TENANT_UNKNOWN',
        message: 'The tenant your token names is not registered with this service.',
      });
  });

  it('never lets a body choice widen the claim, even to a registered active tenant', async () => {
    await expect(resolveCallerTenant({ [CLAIM]: 'acme' }, 'globex', deps())).rejects.toMatchObject({
      code: 'TENANT_NOT_ALLOWED',
    });
  });
});
