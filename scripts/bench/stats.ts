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

/**
 * Runs cases interleaved, one operation at a time, for `rounds` rounds of `perRound` operations each,
 * so machine drift (other processes, CPU frequency) touches every case alike. Returns per-op times in ms.
 */
export async function measureInterleaved(cases: readonly BenchCase[], rounds: number, perRound: number, warmup = 50) {
  for (const c of cases) for (let i = 0; i < warmup; i++) await c.run();
  const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
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
