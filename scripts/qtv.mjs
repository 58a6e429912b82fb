#!/usr/bin/env node
// The `qtv` bin. Installed from the packed package (npm install -g, npx <tarball>), it runs the bundle
// `npm run build:cli` made (dist/cli/qtv.mjs): plain Node, no TypeScript loader, no dependency.
// In a clone of the repository (a .git next to package.json), it runs the TypeScript source through
// tsx instead, so `npx qtv` there always runs what is checked out, never a stale bundle.
import { existsSync } from 'node:fs';

const root = new URL('../', import.meta.url);
if (existsSync(new URL('.git', root)) && existsSync(new URL('scripts/cli.ts', root))) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./cli.ts');
} else {
  await import('../dist/cli/qtv.mjs');
}
