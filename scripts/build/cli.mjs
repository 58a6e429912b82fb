// `npm run build:cli`: bundles the qtv CLI (scripts/cli.ts and everything it imports, node_modules
// included) into one ES module, dist/cli/qtv.mjs, so the packed package runs `qtv` from any folder with
// plain Node: no TypeScript loader and no runtime dependency at all.
import { build } from 'esbuild';

await build({
  entryPoints: ['scripts/cli.ts'],
  outfile: 'dist/cli/qtv.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  minify: false,
  sourcemap: false,
  legalComments: 'linked',
  logLevel: 'warning',
  // CommonJS dependencies (the AWS SDK) call require() for Node built-ins; give the ES module one.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __qtvCreateRequire } from 'node:module';\nconst require = __qtvCreateRequire(import.meta.url);",
  },
});
