/**
 * A runtime stand-in for the tenant's `/qlik-embed/main.js`, built from the very modules `@qlik/api`
 * publishes on npm, so Qlik's own browser code (not ours) fetches tokens, attaches them and retries.
 *
 * What main.js must provide, read from `@qlik/api` 2.19.0's sources (github.com/qlik-oss/qlik-api-ts;
 * the npm package's `chunks/dist-*.js`, region `src/runtime-module-loader`, and
 * `chunks/public-runtime-modules-*.js`, region `src/public/public-runtime-modules.ts`):
 * - In a browser, every public auth or REST call first runs `getAuthRuntimeModule()`, which resolves
 *   `importRuntimeModule("auth@v1", hostConfig)`; REST calls then resolve `"invoke-fetch@v1"`.
 * - `importRuntimeModule` derives `${hostConfig.embedRuntimeUrl || url || host}/qlik-embed/main.js`
 *   (`https://` added when the host has no scheme), adds a `<script src=…>` for it unless
 *   `window.QlikMain` exists, and waits for the script's `load` event; then it calls
 *   `window.QlikMain.import(name)` and uses what that promise resolves to as the module.
 * - In Node the same package imports `chunks/auth-*.js` and `chunks/invoke-fetch-*.js` instead
 *   ("auth@v1" and "invoke-fetch@v1" are those two modules): this stand-in bundles exactly those two
 *   files for the browser, so the browser runs the code Node runs, byte for byte from npm.
 * - `qix@v1` (engine websockets) is not provided: the emulator has no engine. `import("qix@v1")`
 *   rejects with a message that says so.
 *
 * What the real main.js does beyond this (qlik-embed's UI components, feature flags, the CDN's
 * versioned runtime) is not emulated. Serving it needs no CORS: @qlik/api adds a classic script tag
 * without `crossorigin` (only `windowscookie` sets `use-credentials`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The path @qlik/api loads its runtime modules from (see the module comment). */
export const QLIK_EMBED_MAIN_PATH = '/qlik-embed/main.js';

/** The module names `window.QlikMain.import(name)` answers, with the chunk each one is in Node. */
export const RUNTIME_MODULES = ['auth@v1', 'invoke-fetch@v1'] as const;

let bundle: Promise<string> | undefined;

/**
 * Finds the chunk files @qlik/api imports in Node for "auth@v1" and "invoke-fetch@v1", by reading
 * its own `public-runtime-modules` chunk (chunk names carry a content hash that changes per release).
 */
export function qlikApiRuntimeChunks(): { packageDir: string; auth: string; invokeFetch: string } {
  const require = createRequire(import.meta.url);
  const packageDir = dirname(require.resolve('@qlik/api'));
  const chunks = join(packageDir, 'chunks');
  const loader = readdirSync(chunks).find((name) => /^public-runtime-modules-.*\.js$/.test(name));
  if (loader === undefined) throw new Error('@qlik/api: no public-runtime-modules chunk (package layout changed)');
  const source = readFileSync(join(chunks, loader), 'utf8');
  // `if (isNode) return import("./auth-XXXX.js");` and `import("./invoke-fetch-XXXX.js")`.
  const auth = /getAuthRuntimeModule[\s\S]*?import\("\.\/(auth-[\w-]+\.js)"\)/.exec(source)?.[1];
  const invokeFetch = /getInvokeFetchRuntimeModule[\s\S]*?import\("\.\/(invoke-fetch-[\w-]+\.js)"\)/.exec(source)?.[1];
  if (auth === undefined || invokeFetch === undefined)
    throw new Error(`@qlik/api: cannot find the Node runtime chunks in ${loader} (package layout changed)`);
  return { packageDir, auth: join(chunks, auth), invokeFetch: join(chunks, invokeFetch) };
}

/** Builds (once per process) the main.js stand-in: an IIFE that sets `window.QlikMain`. */
export function qlikEmbedMainJs(): Promise<string> {
  bundle ??= (async () => {
    const { auth, invokeFetch } = qlikApiRuntimeChunks();
    // esbuild is a dev dependency (the CDK bundles with it too); imported lazily so the emulator
    // starts without it when nobody asks for main.js.
    const { build } = await import('esbuild');
    const entry = [
      `import * as auth from ${JSON.stringify(auth)};`,
      `import * as invokeFetch from ${JSON.stringify(invokeFetch)};`,
      'const modules = { "auth@v1": auth, "invoke-fetch@v1": invokeFetch };',
      'window.QlikMain = {',
      '  emulated: true,',
      '  import(name) {',
      '    const module = modules[name];',
      '    return module ? Promise.resolve(module)',
      '      : Promise.reject(new Error("qlik-token-vending tenant emulator: runtime module " + name + " is not emulated"));',
      '  },',
      '};',
    ].join('\n');
    const result = await build({
      stdin: { contents: entry, resolveDir: dirname(auth), loader: 'js', sourcefile: 'qlik-embed-main.js' },
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      target: 'es2022',
      logLevel: 'silent',
      // @qlik/api's download helper imports "fs" only in Node; its package.json maps it to false.
      external: ['fs'],
      banner: { js: '/* qlik-token-vending tenant emulator: @qlik/api auth@v1 + invoke-fetch@v1 from npm */' },
    });
    const [file] = result.outputFiles;
    if (file === undefined) throw new Error('esbuild produced no main.js');
    return file.text;
  })();
  return bundle;
}

/** Answers `GET /qlik-embed/main.js` with the stand-in. */
export async function serveQlikEmbedMain(response: ServerResponse): Promise<void> {
  const body = await qlikEmbedMainJs();
  response.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
  response.end(body);
}
