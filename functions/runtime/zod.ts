/**
 * The zod every function uses: `zod/mini` (the same zod package, tree-shakable functions instead of
 * methods). Classic `zod` builds every schema class with all its methods at import, which measured 21-34 ms
 * of a cold start for one tiny schema against 1.7-2.5 ms for the same schema with `zod/mini` (issue #15,
 * docs/performance.md). Import `z` from here, never from `zod/mini` directly: `zod/mini` has no default locale
 * (every issue would read "Invalid input"), and this module installs English, the messages classic zod gives and
 * our tests and error texts pin.
 */
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

config(en());

export * as z from 'zod/mini';
