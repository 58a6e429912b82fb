/**
 * The zod every function uses: `zod/mini` (the same zod package; functions such as `z.optional(x)` and
 * `x.check(z.minLength(1))` instead of methods, so a bundle holds only what it calls). Classic `zod` builds
 * every schema class with all its methods at import: about 96 KiB of a function bundle and, measured for one
 * tiny schema, 21-34 ms of a cold start against 1.7-2.5 ms with `zod/mini` (issue #15, docs/performance.md).
 *
 * Import it as `import * as z from '../runtime/zod.js'`, never `zod/mini` directly: `zod/mini` has no default
 * locale (every issue would read "Invalid input"), and this module installs English, the messages classic zod
 * gives and our error texts and tests pin. package.json lists this file under `sideEffects`: without that,
 * esbuild resolves the re-export straight to `zod/mini` and drops the `config(en())` call from the bundles
 * (test/infra/bundle-contents.test.ts starts a bundle to check).
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());

export * from 'zod/mini';
