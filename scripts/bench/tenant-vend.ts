/**
 * `npm run bench -- --only tenant-vend`: the per-token cost of multi-tenant mode against the single-tenant
 * path, both through the real `POST /qlik/jwt` handler (middy, caller claims, mapping, JWS, RSA signature,
 * audit line), interleaved round by round with a bare `crypto.sign` so machine noise hits all cases alike.
 * The multi-tenant case spreads its calls over 50 tenants (each its own key, registry item and signer, all
 * cached after the first call, as in a warm function); the figure to read is `ratioToSingleTenant`.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { createHandler } from '../../functions/qlik-jwt/handler.js';
import { systemClock } from '../../functions/runtime/clock.js';
import { parseConfig } from '../../functions/runtime/config.js';
import { createRuntime, secretSignerSource } from '../../functions/runtime/wiring.js';
import { MemorySecretStore } from '../../functions/secrets/secret-source.js';
import { parseRsaPrivateKey, signingKeyFromSecret } from '../../functions/signing/signing-key.js';
import { MemoryTenantStore } from '../../functions/tenancy/store.js';
import { tenantItemSchema } from '../../functions/tenancy/tenant.js';
import { measureInterleaved, median, pairedRatio } from './stats.js';

const TENANTS = 50;
const CLAIM = 'org_id';

/** A Powertools logger at INFO (audit lines are built and serialized, as in Lambda) writing nowhere. */
function discardingLogger(): Logger {
  const logger = new Logger({ serviceName: 'qlik-token-vending', logLevel: 'INFO' });
  const sink = () => {};
  (logger as unknown as { console: unknown }).console = {
    log: sink,
    info: sink,
    warn: sink,
    error: sink,
    debug: sink,
    trace: sink,
  };
  return logger;
}

function event(claims: Record<string, unknown>) {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const flat = Object.fromEntries(
    Object.entries(claims).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
  );
  return {
    version: '2.0',
    routeKey: 'POST /qlik/jwt',
    rawPath: '/qlik/jwt',
    rawQueryString: '',
    headers: { authorization: `Bearer ${encode({ alg: 'RS256' })}.${encode(claims)}.c2ln` },
    requestContext: {
      http: { method: 'POST', path: '/qlik/jwt' },
      authorizer: { jwt: { claims: flat, scopes: null } },
    },
    isBase64Encoded: false,
  } as never;
}

const context = { awsRequestId: 'bench', functionName: 'bench', getRemainingTimeInMillis: () => 10_000 } as never;

/** Runs the comparison. */
export async function benchTenantVend(options: { rounds?: number } = {}): Promise<Array<Record<string, unknown>>> {
  const now = Math.floor(Date.now() / 1000);
  const base = { iss: 'https://idp.example', iat: now, exp: now + 3600, email_verified: true };
  // Single tenant: one key, the deployment's own configuration.
  const singlePem = generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ format: 'pem', type: 'pkcs8' })
    .toString();
  const singleKey = await signingKeyFromSecret(singlePem, { fallbackKid: 'single' });
  // The signer source the functions build (runtime/wiring.ts) over the key secret, as the tenants' are.
  const singleSigners = secretSignerSource({
    store: new MemorySecretStore({ 'qtv/signing-key': singlePem }),
    secretId: 'qtv/signing-key',
    ttlMs: 3_600_000,
    clock: systemClock,
    logger: discardingLogger(),
    fallbackKid: 'single',
  });
  const single = createHandler(
    createRuntime(
      parseConfig({ qlik: { issuer: 'https://qtv.example' }, signing: { backend: 'file', privateKeyPath: 'x' } }),
      {
        logger: discardingLogger(),
        signers: singleSigners,
      },
    ),
  );
  // Multi-tenant: 50 tenants, each its own key secret.
  const secrets = new MemorySecretStore();
  const items = [];
  for (let i = 0; i < TENANTS; i++) {
    const id = `t${i}`;
    secrets.set(
      `qtv/tenants/${id}`,
      generateKeyPairSync('rsa', { modulusLength: 2048 })
        .privateKey.export({ format: 'pem', type: 'pkcs8' })
        .toString(),
    );
    items.push(
      tenantItemSchema.parse({
        id,
        status: 'active',
        version: 1,
        qlik: { tenantHost: `${id}.eu.qlikcloud.com`, issuer: `https://qtv.example/${id}`, keyId: `${id}-kid` },
        identity: { preset: 'generic' },
        signing: { backend: 'secrets-manager', secretId: `qtv/tenants/${id}` },
      }),
    );
  }
  const multi = createHandler(
    createRuntime(
      parseConfig({
        qlik: { issuer: 'https://qtv.example' },
        signing: { backend: 'file', privateKeyPath: 'x' },
        tenancy: { tenantClaim: CLAIM, registry: { backend: 'dynamodb', tableName: 'bench', cacheTtlSeconds: 3600 } },
      }),
      {
        logger: discardingLogger(),
        signers: { current: async () => singleKey },
        tenancy: { store: new MemoryTenantStore(items), secretStore: secrets },
      },
    ),
  );
  const singleEvent = event({ ...base, sub: 'ada', email: 'ada@example.com' });
  // The single-tenant handler also with 50 callers in turn: the multi-tenant case's events differ per tenant,
  // and this row shows whether cycling through 50 events (not 50 tenants) is what costs (it measured 1.003-1.009).
  const singleEvents = items.map((_, i) => event({ ...base, sub: `ada-${i}`, email: `ada-${i}@example.com` }));
  let nextSingle = 0;
  const tenantEvents = items.map((item) => event({ ...base, sub: 'ada', email: 'ada@example.com', [CLAIM]: item.id }));
  // Warm every tenant (registry read, key parse) before measuring: the bench is about a warm function.
  for (const e of tenantEvents) {
    const result = (await multi(e, context)) as { statusCode: number; body: string };
    if (result.statusCode !== 200) throw new Error(`warm-up failed: ${result.body}`);
  }
  if (((await single(singleEvent, context)) as { statusCode: number }).statusCode !== 200)
    throw new Error('single warm-up failed');
  const bareKey = parseRsaPrivateKey(singlePem);
  const sample = JSON.parse(((await single(singleEvent, context)) as { body: string }).body) as { token: string };
  const signingInput = Buffer.from(sample.token.split('.').slice(0, 2).join('.'));
  // Signing with 50 different keys in turn is itself a little slower than with one (key material leaves the
  // CPU caches); this baseline separates that from what the multi-tenant code adds.
  const tenantKeys = await Promise.all(
    items.map(async (item) => parseRsaPrivateKey((await secrets.fetch(`qtv/tenants/${item.id}`)).value)),
  );
  let nextKey = 0;
  let next = 0;
  const samples = await measureInterleaved(
    [
      { name: 'bare crypto.sign', run: () => sign('sha256', signingInput, bareKey) },
      {
        name: `bare crypto.sign (${TENANTS} keys in turn)`,
        run: () => sign('sha256', signingInput, tenantKeys[nextKey++ % TENANTS]!),
      },
      { name: 'POST /qlik/jwt single-tenant', run: () => single(singleEvent, context) },
      {
        name: `POST /qlik/jwt single-tenant (${TENANTS} callers in turn)`,
        run: () => single(singleEvents[nextSingle++ % TENANTS]!, context),
      },
      {
        name: `POST /qlik/jwt multi-tenant (${TENANTS} tenants round-robin)`,
        run: () => multi(tenantEvents[next++ % TENANTS]!, context),
      },
    ],
    { rounds: options.rounds ?? 1500 },
  );
  const bare = samples.get('bare crypto.sign')!;
  const bareTenantKeys = samples.get(`bare crypto.sign (${TENANTS} keys in turn)`)!;
  const singleSamples = samples.get('POST /qlik/jwt single-tenant')!;
  return [...samples].map(([name, list]) => ({
    case: name,
    medianMs: median(list),
    ratioToBareSign: pairedRatio(list, bare),
    ratioToBareSignOf50Keys: pairedRatio(list, bareTenantKeys),
    ratioToSingleTenant: pairedRatio(list, singleSamples),
    samples: list.length,
  }));
}
