import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QlikRestIdentityProviders } from '../../functions/qlik/identity-providers.js';
import { SecretsManagerRotationStore } from '../../functions/rotate-signing-key/adapters.js';
import { createHandler } from '../../functions/rotate-signing-key/handler.js';
import { systemClock } from '../../functions/runtime/clock.js';
import { parseConfig } from '../../functions/runtime/config.js';
import { type DevServer, startDevServer } from '../../scripts/dev-server.js';
import { motoSecretsManager, uniqueName } from '../support/aws.js';
import { decodeJwt, verifyWithJsonwebtoken } from '../support/keys.js';
import { capturingLogger } from '../support/logs.js';
import { createRotatableKeySecret, driveRotation, keyAt } from '../support/rotation.js';
import { startTenantEmulator, type TenantEmulator } from '../support/tenant-emulator/index.js';

const ISSUER = 'https://token-vending.example.com';
const CACHE_TTL_SECONDS = 1;
const WORKERS = 4;
const WEB_INTEGRATION_ID = 'qtv-load-web';
const ADMIN_CLIENT = { clientId: 'qtv-load-admin', clientSecret: 'emulator-admin-secret' };
/** Tokens per kid sent to the tenant's /login/jwt-session (the first and last few: a sample, not all). */
const LOGIN_SAMPLE_PER_KID = 3;

interface Sample {
  readonly startedMs: number;
  readonly endedMs: number;
  readonly status: number;
  readonly token?: string;
  readonly keyId?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Function: qlik-jwt during a key rotation (dev server, Secrets Manager on moto)', () => {
  const client = motoSecretsManager();
  const secretId = uniqueName('rotation-load');
  let dev: DevServer;
  let tenant: TenantEmulator | undefined;
  let localDir: string;

  beforeAll(async () => {
    localDir = await mkdtemp(join(tmpdir(), 'qtv-rotation-load-'));
  });
  afterAll(async () => {
    await dev?.close();
    await tenant?.close();
    client.destroy();
    await rm(localDir, { recursive: true, force: true });
  });

  it('fails no request while two rotations run; every token verifies against a key that was current or pending, and the tenant accepts a sample', async () => {
    // Prepare: the key secret, a tenant that trusts the first key, the dev server signing from Secrets Manager.
    const initial = await createRotatableKeySecret(client, secretId, ISSUER);
    const qlik = await startTenantEmulator({
      clients: [{ clientId: ADMIN_CLIENT.clientId, secrets: [ADMIN_CLIENT.clientSecret], admin: true }],
      webIntegrations: [{ id: WEB_INTEGRATION_ID, validOrigins: ['https://app.example.com'] }],
      jwtIdentityProviders: [{ kid: initial.kid, issuer: ISSUER, pem: initial.certificate, description: 'initial' }],
    });
    tenant = qlik;
    dev = await startDevServer({
      port: 0,
      localDir,
      logLevel: 'SILENT',
      runtimeOverrides: { secretsManager: client },
      config: () => ({
        qlik: { issuer: ISSUER },
        signing: { backend: 'secrets-manager', secretId, cacheTtlSeconds: CACHE_TTL_SECONDS },
      }),
    });
    const rotate = createHandler({
      config: parseConfig({
        qlik: { issuer: ISSUER, tenantHost: 'tenant.example.com' },
        signing: { backend: 'secrets-manager', secretId, cacheTtlSeconds: CACHE_TTL_SECONDS },
        rotation: {
          qlik: { mode: 'register', adminCredentialsSecretId: 'qlik-admin', webIntegrationId: WEB_INTEGRATION_ID },
        },
      }),
      clock: systemClock,
      logger: capturingLogger('ERROR').logger,
      secrets: new SecretsManagerRotationStore(client),
      qlik: new QlikRestIdentityProviders({
        tenant: qlik.url,
        fetch: globalThis.fetch,
        webIntegrationId: WEB_INTEGRATION_ID,
        credentials: async () => ADMIN_CLIENT,
      }),
    });
    const callerToken = await dev.identityProvider.mint({ sub: 'alice', name: 'Alice', email: 'alice@example.com' });
    const certificates = new Map<string, string>([[initial.kid, initial.certificate]]);
    // kid -> when it became pending (ms) and when it stopped being current (ms), from the rotation's side.
    const pendingSince = new Map<string, number>([[initial.kid, 0]]);
    const demotedAt = new Map<string, number>();

    const samples: Sample[] = [];
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const startedMs = Date.now();
        try {
          const response = await fetch(`${dev.url}/qlik/jwt`, {
            method: 'POST',
            headers: { authorization: `Bearer ${callerToken}` },
          });
          const body = (await response.json()) as { token?: string; keyId?: string };
          samples.push({ startedMs, endedMs: Date.now(), status: response.status, ...body });
        } catch {
          samples.push({ startedMs, endedMs: Date.now(), status: 0 });
        }
        await sleep(10);
      }
    };

    // Act: load runs while two rotations go through, with pauses so tokens are minted in every phase.
    const load = Array.from({ length: WORKERS }, worker);
    await sleep(300);
    let currentKid = initial.kid;
    for (let i = 0; i < 2; i++) {
      const { token } = await driveRotation(rotate, secretId, { steps: ['createSecret'] });
      const pending = await keyAt(client, secretId, 'AWSPENDING');
      certificates.set(pending.kid, pending.certificate);
      pendingSince.set(pending.kid, Date.now());
      await sleep(250);
      await driveRotation(rotate, secretId, { token, steps: ['setSecret', 'testSecret'] });
      await sleep(250);
      await driveRotation(rotate, secretId, { token, steps: ['finishSecret'] });
      demotedAt.set(currentKid, Date.now());
      currentKid = pending.kid;
      await sleep(600);
    }
    // Let every warm signer reach the last key (one cache TTL), then stop.
    await sleep(CACHE_TTL_SECONDS * 1000 + 700);
    stop = true;
    await Promise.all(load);

    // Assess
    const failed = samples.filter((s) => s.status !== 200 || s.token === undefined);
    console.info(
      `rotation under load: ${samples.length} requests, ${failed.length} failed, kids ${[...certificates.keys()].join(', ')}`,
    );
    expect(failed).toEqual([]);
    expect(samples.length).toBeGreaterThan(100);
    const byKid = new Map<string, number>();
    for (const sample of samples) {
      const token = sample.token ?? '';
      const kid = String(decodeJwt(token).header.kid);
      expect(kid).toBe(sample.keyId);
      const certificate = certificates.get(kid);
      expect(certificate, `token signed with unknown kid ${kid}`).toBeDefined();
      verifyWithJsonwebtoken(token, certificate ?? '', { audience: 'qlik.api/login/jwt-session', issuer: ISSUER });
      // The key existed (pending or current) before the request ended, and was still current or pending, give or
      // take one cache TTL, when the request started (generous slack for a loaded machine).
      expect(sample.endedMs).toBeGreaterThanOrEqual(pendingSince.get(kid) ?? Number.POSITIVE_INFINITY);
      expect(sample.startedMs).toBeLessThanOrEqual(
        (demotedAt.get(kid) ?? Number.POSITIVE_INFINITY) + CACHE_TTL_SECONDS * 1000 + 2000,
      );
      byKid.set(kid, (byKid.get(kid) ?? 0) + 1);
    }
    // Signers moved on: the first and the last key both signed tokens.
    expect(byKid.get(initial.kid)).toBeGreaterThan(0);
    expect(byKid.get(currentKid)).toBeGreaterThan(0);
    // Each rotation registered its key on the tenant (and, inside the grace period, removed none).
    expect(
      qlik.identityProviders
        .list()
        .map((idp) => idp.options.staticKeys[0]?.kid)
        .sort(),
    ).toEqual([...certificates.keys()].sort());
    // Qlik accepts them: a sample per kid (first and last tokens) goes to the tenant's /login/jwt-session, as a
    // browser would send it (the endpoint is rate-limited in real Qlik, so not every token).
    const sample = [...byKid.keys()].flatMap((kid) => {
      const tokens = samples.filter((s) => s.keyId === kid).map((s) => s.token ?? '');
      return [...tokens.slice(0, LOGIN_SAMPLE_PER_KID), ...tokens.slice(-LOGIN_SAMPLE_PER_KID)];
    });
    const statuses = await Promise.all(
      [...new Set(sample)].map(async (token) => {
        const response = await fetch(`${qlik.url}/login/jwt-session`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'qlik-web-integration-id': WEB_INTEGRATION_ID },
        });
        await response.arrayBuffer();
        return `${String(decodeJwt(token).header.kid)}:${response.status}`;
      }),
    );
    expect(statuses.length).toBeGreaterThanOrEqual(byKid.size * 2);
    expect(statuses.filter((s) => !s.endsWith(':200'))).toEqual([]);
  });
});
