/**
 * Random identifiers for the per-token hot path. `randomBytes(32)` asks OpenSSL for entropy on every
 * call, which costs about as much as the rest of building a token's claims together (bench/vend.ts);
 * filling a pool once per 128 identifiers costs a fraction of that. Node does the same for
 * `crypto.randomUUID()`. Every byte is handed out once: the offset only moves forward until a refill.
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let offset = POOL_BYTES;

/**
 * Returns `bytes` fresh bytes from the operating system's CSPRNG, base64url-encoded.
 * @throws RangeError when `bytes` is not a whole number from 1 to 4096.
 */
export function randomId(bytes = 32): string {
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > POOL_BYTES) {
    throw new RangeError(`randomId takes 1 to ${POOL_BYTES} bytes, not ${bytes}`);
  }
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + bytes);
  offset += bytes;
  return id;
}
