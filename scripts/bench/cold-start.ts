/**
 * Cold start of each Lambda function: bundle size, and wall time from spawning a fresh `node` process
 * to the function's first response, next to `node -e ''` and two minimal Lambdas the bench builds
 * itself (scripts/bench/anchors/: node:crypto alone; a Secrets Manager client at init), in the same
 * rounds.
 *
 * Bundles are built the way the TokenFunction construct (infra/constructs/token-function.ts) asks
 * NodejsFunction to: ESM, minified, platform node, target node24, main fields module/main, the
 * createRequire banner, an external source map without sources, nothing external (the AWS SDK is
 * bundled: the runtime's own SDK version is not pinned), and the `define`s synth gives each function
 * for the bench configuration (functions/runtime/bundle-flags.ts). Each bundle is loaded from a
 * temporary folder with no node_modules, so a successful run also proves the bundle is self-contained.
 *
 * The configuration is a deployment's: the signing key in Secrets Manager (a moto server this bench
 * starts; every first request really fetches it), the OAuth proxy with impersonation against the tenant
 * emulator (so `qlik-access-token` answers 200), tracing on and, in a second set of rows, off.
 * NODE_OPTIONS=--enable-source-maps for every process, as the construct sets it. Measured on Node on this
 * machine, not on Lambda: Lambda adds its own runtime start, and its CPU share depends on the memory size.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { build } from 'esbuild';
import { routes, routesFor } from '../../functions/routes.js';
import {
  type BundleFlags,
  bundleDefines,
  bundleFlagsFor,
  functionConfigFor,
  rotationBundleFlags,
} from '../../functions/runtime/bundle-flags.js';
import { parseConfig } from '../../functions/runtime/config.js';
import { createSelfSignedCertificate } from '../../functions/signing/certificates.js';
import { startMotoServer } from '../../test/support/moto-server.js';
import { startTenantEmulator, type TenantEmulator } from '../../test/support/tenant-emulator/index.js';
import { authenticatedCaller, callerEvent } from '../dev/caller-event.js';
import { median, pairedRatio, percentile, roundOrders } from './stats.js';

/** One row per measured function (ours, and the two anchors the bench builds itself). */
export interface ColdStartRow {
  readonly function: string;
  /** `ours` or `anchor` (a minimal Lambda built by the bench, scripts/bench/anchors/). */
  readonly kind: 'ours' | 'anchor';
  /** The esbuild defines it was bundled with (synth's choice for the bench configuration). */
  readonly flags: string;
  /** Minified ESM bundle, SDK included (as deployed). */
  readonly bundleKiB: number;
  /** Its source map (deployed beside it; read at load because of --enable-source-maps). */
  readonly sourceMapKiB: number;
  /** Bytes of the bundle from zod, from the AWS SDK (@aws-sdk, @smithy), and from our own code. */
  readonly zodKiB: number;
  readonly awsSdkKiB: number;
  readonly oursKiB: number;
  /** `first response` for API routes; `import only` for other entries (no invocation). */
  readonly measured: 'first response' | 'import only';
  /** Status of the first response in every run (a check that the handler really ran); 0 when not invoked. */
  readonly firstStatus: number;
  /** Median wall time from spawn to exit after the first response, N fresh processes. */
  readonly coldStartMedianMs: number;
  /** Median of `node -e ''` measured in the same rounds. */
  readonly nodeBaselineMedianMs: number;
  /** coldStartMedianMs - nodeBaselineMedianMs: what the function's code costs. */
  readonly overNodeMs: number;
  /** Median over rounds of this function's time ÷ the minimal node:crypto Lambda's in the same round. */
  readonly ratioToMinimalCrypto: number;
  /** Median over rounds of this function's time ÷ the minimal Secrets Manager Lambda's in the same round. */
  readonly ratioToMinimalSecretsManager: number;
  /** 25th–75th percentile of those per-round ratios to the minimal Secrets Manager Lambda. */
  readonly ratioToMinimalSecretsManagerIqr: string;
  /** Inside the process: median time to import the bundle (module evaluation, config, runtime). */
  readonly importMedianMs: number;
  /** Inside the process: median time of the first invocation (key fetch and parse, first signature). */
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
  status: result && result.statusCode,
  refused: result && result.statusCode !== 200 ? String(result.body).slice(0, 400) : undefined }) + '\\n');
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

/**
 * The claims of the bench's caller token, with their JSON types. The tenant emulator knows this subject
 * (impersonation looks the user up).
 */
export function benchCallerClaims(nowSeconds = Math.floor(Date.now() / 1000)): Record<string, unknown> {
  return {
    iss: 'https://idp.example',
    sub: BENCH_USER.subject,
    name: 'Cold Start',
    email: 'cold@example.com',
    email_verified: true,
    groups: ['Sales'],
    iat: nowSeconds,
    exp: nowSeconds + 600,
  };
}

/**
 * A sample API Gateway event for an HTTP route's entry; null for entries that are not HTTP routes. A caller
 * route's event carries the caller token in `Authorization` and its claims in the authorizer context, as API
 * Gateway sends it (scripts/dev/caller-event.ts): the function reads and binds both.
 */
export function sampleEvent(entry: string): unknown {
  // The anchors answer the same event as POST /qlik/jwt.
  const route = entry.startsWith('scripts/bench/anchors/')
    ? routes.find((r) => r.id === 'QlikJwt')
    : routes.find((r) => r.entry === entry);
  // Not an API route (e.g. the Secrets Manager rotation function): its cold start is measured to the
  // end of the import only, since a first invocation would need that service's event and AWS.
  if (route === undefined) return null;
  return callerEvent({
    method: route.method,
    path: route.path,
    host: 'cold.example',
    requestId: 'cold-1',
    ...(route.auth === 'public' ? {} : { caller: authenticatedCaller(benchCallerClaims()) }),
  });
}

interface HarnessResult {
  readonly importMs: number;
  readonly invokeMs: number;
  readonly status: number;
  /** The start of the body of a non-200 answer. */
  readonly refused?: string;
}

function resultLine(stdout: string, name: string): HarnessResult {
  const line = stdout.split('\n').find((l) => l.startsWith(MARKER));
  if (line === undefined) throw new Error(`cold-start harness printed no result for ${name}`);
  return JSON.parse(line.slice(MARKER.length)) as HarnessResult;
}

function timeSpawn(args: readonly string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; stdout: string }> {
  // Asynchronous: the tenant emulator answering qlik-access-token runs in this process's event loop.
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-2000);
    });
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (code !== 0) reject(new Error(`cold-start child exited ${code}: ${stderr.slice(0, 800)}`));
      else resolve({ ms, stdout });
    });
  });
}

/** One kind of fresh process the bench times. */
interface ColdCase {
  readonly name: string;
  readonly kind: 'ours' | 'anchor' | 'baseline';
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly outfile?: string;
  readonly parts?: Breakdown;
  readonly flags?: string;
  readonly invoked?: boolean;
}

const BENCH_USER = { subject: 'cold-user', name: 'Cold Start', email: 'cold@example.com', groups: ['Sales'] };

/**
 * The configuration the bench deploys, as synth would see it: the signing key in Secrets Manager (moto),
 * the OAuth proxy with impersonation against the tenant emulator, so every API function answers 200.
 */
function benchConfig(secretIds: Record<'signing' | 'web' | 'imp', string>, tenant: TenantEmulator, tracing: boolean) {
  return parseConfig({
    qlik: { tenantHost: tenant.tenantHost, issuer: 'https://qtv.example', keyId: 'cold' },
    signing: { backend: 'secrets-manager', secretId: secretIds.signing },
    oauth: {
      tenantUrl: tenant.url,
      clientId: 'cold-web',
      clientSecretId: secretIds.web,
      redirectUris: ['https://qtv.example/oauth/callback'],
      mode: 'json',
      impersonation: { enabled: true, clientId: 'cold-imp', clientSecretId: secretIds.imp },
    },
    deployment: { tracing },
  });
}

/**
 * Bundles every API function and the rotation function with the defines synth gives them for the bench
 * configuration, plus two anchors (scripts/bench/anchors/), and times `runs` fresh processes of each to
 * the first response, round by round (every case once per round, in a new shuffled order each round), next to
 * `node -e ''`. Ratios are medians of per-round ratios, so a slow phase of the shared machine falls on
 * both sides of each ratio.
 */
export async function benchColdStart(options: { runs?: number } = {}): Promise<ColdStartRow[]> {
  // 30 rounds: on a shared machine 10 left per-round ratios spread over more than 2x (load average 15), and
  // even idle the per-round ratios' interquartile range is about ±0.1, so the median of 20 still moved by
  // ±0.04 from run to run; 30 narrow that by a fifth (issue #15).
  const runs = options.runs ?? 30;
  const dir = mkdtempSync(join(tmpdir(), 'qtv-cold-'));
  const moto = await startMotoServer();
  const tenant = await startTenantEmulator({
    users: [BENCH_USER],
    clients: [
      { clientId: 'cold-web', secrets: ['cold-web-secret'], redirectUris: ['https://qtv.example/oauth/callback'] },
      { clientId: 'cold-imp', secrets: ['cold-imp-secret'], impersonation: true },
    ],
  });
  try {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const keyPath = join(dir, 'key.pem');
    writeFileSync(keyPath, pem, { mode: 0o600 });
    const certificate = await createSelfSignedCertificate({ privateKey, commonName: 'cold start' });
    const aws = {
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'cold-start',
      AWS_SECRET_ACCESS_KEY: 'cold-start',
    };
    const secrets = new SecretsManagerClient({
      endpoint: moto.endpoint,
      region: aws.AWS_REGION,
      credentials: {
        accessKeyId: aws.AWS_ACCESS_KEY_ID,
        secretAccessKey: aws.AWS_SECRET_ACCESS_KEY,
      },
    });
    const put = async (name: string, value: string) =>
      (await secrets.send(new CreateSecretCommand({ Name: name, SecretString: value }))).ARN!;
    const secretIds = {
      // As `qtv secret put` stores it: the key with its kid and certificate.
      signing: await put('cold/signing-key', JSON.stringify({ privateKey: pem, kid: 'cold', certificate })),
      web: await put('cold/web-client', 'cold-web-secret'),
      imp: await put('cold/imp-client', 'cold-imp-secret'),
      anchor: await put('cold/anchor-key', pem),
    };
    const harness = join(dir, 'harness.mjs');
    writeFileSync(harness, HARNESS);
    // Children get only what a Lambda would: no PATH (node is spawned by its absolute path), nothing inherited.
    const baseEnv = { NODE_OPTIONS: '--enable-source-maps', ...aws };
    const cases: ColdCase[] = [{ name: "node -e ''", kind: 'baseline', args: ['-e', ''], env: {} }];
    const add = async (
      name: string,
      kind: 'ours' | 'anchor',
      entry: string,
      env: NodeJS.ProcessEnv,
      flags?: BundleFlags,
    ) => {
      const outfile = join(dir, name, 'index.mjs');
      const parts = await bundleLambda(resolve(entry), outfile, false, flags ? bundleDefines(flags) : {});
      const event = sampleEvent(entry);
      cases.push({
        name,
        kind,
        args: [harness, pathToFileURL(outfile).href, JSON.stringify(event)],
        env,
        outfile,
        parts,
        flags:
          flags === undefined
            ? ''
            : Object.entries(flags)
                .filter(([, on]) => on)
                .map(([f]) => f.replace('QTV_BUNDLE_', '').toLowerCase())
                .join(' '),
        invoked: event !== null,
      });
    };
    await add('minimal node:crypto Lambda', 'anchor', 'scripts/bench/anchors/minimal-crypto-lambda.ts', {
      ...baseEnv,
      ANCHOR_KEY_PATH: keyPath,
    });
    await add('minimal Secrets Manager Lambda', 'anchor', 'scripts/bench/anchors/minimal-secrets-manager-lambda.ts', {
      ...baseEnv,
      ANCHOR_SECRET_ID: secretIds.anchor,
    });
    // The configuration `qlik-jwt` gets (functionConfigFor: no `deployment`, no `oauth` in its bundle's QTV_CONFIG).
    const jwtRoute = routes.find((route) => route.id === 'QlikJwt')!;
    const configOnlyConfig = benchConfig(secretIds, tenant, false);
    const configOnlyEnv = {
      ...baseEnv,
      QTV_CONFIG: JSON.stringify(functionConfigFor(configOnlyConfig, bundleFlagsFor(jwtRoute, configOnlyConfig))),
    };
    await add(
      'configuration alone (zod, schemas, one parse)',
      'anchor',
      'scripts/bench/anchors/config-only.ts',
      configOnlyEnv,
    );
    // Before per-route bundles every function carried everything: the same entry with every flag on.
    {
      const config = benchConfig(secretIds, tenant, true);
      const runtimeConfig = functionConfigFor(config);
      const everything = Object.fromEntries(
        Object.keys(bundleFlagsFor(routes[0]!, config)).map((flag) => [flag, true]),
      ) as unknown as BundleFlags;
      await add(
        'qlik-jwt (everything bundled, as before)',
        'ours',
        'functions/qlik-jwt/index.ts',
        { ...baseEnv, QTV_CONFIG: JSON.stringify(runtimeConfig) },
        everything,
      );
    }
    for (const tracing of [true, false]) {
      const config = benchConfig(secretIds, tenant, tracing);
      // Each function with the QTV_CONFIG synth gives it (functionConfigFor, as the construct calls it).
      const envFor = (flags: BundleFlags) => ({
        ...baseEnv,
        QTV_CONFIG: JSON.stringify(functionConfigFor(config, flags)),
      });
      const suffix = tracing ? '' : ' (tracing off)';
      for (const route of routesFor(config)) {
        if (route.requires === 'oauth') continue; // OAuth redirect/cookie routes: not measured here
        const flags = bundleFlagsFor(route, config);
        await add(`${route.entry.split('/')[1]}${suffix}`, 'ours', route.entry, envFor(flags), flags);
      }
      const rotationFlags = rotationBundleFlags(config);
      await add(
        `rotate-signing-key${suffix}`,
        'ours',
        'functions/rotate-signing-key/index.ts',
        envFor(rotationFlags),
        rotationFlags,
      );
    }
    // One unmeasured run of each warms the file cache for the bundle, as Lambda's would be after download.
    // It also checks the events: every function that is invoked must answer 200, or its row would time a
    // refusal (a 401 answers before any key is fetched or token signed), not a first token.
    for (const c of cases) {
      const { stdout } = await timeSpawn(c.args, c.env);
      if (c.kind === 'baseline' || !c.invoked) continue;
      const result = resultLine(stdout, c.name);
      if (result.status !== 200)
        throw new Error(
          `cold-start: ${c.name} answered ${result.status} to the bench's event, not 200: ${result.refused ?? ''}`,
        );
    }
    const wall = new Map<string, number[]>(cases.map((c) => [c.name, []]));
    const inside = new Map<string, HarnessResult[]>(cases.map((c) => [c.name, []]));
    const orders = roundOrders(cases.length, runs);
    for (let round = 0; round < runs; round++) {
      for (let k = 0; k < cases.length; k++) {
        const c = cases[orders[round]![k]!]!;
        const { ms, stdout } = await timeSpawn(c.args, c.env);
        wall.get(c.name)!.push(ms);
        if (c.kind === 'baseline') continue;
        inside.get(c.name)!.push(resultLine(stdout, c.name));
      }
    }
    const base = wall.get("node -e ''")!;
    const crypto = wall.get('minimal node:crypto Lambda')!;
    const sm = wall.get('minimal Secrets Manager Lambda')!;
    const rows = cases
      .filter((c) => c.kind !== 'baseline')
      .map((c): ColdStartRow => {
        const times = wall.get(c.name)!;
        const results = inside.get(c.name)!;
        const statuses = [...new Set(results.map((r) => r.status))];
        const toSm = times.map((t, i) => t / sm[i]!);
        return {
          function: c.name,
          kind: c.kind as 'ours' | 'anchor',
          flags: c.flags ?? '',
          bundleKiB: statSync(c.outfile!).size / 1024,
          sourceMapKiB: statSync(`${c.outfile!}.map`).size / 1024,
          zodKiB: c.parts!.zod / 1024,
          awsSdkKiB: c.parts!.awsSdk / 1024,
          oursKiB: c.parts!.ours / 1024,
          measured: c.invoked ? 'first response' : 'import only',
          // Every run must have answered the same status; a mix shows as 0.
          firstStatus: statuses.length === 1 ? statuses[0]! : 0,
          coldStartMedianMs: median(times),
          nodeBaselineMedianMs: median(base),
          overNodeMs: median(times) - median(base),
          ratioToMinimalCrypto: pairedRatio(times, crypto),
          ratioToMinimalSecretsManager: median(toSm),
          ratioToMinimalSecretsManagerIqr: `${percentile(toSm, 25).toFixed(2)}–${percentile(toSm, 75).toFixed(2)}`,
          importMedianMs: median(results.map((r) => r.importMs)),
          firstInvokeMedianMs: median(results.map((r) => r.invokeMs)),
          runs,
        };
      });
    // A row whose function answered anything but 200 in any round times no first token: refuse to report it.
    const refused = rows.filter((r) => r.measured === 'first response' && r.firstStatus !== 200);
    if (refused.length > 0)
      throw new Error(
        `cold-start: not every round answered 200: ${refused.map((r) => `${r.function} (${r.firstStatus})`).join(', ')}`,
      );
    return rows;
  } finally {
    await tenant.close();
    await moto.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
