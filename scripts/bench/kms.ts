/**
 * Benchmark of the KMS signing backend against moto: the per-token median of the full vend path
 * (handler -> claims -> one KMS Sign) beside the bare moto Sign round trip, so the figure shows our
 * own overhead next to moto's. moto's round trip is not AWS's: read the difference, not the totals.
 *
 * Run alone: `npx tsx scripts/bench/kms.ts [--iterations 200]`; scripts/bench.ts imports benchKms.
 */
import { parseArgs } from 'node:util';
import { Logger } from '@aws-lambda-powertools/logger';
import { CreateKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { createHandler } from '../../functions/qlik-jwt/handler.js';
import { parseConfig } from '../../functions/runtime/config.js';
import { createRuntime, SERVICE_NAME } from '../../functions/runtime/wiring.js';
import { loadKmsSigningKey } from '../../functions/signing/kms-signer.js';
import { signCompactJws } from '../../functions/signing/signer.js';
import { httpEvent, lambdaContext } from '../../test/support/events.js';
import { startMotoServer } from '../../test/support/moto-server.js';
import { measureInterleaved, percentile } from './stats.js';

/** Options of {@link benchKms}. */
export interface BenchKmsOptions {
  /** Measured iterations per row. @default 200 */
  readonly iterations?: number;
  /** Unmeasured iterations first (JIT, connection reuse). @default 20 */
  readonly warmup?: number;
}

/** One result row. */
export interface BenchRow {
  readonly name: string;
  readonly medianMs: number;
  readonly p95Ms: number;
  readonly iterations: number;
  readonly note?: string;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/**
 * Starts moto, creates an RSA_2048 key and measures, per token: the bare `Sign` round trip,
 * `signCompactJws` through the KMS signer, and the whole `POST /qlik/jwt` handler.
 */
export async function benchKms(options: BenchKmsOptions = {}): Promise<BenchRow[]> {
  const iterations = options.iterations ?? 200;
  const warmup = options.warmup ?? 20;
  const moto = await startMotoServer();
  try {
    const kms = new KMSClient({
      endpoint: moto.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
      maxAttempts: 1,
    });
    const created = await kms.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' }));
    const keyId = created.KeyMetadata?.KeyId ?? '';
    // A message the size of a real signing input (~600 bytes of base64url header.payload).
    const message = Buffer.from('x'.repeat(600));
    const bareSign = () =>
      kms.send(
        new SignCommand({
          KeyId: keyId,
          Message: message,
          MessageType: 'RAW',
          SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
        }),
      );

    const key = await loadKmsSigningKey(kms, { keyId, kid: 'bench' });
    const claims = {
      iss: 'https://bench',
      sub: 'alice',
      aud: 'qlik.api/login/jwt-session',
      exp: 1,
      pad: 'y'.repeat(300),
    };

    const runtime = createRuntime(
      parseConfig({
        qlik: { issuer: 'https://bench.example.com', keyId: 'bench' },
        identity: { preset: 'generic' },
        signing: { backend: 'kms', keyId },
      }),
      { kms, logger: new Logger({ serviceName: SERVICE_NAME, logLevel: 'SILENT' }) },
    );
    const handler = createHandler(runtime);
    const event = httpEvent({
      claims: { sub: 'alice', name: 'Alice Example', email: 'alice@example.com', email_verified: 'true' },
    });
    const vend = async () => {
      const response = await handler(event, lambdaContext());
      if (response.statusCode !== 200) throw new Error(`vend failed: ${response.statusCode} ${response.body}`);
    };

    const samples = await measureInterleaved(
      [
        { name: 'bare', run: bareSign },
        { name: 'signer', run: () => signCompactJws(claims, key) },
        { name: 'full', run: vend },
      ],
      { rounds: iterations, warmup },
    );
    const [bare = [], signer = [], full = []] = ['bare', 'signer', 'full'].map((name) => samples.get(name));
    const bareMedian = percentile(bare, 50);
    const overBare = (samples: number[]) => {
      const delta = round(percentile(samples, 50) - bareMedian);
      return `${delta >= 0 ? '+' : ''}${delta} ms over bare Sign`;
    };
    const row = (name: string, samples: number[], note?: string): BenchRow => ({
      name,
      medianMs: round(percentile(samples, 50)),
      p95Ms: round(percentile(samples, 95)),
      iterations,
      ...(note !== undefined ? { note } : {}),
    });
    return [
      row('kms: bare moto Sign round trip (SDK)', bare),
      row('kms: signCompactJws via KMS signer', signer, overBare(signer)),
      row('kms: full vend path (POST /qlik/jwt handler)', full, overBare(full)),
    ];
  } finally {
    await moto.stop();
  }
}

/** Formats rows as a plain table. */
export function formatRows(rows: readonly BenchRow[]): string {
  const header = ['name', 'median ms', 'p95 ms', 'n', 'note'];
  const lines = rows.map((r) => [
    r.name,
    r.medianMs.toFixed(3),
    r.p95Ms.toFixed(3),
    String(r.iterations),
    r.note ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...lines.map(fmt)].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { iterations: { type: 'string' }, warmup: { type: 'string' } } });
  benchKms({
    ...(values.iterations !== undefined ? { iterations: Number(values.iterations) } : {}),
    ...(values.warmup !== undefined ? { warmup: Number(values.warmup) } : {}),
  })
    .then((rows) => console.log(formatRows(rows)))
    .catch((error: unknown) => {
      console.error('bench kms failed:', error);
      process.exit(1);
    });
}
