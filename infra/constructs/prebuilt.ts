/**
 * Prebuilt Lambda bundles: the packed package ships each function already bundled (`npm run build:construct`
 * writes them under dist/lambda/), so a consumer's `cdk synth` needs neither this project's TypeScript sources
 * nor esbuild. In this repository the sources exist and are bundled at synth, as before.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package (or repository) root: this file sits two folders below it, in source and in the built bundle. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where prebuilt bundles live, relative to the package root. */
export const PREBUILT_LAMBDA_DIR = 'dist/lambda';

/** The prebuilt bundle folder of a Lambda entry (`functions/qlik-jwt/index.ts` -> `dist/lambda/functions/qlik-jwt/index`). */
export function prebuiltBundlePath(entry: string): string {
  return join(PREBUILT_LAMBDA_DIR, entry.replace(/\.ts$/, ''));
}

/**
 * The folder of the prebuilt bundle to deploy for `entry` (relative to the package root), or `undefined` when the
 * TypeScript source is present and should be bundled at synth.
 * @throws Error when neither the source nor the bundle exists (a broken install).
 */
export function prebuiltBundleDir(entry: string): string | undefined {
  if (existsSync(join(PACKAGE_ROOT, entry))) return undefined;
  const dir = join(PACKAGE_ROOT, prebuiltBundlePath(entry));
  if (!existsSync(join(dir, 'index.mjs')))
    throw new Error(
      `neither ${entry} nor its prebuilt bundle ${dir}/index.mjs exists: reinstall qlik-token-vending, or run npm run build:construct in a checkout`,
    );
  return dir;
}
