/**
 * Why the per-token ratio follows the host's state (docs/performance.md, "What an RSA signature does to
 * the code after it"): times two small loops alone and right after an RSA signature, in the same rounds.
 *
 * - a compute loop (a chain of multiplications in registers: no memory traffic);
 * - a memory loop (2,000 reads spread over about 1 MB of objects, like a request's walk over the heap).
 *
 * If a signature slowed the core itself (clock speed), both loops would be slower after it. If it only
 * leaves the CPU caches cold (its own working set, and what a neighbour sharing the core evicts meanwhile),
 * only the memory loop is. Our per-token code is of the second kind: objects, strings, JIT code.
 *
 *   npm run bench -- --only after-signature   # as a section of the bench
 *   npx tsx scripts/bench/after-signature.ts  # RSA 2048 and 4096
 *   npx tsx scripts/bench/after-signature.ts 2048
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { median, roundOrders } from './stats.js';

/** The probe's medians, in microseconds, and the two "after ÷ alone" ratios. */
export interface AfterSignatureRow {
  readonly bits: number;
  readonly signatureUs: number;
  readonly computeAloneUs: number;
  readonly computeAfterSignatureUs: number;
  readonly computeRatio: number;
  readonly memoryAloneUs: number;
  readonly memoryAfterSignatureUs: number;
  readonly memoryRatio: number;
  readonly rounds: number;
}

let sink = 0;

function computeLoop(): void {
  let x = 1;
  for (let i = 0; i < 20_000; i++) x = (x * 1_103_515_245 + 12_345) | 0;
  sink ^= x;
}

const heap = Array.from({ length: 20_000 }, (_, i) => ({ i, label: `v${i}` }));

function memoryLoop(): void {
  let total = 0;
  // A stride coprime with the length: every read lands on another object, in an order the prefetcher cannot follow.
  for (let i = 0; i < 2_000; i++) total += heap[(i * 7_919) % heap.length]!.i;
  sink ^= total;
}

function microseconds(run: () => void): number {
  const start = process.hrtime.bigint();
  run();
  return Number(process.hrtime.bigint() - start) / 1_000;
}

/** Runs the probe at one key size: each round times the four cases in a shuffled order. */
export function probeAfterSignature(bits: number, rounds = 400): AfterSignatureRow {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
  const data = Buffer.alloc(700, 0x61);
  const signature = () => sign('sha256', data, privateKey);
  const cases = [
    () => computeLoop(),
    () => memoryLoop(),
    () => {
      signature();
      return computeLoop();
    },
    () => {
      signature();
      return memoryLoop();
    },
  ];
  for (let i = 0; i < 100; i++) {
    signature();
    computeLoop();
    memoryLoop();
  }
  const times: number[][] = [[], [], [], []];
  const signatures: number[] = [];
  for (const order of roundOrders(cases.length, rounds)) {
    for (const index of order) {
      if (index < 2) times[index]!.push(microseconds(cases[index]!));
      else {
        // Only the loop is timed; the signature before it is timed on its own.
        signatures.push(microseconds(signature));
        times[index]!.push(microseconds(index === 2 ? computeLoop : memoryLoop));
      }
    }
  }
  const [computeAlone, memoryAlone, computeAfter, memoryAfter] = times.map((list) => median(list)) as [
    number,
    number,
    number,
    number,
  ];
  return {
    bits,
    signatureUs: median(signatures),
    computeAloneUs: computeAlone,
    computeAfterSignatureUs: computeAfter,
    computeRatio: computeAfter / computeAlone,
    memoryAloneUs: memoryAlone,
    memoryAfterSignatureUs: memoryAfter,
    memoryRatio: memoryAfter / memoryAlone,
    rounds,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = process.argv[2] !== undefined ? [Number(process.argv[2])] : [2048, 4096];
  for (const bits of sizes) {
    const row = probeAfterSignature(bits);
    console.log(
      `RSA ${bits}: signature ${row.signatureUs.toFixed(0)} µs; compute loop ${row.computeAloneUs.toFixed(1)} µs alone, ` +
        `${row.computeAfterSignatureUs.toFixed(1)} µs after a signature (×${row.computeRatio.toFixed(2)}); memory loop ` +
        `${row.memoryAloneUs.toFixed(1)} µs alone, ${row.memoryAfterSignatureUs.toFixed(1)} µs after a signature ` +
        `(×${row.memoryRatio.toFixed(2)}); ${row.rounds} rounds`,
    );
  }
  if (sink === 0.5) console.log(sink);
}
