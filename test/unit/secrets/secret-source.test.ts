import { describe, expect, it, vi } from 'vitest';
import { SigningKeyInvalidError, SigningKeyUnavailableError } from '../../../functions/errors.js';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { CachedSecret, type SecretStore, type SecretValue } from '../../../functions/secrets/secret-source.js';

class ScriptedStore implements SecretStore {
  readonly description = 'scripted store';
  calls = 0;
  next: () => Promise<SecretValue> = async () => ({ value: 'v1', versionId: '1' });
  fetch(): Promise<SecretValue> {
    this.calls++;
    return this.next();
  }
}

function setup(ttlMs = 60_000) {
  const store = new ScriptedStore();
  const clock = new FixedClock(0);
  const transform = vi.fn((value: string) => `parsed:${value}`);
  const errors: boolean[] = [];
  const cache = new CachedSecret({
    store,
    secretId: 'id',
    ttlMs,
    clock,
    transform,
    retryAfterErrorMs: 5_000,
    onRefreshError: (_e, stale) => errors.push(stale),
  });
  return { store, clock, transform, cache, errors };
}

describe('Class: CachedSecret', () => {
  it('fetches once and serves from cache until the TTL passes', async () => {
    const { store, clock, cache } = setup();
    expect(await cache.get()).toBe('parsed:v1');
    clock.advance(59_999);
    expect(await cache.get()).toBe('parsed:v1');
    expect(store.calls).toBe(1);
    clock.advance(1);
    await cache.get();
    expect(store.calls).toBe(2);
  });

  it('transforms each version only once, so an unchanged secret is never parsed again', async () => {
    const { clock, cache, transform } = setup();
    await cache.get();
    clock.advance(120_000);
    await cache.get();
    expect(transform).toHaveBeenCalledTimes(1);
  });

  it('picks up a new version after the TTL (rotation)', async () => {
    const { store, clock, cache } = setup();
    await cache.get();
    store.next = async () => ({ value: 'v2', versionId: '2' });
    clock.advance(60_000);
    expect(await cache.get()).toBe('parsed:v2');
  });

  it('lets only one fetch be in flight for concurrent callers', async () => {
    const { store, cache } = setup();
    let release!: () => void;
    store.next = () => new Promise((resolve) => (release = () => resolve({ value: 'v1', versionId: '1' })));
    const results = Promise.all(Array.from({ length: 50 }, () => cache.get()));
    release();
    expect(new Set(await results)).toEqual(new Set(['parsed:v1']));
    expect(store.calls).toBe(1);
  });

  it('serves the cached value when the store fails after warm-up, and backs off before asking again', async () => {
    const { store, clock, cache, errors } = setup();
    await cache.get();
    store.next = async () => {
      throw new Error('ServiceUnavailable');
    };
    clock.advance(60_000);
    expect(await cache.get()).toBe('parsed:v1');
    expect(errors).toEqual([true]);
    clock.advance(4_999);
    await cache.get();
    expect(store.calls).toBe(2);
    clock.advance(1);
    await cache.get();
    expect(store.calls).toBe(3);
  });

  it('keeps serving the old value when a new version is malformed', async () => {
    const { store, clock, transform } = setup();
    const cache = new CachedSecret({
      store,
      secretId: 'id',
      ttlMs: 1000,
      clock,
      transform: (value: string) => {
        if (value === 'broken') throw new SigningKeyInvalidError('bad key');
        return transform(value);
      },
    });
    await cache.get();
    store.next = async () => ({ value: 'broken', versionId: '2' });
    clock.advance(1000);
    expect(await cache.get()).toBe('parsed:v1');
  });

  it('fails a cold start with a retryable 503 error that keeps the cause', async () => {
    const { store, cache } = setup();
    const cause = new Error('connect ECONNREFUSED');
    store.next = async () => {
      throw cause;
    };
    const error = await cache.get().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SigningKeyUnavailableError);
    expect(error).toMatchObject({ status: 503, retryAfterSeconds: 5, cause });
  });

  it('passes a malformed secret on a cold start through as the typed error', async () => {
    const { store, clock } = setup();
    store.next = async () => ({ value: 'x', versionId: '1' });
    const cache = new CachedSecret({
      store,
      secretId: 'id',
      ttlMs: 1000,
      clock,
      transform: () => {
        throw new SigningKeyInvalidError('bad');
      },
    });
    await expect(cache.get()).rejects.toBeInstanceOf(SigningKeyInvalidError);
  });

  it('asks the store again after invalidate()', async () => {
    const { store, cache } = setup();
    await cache.get();
    cache.invalidate();
    await cache.get();
    expect(store.calls).toBe(2);
  });
});
