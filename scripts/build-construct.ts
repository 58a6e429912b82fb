/**
 * `npm run build:construct`: what the packed package needs so a consumer's CDK app synthesizes without our
 * TypeScript sources, esbuild or a TypeScript loader:
 *
 * - dist/lambda/<entry>/index.mjs: every Lambda bundle, made by the constructs' own bundling (TokenFunction for each
 *   route entry, KeyRotation), so the prebuilt code is what `cdk synth` in this repository deploys for that entry;
 * - dist/construct/index.mjs: the construct library (infra/index.ts) as one ESM file; aws-cdk-lib and constructs
 *   stay imports (peer dependencies), everything else it needs (zod, the config schema) is inside;
 * - dist/types/: declarations for TypeScript consumers.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { build } from 'esbuild';
import { routes } from '../functions/routes.js';
import { parseConfig } from '../functions/runtime/config.js';
import { KeyRotation, ROTATION_ENTRY } from '../infra/constructs/key-rotation.js';
import { PACKAGE_ROOT, PREBUILT_LAMBDA_DIR, prebuiltBundlePath } from '../infra/constructs/prebuilt.js';
import { TokenFunction } from '../infra/constructs/token-function.js';

const root = PACKAGE_ROOT;
const started = Date.now();

/** A configuration for the rotation function's bundle (tracing on, as by default). Values are placeholders. */
const rotationConfig = parseConfig({
  qlik: { tenantHost: 'build.example.com', issuer: 'https://build.example.com' },
  signing: { backend: 'secrets-manager', secretId: 'build/signing-key' },
  rotation: { enabled: true },
});

/**
 * Bundles every entry with the constructs' own bundling: one TokenFunction per route entry with no bundle flags (a
 * bundle that serves any configuration, whichever backend or feature the consumer's props choose) and the
 * KeyRotation function; then copies each asset folder to dist/lambda/<entry>/.
 */
function bundleLambdas(): number {
  rmSync(join(root, PREBUILT_LAMBDA_DIR), { recursive: true, force: true });
  const outdir = mkdtempSync(join(tmpdir(), 'qtv-build-'));
  try {
    const app = new App({ outdir });
    const stack = new Stack(app, 'QtvBuild');
    const byEntry = new Map<string, CfnFunction>();
    for (const route of routes) {
      if (byEntry.has(route.entry)) continue;
      const fn = new TokenFunction(stack, route.id, {
        entry: route.entry,
        configJson: '{}',
        logRetention: RetentionDays.ONE_DAY,
      });
      byEntry.set(route.entry, fn.function.node.defaultChild as CfnFunction);
    }
    const rotation = new KeyRotation(stack, 'KeyRotation', {
      secret: new Secret(stack, 'Secret'),
      config: rotationConfig,
    });
    byEntry.set(ROTATION_ENTRY, rotation.function.node.defaultChild as CfnFunction);
    app.synth({ validateOnSynthesis: false });
    const manifest = JSON.parse(readFileSync(join(outdir, `${stack.stackName}.assets.json`), 'utf8')) as {
      files: Record<string, { source: { path: string } }>;
    };
    for (const [entry, cfn] of byEntry) {
      const code = stack.resolve(cfn.code) as { s3Key: string };
      const asset = manifest.files[code.s3Key.replace(/\.zip$/, '')];
      if (asset === undefined) throw new Error(`no asset for ${entry}`);
      const target = join(root, prebuiltBundlePath(entry));
      mkdirSync(dirname(target), { recursive: true });
      cpSync(join(outdir, asset.source.path), target, { recursive: true });
    }
    return byEntry.size;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

async function bundleConstruct(): Promise<void> {
  rmSync(join(root, 'dist/construct'), { recursive: true, force: true });
  await build({
    entryPoints: [join(root, 'infra/index.ts')],
    outfile: join(root, 'dist/construct/index.mjs'),
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    // The consumer's own aws-cdk-lib and constructs (peer dependencies): one copy, or construct trees break.
    external: ['aws-cdk-lib', 'aws-cdk-lib/*', 'constructs'],
    logLevel: 'warning',
    plugins: [
      {
        // The route table's `load()` imports a handler for the dev server; a CDK app never calls it, so the
        // handlers (and their SDK clients) stay out of the construct library.
        name: 'route-handlers-stay-out',
        setup(b) {
          b.onResolve({ filter: /\/handler\.js$/ }, (args) =>
            args.importer.endsWith('functions/routes.ts') ? { path: args.path, external: true } : undefined,
          );
        },
      },
    ],
  });
}

function declarations(): void {
  rmSync(join(root, 'dist/types'), { recursive: true, force: true });
  const tsc = spawnSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.construct.json'],
    {
      cwd: root,
      encoding: 'utf8',
    },
  );
  if (tsc.status !== 0) throw new Error(`tsc -p tsconfig.construct.json failed:\n${tsc.stdout}${tsc.stderr}`);
}

const count = bundleLambdas();
await bundleConstruct();
declarations();
console.log(
  `build:construct: ${count} Lambda bundles in ${PREBUILT_LAMBDA_DIR}/, dist/construct/index.mjs, dist/types/ (${((Date.now() - started) / 1000).toFixed(1)} s)`,
);
