/** Small timing helpers shared by the benchmarks. */

/** Median of a list of numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A percentile (0-100) of a list of numbers, nearest-rank. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** One measured case. */
export interface BenchCase {
  readonly name: string;
  readonly run: () => unknown;
}

/** Options of {@link measureInterleaved}. */
export interface InterleaveOptions {
  /** Rounds; each round runs every case `perRound` times. */
  readonly rounds: number;
  /** Consecutive operations of one case inside a round. @default 1 */
  readonly perRound?: number;
  /** Unmeasured operations of each case first (JIT, first-use setup). @default 50 */
  readonly warmup?: number;
}

/**
 * A fixed pseudo-random sequence (xorshift32), so a run's case orders can be reproduced and compared.
 * Not for anything secret.
 */
function orderRandom(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/**
 * The order of `count` cases in each round: a fresh shuffle per round (Fisher-Yates over a seeded
 * sequence), so every case follows every other case about equally often.
 */
export function roundOrders(count: number, rounds: number, seed = 0x51f15eed): number[][] {
  const random = orderRandom(seed);
  const orders: number[][] = [];
  for (let r = 0; r < rounds; r++) {
    const order = Array.from({ length: count }, (_, i) => i);
    for (let i = count - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    orders.push(order);
  }
  return orders;
}

/**
 * Runs cases interleaved, round by round, and returns per-operation times in ms, in round order, so
 * `samples[case][i]` of two cases were taken moments apart. Each round runs the cases in a new shuffled
 * order ({@link roundOrders}), so no case keeps the same neighbour, whose garbage or cache misses it would
 * inherit. (Rotating the start case is not enough: every case then still follows the same case in all
 * but one position, which flattered the case run right after a cheap one; issue #15.)
 * With `perRound` 1 a round lasts a few signatures: drift on a shared machine (other tenants, CPU
 * frequency) falls on every case alike, which blocks of many operations per case do not guarantee.
 */
export async function measureInterleaved(
  cases: readonly BenchCase[],
  options: InterleaveOptions,
): Promise<Map<string, number[]>> {
  const { rounds, perRound = 1, warmup = 50 } = options;
  for (const c of cases) for (let i = 0; i < warmup; i++) await c.run();
  const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const orders = roundOrders(cases.length, rounds);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < cases.length; k++) {
      const c = cases[orders[r]![k]!]!;
      const list = samples.get(c.name)!;
      for (let i = 0; i < perRound; i++) {
        const start = process.hrtime.bigint();
        await c.run();
        list.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
    }
  }
  return samples;
}

/**
 * Median of the per-round ratios `a[i] / b[i]` of two cases measured by {@link measureInterleaved}:
 * each ratio compares operations run moments apart, so it survives drift that moves both medians.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length || a.length === 0)
    throw new RangeError('pairedRatio needs two equally long, non-empty sample lists');
  return median(a.map((value, i) => value / b[i]!));
}
