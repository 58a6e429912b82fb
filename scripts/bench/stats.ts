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
 * Runs cases interleaved, round by round, and returns per-operation times in ms, in round order, so
 * `samples[case][i]` of two cases were taken moments apart. Each round starts at the next case, so no
 * case always runs right after the same neighbour (whose garbage or cache misses it would inherit).
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
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(r + k) % cases.length]!;
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
