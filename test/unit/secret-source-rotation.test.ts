import { describe, expect, it } from 'vitest';
import { FixedClock } from '../../functions/runtime/clock.js';
import { OptionalStageStore } from '../../functions/runtime/wiring.js';
import { CachedSecret, type SecretStore, type SecretValue } from '../../functions/secrets/secret-source.js';

/** A store whose stages a test moves, like a rotation does. */
class StagedStore implements SecretStore {
  readonly description = 'staged test store';
  stages = new Map<string, SecretValue>();
  failing = false;
  fetches = 0;
  async fetch(_secretId: string, stage = 'AWSCURRENT'): Promise<SecretValue> {
    this.fetches++;
    if (this.failing) throw Object.assign(new Error('throttled'), { name: 'ThrottlingException' });
    const value = this.stages.get(stage);
    if (value === undefined) throw Object.assign(new Error('none'), { name: 'ResourceNotFoundException' });
    return value;
  }
}

describe('Function: CachedSecret during a rotation', () => {
  it('switches to the new AWSCURRENT within one TTL, transforms each version once, and never fails while the store errors', async () => {
    // Prepare
    const store = new StagedStore();
    store.stages.set('AWSCURRENT', { value: 'old', versionId: 'v1' });
    const clock = new FixedClock(0);
    const transforms: string[] = [];
    const cache = new CachedSecret({
      store,
      secretId: 's',
      ttlMs: 1000,
      clock,
      transform: (value) => {
        transforms.push(value);
        return value.toUpperCase();
      },
    });
    expect(await cache.get()).toBe('OLD');

    // Act: promotion, then a store outage right when the TTL runs out.
    store.stages.set('AWSCURRENT', { value: 'new', versionId: 'v2' });
    const beforeTtl = await cache.get();
    clock.advance(1000);
    store.failing = true;
    const duringOutage = await cache.get();
    clock.advance(10_000);
    store.failing = false;
    const afterRecovery = await cache.get();

    // Assess
    expect([beforeTtl, duringOutage, afterRecovery]).toEqual(['OLD', 'OLD', 'NEW']);
    expect(transforms).toEqual(['old', 'new']);
  });

  it('reads AWSPENDING as "none" outside a rotation and as the pending value during one', async () => {
    // Prepare
    const store = new StagedStore();
    const clock = new FixedClock(0);
    const pending = new CachedSecret({
      store: new OptionalStageStore(store),
      secretId: 's',
      versionStage: 'AWSPENDING',
      ttlMs: 1000,
      clock,
      transform: (value) => (value === '' ? undefined : value),
    });

    // Act
    const outside = await pending.get();
    store.stages.set('AWSPENDING', { value: 'pending-key', versionId: 'v3' });
    clock.advance(1000);
    const during = await pending.get();

    // Assess
    expect(outside).toBeUndefined();
    expect(during).toBe('pending-key');
  });

  it('still reports other store failures for AWSPENDING', async () => {
    const store = new StagedStore();
    store.failing = true;
    await expect(new OptionalStageStore(store).fetch('s', 'AWSPENDING')).rejects.toMatchObject({
      name: 'ThrottlingException',
    });
  });
});
