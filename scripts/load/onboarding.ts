/**
 * `npm run load -- --tenants 1 --onboard 2`: issue #17's "Done when" as a run anyone can repeat. New tenants
 * are onboarded with the real `qtv tenant add` (child processes of scripts/qtv.mjs, as an operator runs it)
 * against moto (DynamoDB registry, Secrets Manager keys and client secrets) and the multi-tenant Qlik emulator
 * (each tenant its own emulated Qlik Cloud tenant), while a bounded load runs `POST /qlik/jwt` for the callers
 * of the tenants already onboarded, through the dev server reading the same DynamoDB registry. Then:
 * - every load response must be 200 with a token that verifies against its tenant's certificate as Qlik holds
 *   it (the emulator's JWT IdP), with that tenant's issuer and key ID, the caller's identity and a unique jti;
 * - every onboarding must have finished while the load was still running;
 * - each tenant's users (new and old) get tokens that their own emulated Qlik accepts at `/login/jwt-session`
 *   (with the web integration `qtv tenant add` created there) and every other tenant's Qlik refuses.
 * moto is started here (moto_server on a free port) unless `awsEndpoint` names a running one.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import autocannon from 'autocannon';
import { QlikRestIdentityProviders } from '../../functions/qlik/identity-providers.js';
import { DynamoDbTenantStore } from '../../functions/tenancy/store.js';
import { runQtv } from '../../test/support/cli.js';
import { startMotoServer } from '../../test/support/moto-server.js';
import { type MultiTenantEmulator, startMultiTenantEmulator } from '../../test/support/multi-tenant-emulator.js';
import { type DevServer, startDevServer } from '../dev-server.js';
import { checkVendResponse, type Expected, loadUsers } from './vend-load.js';

/** What to run. */
export interface OnboardingLoadOptions {
  /** Tenants onboarded before the run; their callers make the load. @default 1 */
  readonly tenants?: number;
  /** Tenants onboarded with `qtv tenant add` during the load. @default 2 */
  readonly onboard?: number;
  /** At least this many requests; the load goes on (in batches) until every onboarding has finished. @default 10000 */
  readonly requests?: number;
  /** @default 32 */
  readonly connections?: number;
  /** Callers per tenant. @default 4 */
  readonly usersPerTenant?: number;
  /** A running moto server (`http://127.0.0.1:port`); absent: one is started for the run. */
  readonly awsEndpoint?: string;
}

/** One `qtv tenant add` of the run. */
export interface Onboarding {
  readonly tenant: string;
  readonly exitCode: number | null;
  /** Milliseconds from the load's start to the command's end. */
  readonly finishedAtMs: number;
  /** Whether the load still had responses to come when the command finished. */
  readonly duringLoad: boolean;
  /** The command's steps, e.g. `key create`, `web-integration create`. */
  readonly steps: readonly string[];
  /** The command's error line, when it failed. */
  readonly error?: string;
}

/** The outcome of one run. */
export interface OnboardingLoadReport {
  readonly tenantsUnderLoad: readonly string[];
  readonly onboarded: readonly Onboarding[];
  /** Requests made: at least the asked number, more when the onboardings took longer. */
  readonly requests: number;
  readonly connections: number;
  readonly responses: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  /** 200 responses whose token failed a check against its own tenant (as Qlik holds its key). */
  readonly invalid: number;
  readonly duplicateJti: number;
  readonly loadWallSeconds: number;
  /** Logins at `/login/jwt-session`: each tenant's users' tokens tried at every tenant. */
  readonly logins: {
    readonly ownAccepted: number;
    readonly ownRefused: number;
    readonly otherAccepted: number;
    readonly otherRefused: number;
    /** Vend calls for the login check that did not answer 200. */
    readonly vendFailed: number;
  };
  /**
   * Impersonation access tokens (`POST /qlik/access-token`, through the clients and secrets `qtv tenant add`
   * made) used at every tenant's `GET /api/v1/users/me`: each tenant's users, after their first JWT login.
   */
  readonly impersonation: {
    readonly ownAccepted: number;
    readonly ownRefused: number;
    readonly otherAccepted: number;
    readonly otherRefused: number;
    readonly issueFailed: number;
  };
  readonly problems: readonly string[];
  readonly passed: boolean;
}

const CLAIM = 'org_id';
const ADMIN_KEY = 'onboarding-load-admin-key';
const REGION = 'eu-west-1';

/** Runs the onboarding-under-load scenario; never throws for a failed check (see `passed`/`problems`). */
export async function runOnboardingLoad(options: OnboardingLoadOptions = {}): Promise<OnboardingLoadReport> {
  const underLoad = Array.from({ length: options.tenants ?? 1 }, (_, i) => `tenant-${String(i).padStart(3, '0')}`);
  const newcomers = Array.from({ length: options.onboard ?? 2 }, (_, i) => `onboarded-${String(i).padStart(3, '0')}`);
  const all = [...underLoad, ...newcomers];
  const requests = options.requests ?? 10_000;
  const connections = options.connections ?? 32;
  const usersPerTenant = options.usersPerTenant ?? 4;
  const problems: string[] = [];
  const note = (problem: string) => {
    if (problems.length < 20) problems.push(problem);
  };

  const moto = options.awsEndpoint === undefined ? await startMotoServer() : undefined;
  const endpoint = options.awsEndpoint ?? moto!.endpoint;
  const aws = {
    endpoint,
    region: REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  };
  const awsEnv = {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
  };
  const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const table = `qtv-onboarding-${run}`;
  const prefix = `qtv-onboarding-${run}/`;
  const dir = mkdtempSync(join(tmpdir(), 'qtv-onboarding-load-'));
  let qlik: MultiTenantEmulator | undefined;
  let dev: DevServer | undefined;
  try {
    const dynamoDb = new DynamoDBClient(aws);
    await dynamoDb.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: 'tenantId', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'tenantId', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    qlik = await startMultiTenantEmulator(Object.fromEntries(all.map((id) => [id, { adminApiKey: ADMIN_KEY }])));
    const emulators = qlik;
    // The deployment's own key is unused in multi-tenant mode, but the configuration names one.
    const sharedKey = join(dir, 'shared.pem');
    const { generateKeyPairSync } = await import('node:crypto');
    writeFileSync(
      sharedKey,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }),
    );
    dev = await startDevServer({
      port: 0,
      localDir: dir,
      logLevel: 'SILENT',
      config: (_baseUrl) => ({
        qlik: { issuer: 'https://qtv.onboarding.example/shared', keyId: 'shared' },
        signing: { backend: 'file', privateKeyPath: sharedKey },
        tenancy: {
          tenantClaim: CLAIM,
          // A short TTL: the dev server sees new tenants within 5 s, as a Lambda sees them within its TTL.
          registry: { backend: 'dynamodb', tableName: table, cacheTtlSeconds: 5 },
          keys: { secretPrefix: prefix },
        },
      }),
      runtimeOverrides: {
        secretsManager: new SecretsManagerClient(aws),
        kms: new KMSClient(aws),
        tenancy: { dynamoDb },
      },
    });
    const server = dev;

    /** `qtv tenant add <id>`: the operator's command, with the full Qlik set-up. */
    const onboard = async (id: string) => {
      const result = await runQtv(
        [
          'tenant',
          'add',
          id,
          '--table',
          table,
          '--secret-prefix',
          prefix,
          '--tenant-host',
          `${id}.eu.qlikcloud.com`,
          '--qlik-url',
          emulators.tenant(id).url,
          '--issuer',
          `https://qtv.onboarding.example/${id}`,
          '--origin',
          `https://reports.${id}.example`,
          '--oauth-redirect-uri',
          `https://qtv.onboarding.example/${id}/oauth/callback`,
          '--app-url',
          `https://reports.${id}.example/`,
          '--impersonation',
          '--json',
        ],
        { env: { ...awsEnv, QTV_QLIK_API_KEY: ADMIN_KEY } },
      );
      let steps: string[] = [];
      try {
        steps = (JSON.parse(result.stdout) as { steps: { step: string; action: string }[] }).steps.map(
          (s) => `${s.step} ${s.action}`,
        );
      } catch {
        // A failed command prints no JSON: its one error line is kept instead.
      }
      return { result, steps };
    };

    for (const id of underLoad) {
      const { result } = await onboard(id);
      if (result.code !== 0) throw new Error(`onboarding ${id} before the load failed: ${result.stderr.trim()}`);
    }

    /** What Qlik (the tenant's emulated IdP) holds for `id`: the certificate's key, issuer and key ID. */
    const qlikKeyOf = (id: string) => {
      const idp = emulators.tenant(id).identityProviders.list()[0];
      if (idp === undefined) throw new Error(`tenant ${id} has no JWT IdP at its Qlik`);
      const body = (idp.options.staticKeys[0]?.pem ?? '').replace(/-----(BEGIN|END) CERTIFICATE-----/g, '');
      const pem = `-----BEGIN CERTIFICATE-----\n${body
        .replace(/\s+/g, '')
        .match(/.{1,64}/g)
        ?.join('\n')}\n-----END CERTIFICATE-----\n`;
      return {
        publicKey: new X509Certificate(pem).publicKey,
        issuer: idp.options.issuer,
        keyId: idp.options.staticKeys[0]!.kid,
      };
    };

    const people = loadUsers(usersPerTenant);
    const callersOf = async (id: string) =>
      Promise.all(
        people.map(async (person) => {
          const sub = `${person.sub}@${id}`;
          const request = { ...person, sub, name: person.name!, email: `${person.sub}.${id}@example.com` };
          const expected: Expected = { sub, name: request.name, email: request.email, groups: person.groups };
          return { tenant: id, expected, token: await server.identityProvider.mint(request, { [CLAIM]: id }) };
        }),
      );
    const callers = (await Promise.all(underLoad.map(callersOf))).flat();

    // Warm-up: each caller once (registry read, key parse), not counted.
    for (const caller of callers) {
      const response = await fetch(`${server.url}/qlik/jwt`, {
        method: 'POST',
        headers: { authorization: `Bearer ${caller.token}` },
      });
      if (response.status !== 200) note(`warm-up for ${caller.tenant}: HTTP ${response.status}`);
      await response.arrayBuffer();
    }

    // The load, in back-to-back batches of `batch` requests, and the onboardings started with it. The load goes
    // on until at least `requests` were made AND every onboarding has finished, so the two overlap by
    // construction, however slow the machine (a fixed amount could end before a slow `qtv` does).
    const collected: Array<{ status: number; body: string; caller: number; atMs: number }> = [];
    let next = 0;
    const startedAt = Date.now();
    const batch = Math.min(requests, Math.max(connections * 20, 500));
    const fire = (amount: number) =>
      autocannon({
        url: server.url,
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
              collected.push({ status, body, caller: context.caller as number, atMs: Date.now() });
            },
          },
        ],
      });
    let onboardingsDone = false;
    let lastFinishAt = 0;
    const onboardings = Promise.all(
      newcomers.map(async (id) => {
        const { result, steps } = await onboard(id);
        const finishedAt = Date.now();
        lastFinishAt = Math.max(lastFinishAt, finishedAt);
        return { id, result, steps, finishedAtMs: finishedAt - startedAt };
      }),
    ).finally(() => {
      onboardingsDone = true;
    });
    let made = 0;
    let errors = 0;
    let timeouts = 0;
    // One more batch when an onboarding ended after the last response (in the moments a batch winds down).
    while (made < requests || !onboardingsDone || lastFinishAt >= (collected.at(-1)?.atMs ?? 0)) {
      const amount = made < requests ? Math.min(batch, requests - made) : batch;
      const round = await fire(amount);
      made += amount;
      errors += round.errors;
      timeouts += round.timeouts;
    }
    const result = { errors, timeouts };
    const loadEndMs = Date.now() - startedAt;
    const lastResponseMs = (collected.at(-1)?.atMs ?? Date.now()) - startedAt;
    const done = await onboardings;
    const onboarded: Onboarding[] = done.map(({ id, result: r, steps, finishedAtMs }) => ({
      tenant: id,
      exitCode: r.code,
      finishedAtMs,
      duringLoad: finishedAtMs < lastResponseMs,
      steps,
      ...(r.code === 0 ? {} : { error: r.stderr.trim().split('\n')[0] }),
    }));
    for (const o of onboarded) {
      if (o.exitCode !== 0) note(`qtv tenant add ${o.tenant} exited ${o.exitCode}: ${o.error}`);
      else if (!o.duringLoad)
        note(
          `qtv tenant add ${o.tenant} finished at ${o.finishedAtMs} ms, after the load's last response (${lastResponseMs} ms)`,
        );
    }

    // Every load response, checked against its tenant as Qlik holds it.
    const keys = new Map(underLoad.map((id) => [id, qlikKeyOf(id)]));
    const jtis = new Set<string>();
    let ok = 0;
    let non2xx = 0;
    let invalid = 0;
    let duplicateJti = 0;
    for (const response of collected) {
      if (response.status !== 200) {
        non2xx++;
        note(`load: HTTP ${response.status}: ${response.body.slice(0, 160)}`);
        continue;
      }
      ok++;
      const caller = callers[response.caller]!;
      const verdict = checkVendResponse(
        response.body,
        caller.expected,
        keys.get(caller.tenant)!.publicKey,
        Math.floor(response.atMs / 1000),
        keys.get(caller.tenant)!,
      );
      if (verdict.problem !== undefined) {
        invalid++;
        note(`load: ${caller.tenant}: ${verdict.problem}`);
      } else if (verdict.jti !== undefined) {
        if (jtis.has(verdict.jti)) duplicateJti++;
        jtis.add(verdict.jti);
      }
    }

    // Each tenant's users at every tenant's Qlik, with that tenant's own web integration (made by tenant add).
    const store = new DynamoDbTenantStore(dynamoDb, table);
    const webIntegrationOf = new Map<string, string | undefined>();
    for (const id of all) {
      const record = await store.get(id);
      webIntegrationOf.set(id, (record?.document as { webIntegrationId?: string } | undefined)?.webIntegrationId);
    }
    const logins = { ownAccepted: 0, ownRefused: 0, otherAccepted: 0, otherRefused: 0, vendFailed: 0 };
    const onboardedOk = new Set(onboarded.filter((o) => o.exitCode === 0).map((o) => o.tenant));
    for (const id of all.filter((t) => underLoad.includes(t) || onboardedOk.has(t))) {
      for (const caller of await callersOf(id)) {
        const response = await fetch(`${server.url}/qlik/jwt`, {
          method: 'POST',
          headers: { authorization: `Bearer ${caller.token}` },
        });
        const body = await response.text();
        if (response.status !== 200) {
          logins.vendFailed++;
          note(`vend for ${caller.expected.sub}: HTTP ${response.status}: ${body.slice(0, 160)}`);
          continue;
        }
        const token = (JSON.parse(body) as { token: string }).token;
        for (const at of all) {
          const login = await new QlikRestIdentityProviders({
            tenant: emulators.tenant(at).url,
            fetch,
            ...(webIntegrationOf.get(at) !== undefined ? { webIntegrationId: webIntegrationOf.get(at)! } : {}),
          }).tryJwtLogin(token);
          if (at === id) {
            if (login.ok) logins.ownAccepted++;
            else {
              logins.ownRefused++;
              note(`${caller.expected.sub} refused by its own Qlik ${at}: ${login.ok ? '' : login.detail}`);
            }
          } else if (login.ok) {
            logins.otherAccepted++;
            note(`${caller.expected.sub}'s token ACCEPTED by another tenant's Qlik (${at})`);
          } else logins.otherRefused++;
        }
      }
    }

    // Impersonation: the OAuth client and secret `add` set up, used through the service, at every tenant. The
    // users exist in their own Qlik now (created on their JWT login above), as impersonation needs.
    const impersonation = { ownAccepted: 0, ownRefused: 0, otherAccepted: 0, otherRefused: 0, issueFailed: 0 };
    for (const id of all.filter((t) => underLoad.includes(t) || onboardedOk.has(t))) {
      for (const caller of await callersOf(id)) {
        const response = await fetch(`${server.url}/qlik/access-token`, {
          method: 'POST',
          headers: { authorization: `Bearer ${caller.token}`, accept: 'application/json' },
        });
        const body = await response.text();
        const accessToken =
          response.status === 200 ? (JSON.parse(body) as { accessToken?: string; access_token?: string }) : undefined;
        const token = accessToken?.accessToken ?? accessToken?.access_token;
        if (token === undefined) {
          impersonation.issueFailed++;
          note(`access token for ${caller.expected.sub}: HTTP ${response.status}: ${body.slice(0, 160)}`);
          continue;
        }
        for (const at of all) {
          const me = await fetch(`${emulators.tenant(at).url}/api/v1/users/me`, {
            headers: { authorization: `Bearer ${token}` },
          });
          const subject = me.status === 200 ? ((await me.json()) as { subject?: string }).subject : undefined;
          if (me.status !== 200) await me.arrayBuffer();
          const accepted = subject === caller.expected.sub;
          if (at === id) {
            if (accepted) impersonation.ownAccepted++;
            else {
              impersonation.ownRefused++;
              note(`${caller.expected.sub}'s access token refused by its own Qlik ${at}: HTTP ${me.status}`);
            }
          } else if (me.status === 200) {
            impersonation.otherAccepted++;
            note(`${caller.expected.sub}'s access token ACCEPTED by another tenant's Qlik (${at})`);
          } else impersonation.otherRefused++;
        }
      }
    }

    const allOnboarded = onboarded.every((o) => o.exitCode === 0 && o.duringLoad);
    return {
      tenantsUnderLoad: underLoad,
      onboarded,
      requests: made,
      connections,
      responses: collected.length,
      ok,
      non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      invalid,
      duplicateJti,
      loadWallSeconds: loadEndMs / 1000,
      logins,
      impersonation,
      problems,
      passed:
        allOnboarded &&
        made >= requests &&
        collected.length === made &&
        ok === made &&
        non2xx === 0 &&
        result.errors === 0 &&
        result.timeouts === 0 &&
        invalid === 0 &&
        duplicateJti === 0 &&
        logins.ownAccepted === all.length * usersPerTenant &&
        logins.ownRefused === 0 &&
        logins.otherAccepted === 0 &&
        logins.otherRefused === all.length * usersPerTenant * (all.length - 1) &&
        logins.vendFailed === 0 &&
        impersonation.ownAccepted === all.length * usersPerTenant &&
        impersonation.ownRefused === 0 &&
        impersonation.otherAccepted === 0 &&
        impersonation.otherRefused === all.length * usersPerTenant * (all.length - 1) &&
        impersonation.issueFailed === 0,
    };
  } finally {
    await dev?.close();
    await qlik?.close();
    await moto?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The report as the lines `npm run load` prints. */
export function onboardingTable(report: OnboardingLoadReport): string {
  const f = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits });
  const rows: Array<[string, string]> = [
    ['tenants under load / onboarded during it', `${report.tenantsUnderLoad.length} / ${report.onboarded.length}`],
    ['requests / connections', `${f(report.requests)} / ${report.connections}`],
    ['200 responses / failed requests', `${f(report.ok)} / ${f(report.requests - report.ok)}`],
    ['non-2xx / socket errors / timeouts', `${report.non2xx} / ${report.errors} / ${report.timeouts}`],
    ['tokens failing their own tenant / duplicate jti', `${report.invalid} / ${report.duplicateJti}`],
    ['load wall time (s)', f(report.loadWallSeconds, 2)],
    ...report.onboarded.map((o): [string, string] => [
      `qtv tenant add ${o.tenant}`,
      `exit ${o.exitCode}, done at ${f(o.finishedAtMs / 1000, 2)} s${o.duringLoad ? ' (during the load)' : ' (AFTER the load)'}; ${o.steps.filter((s) => !s.endsWith(' skip')).length} steps`,
    ]),
    ['logins at own tenant: accepted / refused', `${report.logins.ownAccepted} / ${report.logins.ownRefused}`],
    ['logins at other tenants: refused / ACCEPTED', `${report.logins.otherRefused} / ${report.logins.otherAccepted}`],
    ['vend failures in the login check', String(report.logins.vendFailed)],
    [
      'impersonation tokens at own tenant: accepted / refused',
      `${report.impersonation.ownAccepted} / ${report.impersonation.ownRefused}`,
    ],
    [
      'impersonation tokens at other tenants: refused / ACCEPTED',
      `${report.impersonation.otherRefused} / ${report.impersonation.otherAccepted}`,
    ],
    ['impersonation tokens not issued', String(report.impersonation.issueFailed)],
    ['result', report.passed ? 'PASS' : 'FAIL'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}
