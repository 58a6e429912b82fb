/**
 * Cold start of each Lambda function: bundle size, and wall time from spawning a fresh `node` process
 * to the function's first response, next to `node -e ''` on the same machine in the same run.
 *
 * Bundles are built the way the TokenFunction construct (infra/constructs/token-function.ts) asks
 * NodejsFunction to: ESM, minified, platform node, target node24, main fields module/main, the
 * createRequire banner, an external source map without sources, and nothing external (the AWS SDK is
 * bundled: the runtime's own SDK version is not pinned). A second build with `@aws-sdk/*` external
 * shows what the SDK adds. Each bundle is loaded from a temporary folder with no node_modules, so a
 * successful run also proves the bundle is self-contained.
 *
 * The harness sets QTV_CONFIG to a file-backend configuration with a freshly generated key (no AWS
 * needed), NODE_OPTIONS=--enable-source-maps as the construct does, imports the bundle and invokes
 * its handler once with a sample API Gateway event. Measured on Node on this machine, not on Lambda:
 * Lambda adds its own runtime start, and its CPU share depends on the memory size.
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { routes } from '../../functions/routes.js';
import { createSelfSignedCertificate } from '../../functions/signing/certificates.js';
import { median } from './stats.js';

/** One row per Lambda entry. */
export interface ColdStartRow {
  readonly function: string;
  /** Minified ESM bundle, SDK included (as deployed). */
  readonly bundleKiB: number;
  /** Its source map (deployed beside it; read at load because of --enable-source-maps). */
  readonly sourceMapKiB: number;
  /** The same bundle with `@aws-sdk/*` left external, for comparison. */
  readonly bundleKiBSdkExternal: number;
  /** Bytes of the bundle from zod, of which from zod's locale files, from the AWS SDK (@aws-sdk, @smithy), and from our own code. */
  readonly zodKiB: number;
  readonly zodLocalesKiB: number;
  readonly awsSdkKiB: number;
  readonly oursKiB: number;
  /** `first response` for API routes; `import only` for other entries (no invocation). */
  readonly measured: 'first response' | 'import only';
  /** Status of the first response (a sanity check that the handler really ran); 0 when not invoked. */
  readonly firstStatus: number;
  /** Median wall time from spawn to exit after the first response, N fresh processes. */
  readonly coldStartMedianMs: number;
  /** The same without NODE_OPTIONS=--enable-source-maps (what the source map costs at load). */
  readonly coldStartNoSourceMapsMedianMs: number;
  /** Median of `node -e ''` measured in the same run. */
  readonly nodeBaselineMedianMs: number;
  /** coldStartMedianMs - nodeBaselineMedianMs: what our code costs. */
  readonly oursMedianMs: number;
  /** Inside the process: median time to import the bundle (module evaluation, config, runtime). */
  readonly importMedianMs: number;
  /** Inside the process: median time of the first invocation (key load, first signature). */
  readonly firstInvokeMedianMs: number;
  readonly runs: number;
}

/** The createRequire banner the TokenFunction construct adds (some dependencies still call require()). */
const BANNER =
  "import { createRequire as __qtvCreateRequire } from 'node:module'; const require = __qtvCreateRequire(import.meta.url);";

const MARKER = 'QTV_COLD_START ';

const HARNESS = `
const started = performance.now();
const { handler } = await import(process.argv[2]);
const imported = performance.now();
const event = JSON.parse(process.argv[3]);
if (event === null) {
  process.stdout.write('\\n${MARKER}' + JSON.stringify({ importMs: imported - started, invokeMs: 0, status: 0 }) + '\\n');
  process.exit(0);
}
const context = { awsRequestId: 'cold-1', functionName: 'cold', functionVersion: '$LATEST', memoryLimitInMB: '512',
  invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:cold', logGroupName: 'cold', logStreamName: 'cold',
  callbackWaitsForEmptyEventLoop: false, getRemainingTimeInMillis: () => 10000 };
const result = await handler(event, context);
const answered = performance.now();
process.stdout.write('\\n${MARKER}' + JSON.stringify({ importMs: imported - started, invokeMs: answered - imported,
  status: result && result.statusCode }) + '\\n');
process.exit(0);
`;

/** Lambda entries: every functions/<name>/index.ts. */
export function lambdaEntries(root = 'functions'): Array<{ name: string; entry: string }> {
  return readdirSync(root)
    .filter((name) => existsSync(join(root, name, 'index.ts')))
    .sort()
    .map((name) => ({ name, entry: join(root, name, 'index.ts') }));
}

/** Output bytes by origin, from esbuild's metafile. */
export interface Breakdown {
  readonly zod: number;
  readonly zodLocales: number;
  readonly awsSdk: number;
  readonly ours: number;
  /** Output bytes by npm package name (`@scope/name` or `name`). */
  readonly packages: Readonly<Record<string, number>>;
  /** Output bytes by our own source file. */
  readonly sources: Readonly<Record<string, number>>;
  /** Size of the written bundle. */
  readonly bytes: number;
}

/**
 * Bundles one Lambda entry with the options the TokenFunction construct gives esbuild, writes it to
 * `outfile`, and returns its bytes by origin.
 */
export async function bundleLambda(
  entry: string,
  outfile: string,
  sdkExternal: boolean,
  define: Record<string, string> = {},
  options: { minify?: boolean } = {},
): Promise<Breakdown> {
  const result = await build({
    define,
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    minify: options.minify ?? true,
    sourcemap: 'external',
    sourcesContent: false,
    mainFields: ['module', 'main'],
    banner: { js: BANNER },
    external: sdkExternal ? ['@aws-sdk/*'] : [],
    logLevel: 'silent',
    metafile: true,
  });
  const totals = { zod: 0, zodLocales: 0, awsSdk: 0, ours: 0 };
  const packages: Record<string, number> = {};
  const sources: Record<string, number> = {};
  for (const output of Object.values(result.metafile.outputs))
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const name = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1];
      if (name !== undefined) packages[name] = (packages[name] ?? 0) + bytesInOutput;
      if (input.includes('node_modules/zod/')) {
        totals.zod += bytesInOutput;
        if (input.includes('/locales/')) totals.zodLocales += bytesInOutput;
      } else if (/node_modules\/@(aws-sdk|smithy)\//.test(input)) totals.awsSdk += bytesInOutput;
      else if (!input.includes('node_modules/')) {
        totals.ours += bytesInOutput;
        sources[input] = bytesInOutput;
      }
    }
  return { ...totals, packages, sources, bytes: statSync(outfile).size };
}

/** A sample API Gateway event for an HTTP route's entry; null for entries that are not HTTP routes. */
function sampleEvent(name: string): unknown {
  const route = routes.find((r) => r.entry === `functions/${name}/index.ts`);
  // Not an API route (e.g. the Secrets Manager rotation function): its cold start is measured to the
  // end of the import only, since a first invocation would need that service's event and AWS.
  if (route === undefined) return null;
  const { method, path } = route;
  const now = Math.floor(Date.now() / 1000);
  return {
    version: '2.0',
    routeKey: `${method} ${path}`,
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', host: 'cold.example' },
    requestContext: {
      accountId: '000000000000',
      apiId: 'cold',
      domainName: 'cold.example',
      domainPrefix: 'cold',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'cold-start' },
      requestId: 'cold-1',
      routeKey: `${method} ${path}`,
      stage: '$default',
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
      ...(route.auth === 'public'
        ? {}
        : {
            authorizer: {
              jwt: {
                claims: {
                  iss: 'https://idp.example',
                  sub: 'cold-user',
                  name: 'Cold Start',
                  email: 'cold@example.com',
                  email_verified: 'true',
                  groups: '[Sales]',
                  iat: String(now),
                  exp: String(now + 600),
                },
                scopes: null,
              },
            },
          }),
    },
    isBase64Encoded: false,
  };
}

function timeSpawn(args: readonly string[], env: NodeJS.ProcessEnv): { ms: number; stdout: string } {
  const start = process.hrtime.bigint();
  const child = spawnSync(process.execPath, args, { env, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (child.status !== 0) throw new Error(`cold-start child exited ${child.status}: ${child.stderr.slice(0, 500)}`);
  return { ms, stdout: child.stdout };
}

/**
 * Bundles every Lambda entry and times `runs` fresh processes of each to the first response,
 * interleaved with `node -e ''` baselines so machine load touches both alike.
 */
export async function benchColdStart(options: { runs?: number } = {}): Promise<ColdStartRow[]> {
  const runs = options.runs ?? 10;
  const dir = mkdtempSync(join(tmpdir(), 'qtv-cold-'));
  try {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    writeFileSync(keyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    writeFileSync(certPath, await createSelfSignedCertificate({ privateKey, commonName: 'cold start' }));
    const harness = join(dir, 'harness.mjs');
    writeFileSync(harness, HARNESS);
    // Children get only what a Lambda would: no PATH (node is spawned by its absolute path), nothing inherited.
    const env: NodeJS.ProcessEnv = {
      NODE_OPTIONS: '--enable-source-maps',
      QTV_CONFIG: JSON.stringify({
        qlik: { issuer: 'https://qtv.example', keyId: 'cold' },
        signing: { backend: 'file', privateKeyPath: keyPath, certificatePath: certPath },
      }),
    };
    const baseline: number[] = [];
    const rows: ColdStartRow[] = [];
    for (const { name, entry } of lambdaEntries()) {
      const outfile = join(dir, name, 'index.mjs');
      const parts = await bundleLambda(resolve(entry), outfile, false);
      const external = join(dir, `${name}-sdk-external`, 'index.mjs');
      await bundleLambda(resolve(entry), external, true);
      const sample = sampleEvent(name);
      const event = JSON.stringify(sample);
      const wall: number[] = [];
      const wallNoMaps: number[] = [];
      const imports: number[] = [];
      const invokes: number[] = [];
      let status = 0;
      // One unmeasured run warms the file cache for the bundle, as Lambda's would be after download.
      timeSpawn([harness, pathToFileURL(outfile).href, event], env);
      for (let i = 0; i < runs; i++) {
        baseline.push(timeSpawn(['-e', ''], {}).ms);
        const { ms, stdout } = timeSpawn([harness, pathToFileURL(outfile).href, event], env);
        const line = stdout.split('\n').find((l) => l.startsWith(MARKER));
        if (line === undefined) throw new Error(`cold-start harness printed no result for ${name}`);
        const result = JSON.parse(line.slice(MARKER.length)) as { importMs: number; invokeMs: number; status: number };
        wall.push(ms);
        wallNoMaps.push(timeSpawn([harness, pathToFileURL(outfile).href, event], { ...env, NODE_OPTIONS: '' }).ms);
        imports.push(result.importMs);
        invokes.push(result.invokeMs);
        status = result.status;
      }
      rows.push({
        function: name,
        bundleKiB: statSync(outfile).size / 1024,
        sourceMapKiB: statSync(`${outfile}.map`).size / 1024,
        bundleKiBSdkExternal: statSync(external).size / 1024,
        zodKiB: parts.zod / 1024,
        zodLocalesKiB: parts.zodLocales / 1024,
        awsSdkKiB: parts.awsSdk / 1024,
        oursKiB: parts.ours / 1024,
        measured: sample === null ? 'import only' : 'first response',
        firstStatus: status,
        coldStartMedianMs: median(wall),
        coldStartNoSourceMapsMedianMs: median(wallNoMaps),
        nodeBaselineMedianMs: 0,
        oursMedianMs: 0,
        importMedianMs: median(imports),
        firstInvokeMedianMs: median(invokes),
        runs,
      });
    }
    // One baseline for all rows: every `node -e ''` of the run, interleaved with the functions' runs.
    const base = median(baseline);
    return rows.map((row) => ({ ...row, nodeBaselineMedianMs: base, oursMedianMs: row.coldStartMedianMs - base }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
