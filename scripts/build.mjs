#!/usr/bin/env node
// `npm run build`: runs every `build:*` script of package.json in order (build:construct, build:cli, ...), so a new
// build step is one script line, not an edit of this one.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const { scripts } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const steps = Object.keys(scripts).filter((name) => name.startsWith('build:'));
for (const step of steps) {
  const npm = process.env.npm_execpath;
  const run = npm
    ? spawnSync(process.execPath, [npm, 'run', '-s', step], { stdio: 'inherit' })
    : spawnSync('npm', ['run', '-s', step], { stdio: 'inherit' });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
