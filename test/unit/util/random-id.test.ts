import { describe, expect, it } from 'vitest';
import { randomId } from '../../../functions/util/random-id.js';

describe('Function: randomId', () => {
  it('returns 32 random bytes as 43 base64url characters by default', () => {
    const id = randomId();
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(id, 'base64url')).toHaveLength(32);
  });

  it('never hands out the same bytes twice, across many pool refills', () => {
    // 3,000 ids of 32 bytes drain the 4 KiB pool 23 times; a refill that did not happen or an offset
    // that did not move would repeat ids or cut them short.
    const ids = Array.from({ length: 3000 }, () => randomId(32));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every((id) => id.length === 43)).toBe(true);
  });

  it('serves sizes that do not divide the pool evenly without returning short ids', () => {
    const ids = Array.from({ length: 500 }, () => randomId(18));
    expect(ids.every((id) => Buffer.from(id, 'base64url').length === 18)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('looks uniformly random: every byte value shows up across 64 KiB of output', () => {
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 2048; i++) for (const byte of Buffer.from(randomId(32), 'base64url')) counts[byte]!++;
    // 65,536 bytes: each value expected 256 times; a stuck or zeroed pool would leave most at 0.
    expect(Math.min(...counts)).toBeGreaterThan(150);
    expect(Math.max(...counts)).toBeLessThan(380);
  });

  it.each([0, -1, 1.5, 4097])('refuses %j bytes with a RangeError', (bytes) => {
    expect(() => randomId(bytes)).toThrow(RangeError);
  });
});
