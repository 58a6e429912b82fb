#!/usr/bin/env node
// `npx qtv`: registers tsx's ESM loader, then runs the TypeScript CLI (no build step).
import { register } from 'tsx/esm/api';

register();
await import('./cli.ts');
