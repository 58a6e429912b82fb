/**
 * `npm run load -- --tenants 50`: the bounded load run of vend-load.ts in multi-tenant mode. The dev server
 * serves N tenants from a registry file (each tenant its own RSA key, issuer and key ID, with a self-signed
 * certificate as its Qlik IdP would hold); callers of every tenant (a tenant claim in their token) are used
 * round-robin, and afterwards EVERY token is checked against its own tenant's certificate, issuer and key ID
 * (plus every Qlik rule, the caller's identity and jti uniqueness). Registry reads are counted per tenant:
 * with a TTL longer than the run, each tenant is read once.
 */
import { generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSelfSignedCertificate } from '../../functions/signing/certificates.js';
import { FileTenantStore, type TenantStore } from '../../functions/tenancy/store.js';
import { startDevServer } from '../dev-server.js';
import { fireTokenRequests, type LoadRunFigures, runFigures, tallyTokens } from './autocannon-run.js';
import { bareSignOpsPerSecond, checkVendResponse, type Expected, loadUsers } from './vend-load.js';

/** What to run. */
export interface TenantLoadOptions {
  /** Registered tenants, all under load. @default 50 */
  readonly tenants?: number;
  /** @default 20000 */
  readonly requests?: number;
  /** @default 64 */
  readonly connections?: number;
  /** Callers per tenant. @default 2 */
  readonly usersPerTenant?: number;
  /** @default 2000 */
  readonly signOps?: number;
  /** Registry cache TTL of the run (the deployment default is 60 s). @default 60 */
  readonly registryTtlSeconds?: number;
}

/** The outcome of one run. */
export interface TenantLoadReport extends LoadRunFigures {
  readonly tenants: number;
  readonly requests: number;
  readonly connections: number;
  readonly callers: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly responses: number;
  /** 200 responses whose token failed a check against its own tenant. */
  readonly invalid: number;
  readonly duplicateJti: number;
  /** Registry reads per tenant over warm-up and run: min and max over tenants. */
  readonly registryReadsPerTenant: { readonly min: number; readonly max: number };
  readonly registryTtlSeconds: number;
  readonly problems: readonly string[];
}

const CLAIM = 'org_id';

interface FixtureTenant {
  readonly id: string;
  readonly issuer: string;
  readonly keyId: string;
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
}

/** Writes N tenants (keys, certificates, registry file) into `dir`. */
async function writeTenants(dir: string, count: number): Promise<{ tenants: FixtureTenant[]; registryPath: string }> {
  const tenants: FixtureTenant[] = [];
  const items = [];
  for (let i = 0; i < count; i++) {
    const id = `tenant-${String(i).padStart(3, '0')}`;
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyPath = join(dir, `${id}.pem`);
    writeFileSync(keyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), { mode: 0o600 });
    // The certificate the tenant's Qlik IdP would hold; tokens are verified with its public key.
    const certificate = new X509Certificate(await createSelfSignedCertificate({ privateKey, commonName: id }));
    const tenant = {
      id,
      issuer: `https://qtv.load.example/${id}`,
      keyId: `${id}-kid`,
      publicKey: certificate.publicKey,
      privateKey,
    };
    tenants.push(tenant);
    items.push({
      id,
      status: 'active',
      version: 1,
      qlik: { tenantHost: `${id}.eu.qlikcloud.com`, issuer: tenant.issuer, keyId: tenant.keyId },
      identity: { preset: 'generic' },
      signing: { backend: 'file', privateKeyPath: keyPath },
    });
  }
  const registryPath = join(dir, 'tenants.json');
  writeFileSync(registryPath, JSON.stringify({ tenants: items }));
  return { tenants, registryPath };
}

/** Runs the multi-tenant load and checks every token against its own tenant. */
export async function runTenantLoad(options: TenantLoadOptions = {}): Promise<TenantLoadReport> {
  const tenantCount = options.tenants ?? 50;
  const requests = options.requests ?? 20_000;
  const connections = options.connections ?? 64;
  const usersPerTenant = options.usersPerTenant ?? 2;
  const signOps = options.signOps ?? 2000;
  const ttl = options.registryTtlSeconds ?? 60;
  const dir = mkdtempSync(join(tmpdir(), 'qtv-tenant-load-'));
  try {
    const { tenants, registryPath } = await writeTenants(dir, tenantCount);
    const reads = new Map<string, number>();
    const file = new FileTenantStore(registryPath);
    const counting: TenantStore = {
      description: file.description,
      get: (id) => {
        reads.set(id, (reads.get(id) ?? 0) + 1);
        return file.get(id);
      },
    };
    const dev = await startDevServer({
      host: '127.0.0.1',
      port: 0,
      localDir: dir,
      logLevel: 'SILENT',
      config: () => ({
        qlik: { issuer: 'https://qtv.load.example/shared', keyId: 'shared' },
        signing: { backend: 'file', privateKeyPath: join(dir, `${tenants[0]!.id}.pem`) },
        tenancy: { tenantClaim: CLAIM, registry: { backend: 'file', path: registryPath, cacheTtlSeconds: ttl } },
      }),
      runtimeOverrides: { tenancy: { store: counting } },
    });
    try {
      const people = loadUsers(usersPerTenant);
      const callers: Array<{ tenant: FixtureTenant; expected: Expected; token: string }> = [];
      for (const tenant of tenants)
        for (const person of people) {
          const sub = `${person.sub}@${tenant.id}`;
          const request = { ...person, sub, name: person.name!, email: `${sub.replace('@', '.')}@example.com` };
          callers.push({
            tenant,
            expected: { sub, name: request.name, email: request.email, groups: person.groups },
            token: await dev.identityProvider.mint(request, { [CLAIM]: tenant.id }),
          });
        }
      const fire = (amount: number, keep: boolean) =>
        fireTokenRequests({
          url: dev.url,
          amount,
          connections,
          callers: callers.length,
          headersFor: (caller) => ({ authorization: `Bearer ${callers[caller]!.token}` }),
          keep,
        });
      // Warm-up: every caller at least once (registry reads, key parses, JIT), none of it measured.
      await fire(Math.max(callers.length * 2, Math.min(1000, Math.ceil(requests / 10))), false);
      // The bare-sign ceiling signs a real signing input of this run (same size as the tokens').
      const first = (await (
        await fetch(`${dev.url}/qlik/jwt`, {
          method: 'POST',
          headers: { authorization: `Bearer ${callers[0]!.token}` },
        })
      ).json()) as { token: string };
      const sample = Buffer.from(first.token.split('.').slice(0, 2).join('.'));
      const bareKey = tenants[0]!.privateKey;
      const before = bareSignOpsPerSecond(bareKey, sample, signOps);
      const run = await fire(requests, true);
      const { result } = run;
      const after = bareSignOpsPerSecond(bareKey, sample, signOps);

      // Every token against its own tenant's certificate, issuer and key ID.
      const tally = tallyTokens(run.responses, (response) => {
        const caller = callers[response.caller]!;
        const verdict = checkVendResponse(
          response.body,
          caller.expected,
          caller.tenant.publicKey,
          Math.floor(response.atMs / 1000),
          { issuer: caller.tenant.issuer, keyId: caller.tenant.keyId },
        );
        return verdict.problem === undefined ? verdict : { problem: `${caller.tenant.id}: ${verdict.problem}` };
      });
      const { ok, non2xx, invalid, duplicateJti, problems } = tally;
      const readCounts = tenants.map((t) => reads.get(t.id) ?? 0);
      return {
        tenants: tenantCount,
        requests,
        connections,
        callers: callers.length,
        ok,
        non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        responses: run.responses.length,
        invalid,
        duplicateJti,
        registryReadsPerTenant: { min: Math.min(...readCounts), max: Math.max(...readCounts) },
        registryTtlSeconds: ttl,
        problems,
        ...runFigures(run, tally, requests, { before, after }),
      };
    } finally {
      await dev.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
