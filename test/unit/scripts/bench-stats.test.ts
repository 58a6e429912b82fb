/**
 * The bench's interleaving (scripts/bench/stats.ts): each round runs every case once, in an order that
 * changes, so no case inherits the same neighbour's garbage or cache misses in every round (issue #15).
 */
import { describe, expect, it } from 'vitest';
import { roundOrders } from '../../../scripts/bench/stats.js';

describe('roundOrders', () => {
  it('runs every case exactly once per round', () => {
    for (const order of roundOrders(7, 200)) expect([...order].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('puts every case after every other case in a fair share of rounds', () => {
    // Prepare
    const cases = 7;
    const rounds = 2000;
    const follows = Array.from({ length: cases }, () => new Array<number>(cases).fill(0));

    // Act
    for (const order of roundOrders(cases, rounds))
      for (let k = 1; k < cases; k++) follows[order[k]!]![order[k - 1]!]!++;

    // Assess: each case has a predecessor in 6/7 of the rounds, spread over 6 others (~286 each);
    // rotating the start case instead gives one predecessor ~1700 times and the others ~0.
    for (let a = 0; a < cases; a++)
      for (let b = 0; b < cases; b++) if (a !== b) expect(follows[a]![b]).toBeGreaterThan(200);
  });

  it('gives the same orders for the same seed, so a run can be reproduced', () => {
    expect(roundOrders(5, 10, 42)).toEqual(roundOrders(5, 10, 42));
    expect(roundOrders(5, 10, 42)).not.toEqual(roundOrders(5, 10, 43));
  });
});
