/**
 * What the Lambda bundles carry, checked on the real esbuild output (the options the TokenFunction
 * construct uses). Sizes, not times: they do not depend on the machine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bundleLambda, lambdaEntries } from '../../scripts/bench/cold-start.js';

const outDir = mkdtempSync(join(tmpdir(), 'qtv-bundle-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('Bundles: every Lambda entry', () => {
  it.each(lambdaEntries().map((e) => [e.name, e.entry]))(
    '%s carries only the zod it uses, English messages only',
    async (name, entry) => {
      const bytes = await bundleLambda(entry, join(outDir, `${name}.mjs`), false);
      // `import { z } from 'zod'` kept all of zod (444 KiB, 258 KiB of it locales); `import * as z` keeps
      // about 97 KiB with the English locale only (docs/performance.md, "The zod import change").
      expect(bytes.zodLocales).toBeLessThan(10 * 1024);
      expect(bytes.zod).toBeLessThan(150 * 1024);
      expect(bytes.ours).toBeGreaterThan(0);
    },
  );
});
