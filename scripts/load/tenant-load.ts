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
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { createSelfSignedCertificate } from '../../functions/signing/certificates.js';
import { FileTenantStore, type TenantStore } from '../../functions/tenancy/store.js';
import { startDevServer } from '../dev-server.js';
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
export interface TenantLoadReport {
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
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly wallSeconds: number;
  readonly tokensPerSecond: number;
  readonly bareSignOpsPerSecond: { readonly before: number; readonly after: number; readonly mean: number };
  readonly ratioToBareSign: number;
  readonly node: string;
  readonly cpus: number;
  readonly passed: boolean;
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
      const collected: Array<{ status: number; body: string; caller: number; atMs: number }> = [];
      let next = 0;
      const fire = (amount: number, keep: boolean) =>
        autocannon({
          url: dev.url,
          connections: Math.min(connections, amount),
          amount,
          timeout: 30,
          requests: [
            {
              method: 'POST',
              path: '/qlik/jwt',
              setupRequest: (request, context) => {
                const caller = next++ % callers.length;
                context.caller = caller;
                return {
                  ...request,
                  headers: { ...request.headers, authorization: `Bearer ${callers[caller]!.token}` },
                };
              },
              onResponse: (status, body, context) => {
                if (keep) collected.push({ status, body, caller: context.caller as number, atMs: Date.now() });
              },
            },
          ],
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
      next = 0;
      const start = process.hrtime.bigint();
      const result = await fire(requests, true);
      const wallSeconds = Number(process.hrtime.bigint() - start) / 1e9;
      const after = bareSignOpsPerSecond(bareKey, sample, signOps);

      const jtis = new Set<string>();
      const problems: string[] = [];
      let ok = 0;
      let non2xx = 0;
      let invalid = 0;
      let duplicateJti = 0;
      const note = (problem: string) => {
        if (problems.length < 10) problems.push(problem);
      };
      for (const response of collected) {
        if (response.status !== 200) {
          non2xx++;
          note(`status ${response.status}: ${response.body.slice(0, 200)}`);
          continue;
        }
        ok++;
        const caller = callers[response.caller]!;
        const verdict = checkVendResponse(
          response.body,
          caller.expected,
          caller.tenant.publicKey,
          Math.floor(response.atMs / 1000),
          { issuer: caller.tenant.issuer, keyId: caller.tenant.keyId },
        );
        if (verdict.problem !== undefined) {
          invalid++;
          note(`${caller.tenant.id}: ${verdict.problem}`);
        } else if (verdict.jti !== undefined) {
          if (jtis.has(verdict.jti)) duplicateJti++;
          else jtis.add(verdict.jti);
        }
      }
      const readCounts = tenants.map((t) => reads.get(t.id) ?? 0);
      const mean = (before + after) / 2;
      const tokensPerSecond = ok / wallSeconds;
      return {
        tenants: tenantCount,
        requests,
        connections,
        callers: callers.length,
        ok,
        non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
        responses: collected.length,
        invalid,
        duplicateJti,
        registryReadsPerTenant: { min: Math.min(...readCounts), max: Math.max(...readCounts) },
        registryTtlSeconds: ttl,
        problems,
        latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
        wallSeconds,
        tokensPerSecond,
        bareSignOpsPerSecond: { before, after, mean },
        ratioToBareSign: tokensPerSecond / mean,
        node: process.version,
        cpus: cpus().length,
        passed:
          ok === requests &&
          collected.length === requests &&
          non2xx === 0 &&
          result.errors === 0 &&
          result.timeouts === 0 &&
          invalid === 0 &&
          duplicateJti === 0 &&
          jtis.size === requests,
      };
    } finally {
      await dev.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
