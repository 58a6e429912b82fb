import { createPublicKey, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { CreateSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHandler as createIdpConfigHandler } from '../../functions/idp-config/handler.js';
import { buildQlikClaims } from '../../functions/qlik/claims.js';
import { QlikRestIdentityProviders } from '../../functions/qlik/identity-providers.js';
import { SecretsManagerRotationStore, SnsRotationNotifier } from '../../functions/rotate-signing-key/adapters.js';
import { adminCredentialsLoader } from '../../functions/rotate-signing-key/credentials.js';
import { createHandler, type RotationRuntime } from '../../functions/rotate-signing-key/handler.js';
import type { RotationNotifier } from '../../functions/rotate-signing-key/ports.js';
import { FixedClock } from '../../functions/runtime/clock.js';
import { type ConfigInput, loadConfigFile, parseConfig } from '../../functions/runtime/config.js';
import { createRuntime, secretSignerSource } from '../../functions/runtime/wiring.js';
import { SecretsManagerStore } from '../../functions/secrets/secret-source.js';
import { publicKeyMaterial, serializePublicMaterial } from '../../functions/signing/public-material.js';
import { signCompactJws } from '../../functions/signing/signer.js';
import { ROTATION_BLOCKED_METRIC } from '../../infra/constructs/monitoring.js';
import { PROJECT_ROOT } from '../../infra/constructs/token-function.js';
import { buildStack, resourcesOf } from '../infra/synth.js';
import { motoClientConfig, motoSecretsManager, uniqueName } from '../support/aws.js';
import { httpEvent, lambdaContext } from '../support/events.js';
import { verifyWithJsonwebtoken } from '../support/keys.js';
import { capturingLogger } from '../support/logs.js';
import { matchesJsonFilterPattern } from '../support/metric-filter.js';
import {
  createRotatableKeySecret,
  driveRotation,
  type InitialKey,
  keyAt,
  type RotationHandler,
  stagesOf,
} from '../support/rotation.js';
import { startTenantEmulator, type TenantEmulator } from '../support/tenant-emulator/index.js';

const ISSUER = 'https://token-vending.example.com';
const START = Date.parse('2026-11-21T10:00:00Z');

const WEB_INTEGRATION_ID = 'qtv-rotation-web';
const ADMIN_CLIENT = { clientId: 'qtv-rotation-admin', clientSecret: 'emulator-admin-secret' };
const IDP_API = '/api/v1/identity-providers';

const tenants: TenantEmulator[] = [];
afterEach(async () => {
  await Promise.all(tenants.splice(0).map((t) => t.close()));
});

/**
 * The Qlik side: the tenant emulator (test/support/tenant-emulator), with an admin OAuth client and a web
 * integration for the probe login. The rotation talks to it through the real REST adapter over HTTP, so the
 * adapter's request shapes (client_credentials form, IdP body, jwt-session headers) are checked too.
 */
async function qlikTenant(): Promise<TenantEmulator> {
  const tenant = await startTenantEmulator({
    clients: [{ clientId: ADMIN_CLIENT.clientId, secrets: [ADMIN_CLIENT.clientSecret], admin: true }],
    webIntegrations: [{ id: WEB_INTEGRATION_ID, validOrigins: ['https://app.example.com'] }],
  });
  tenants.push(tenant);
  return tenant;
}

/** Kids of the JWT IdPs on the tenant now, sorted. */
function tenantKids(tenant: TenantEmulator): string[] {
  return tenant.identityProviders
    .list()
    .map((idp) => idp.options.staticKeys[0]?.kid ?? '')
    .sort();
}

/** Requests of `method` to the IdP API (any id), from the emulator's log. */
function idpCalls(tenant: TenantEmulator, method: 'POST' | 'DELETE'): string[] {
  return tenant.requests.filter((r) => r.method === method && r.path.startsWith(IDP_API)).map((r) => r.path);
}

/** What the tenant says to `token` at /login/jwt-session (a fresh request, as a browser would send it). */
async function tenantLogin(tenant: TenantEmulator, token: string): Promise<number> {
  const response = await fetch(`${tenant.url}/login/jwt-session`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'qlik-web-integration-id': WEB_INTEGRATION_ID },
  });
  await response.arrayBuffer();
  return response.status;
}

class RecordingNotifier implements RotationNotifier {
  readonly messages: Array<{ subject: string; message: string }> = [];
  async notify(subject: string, message: string) {
    this.messages.push({ subject, message });
  }
}

function configFor(
  secretId: string,
  adminCredentialsSecretId: string,
  rotation: ConfigInput['rotation'] = {},
  publicSecretId?: string,
) {
  return parseConfig({
    qlik: { issuer: ISSUER, tenantHost: 'tenant.example.com' },
    signing: {
      backend: 'secrets-manager',
      secretId,
      cacheTtlSeconds: 1,
      ...(publicSecretId !== undefined ? { publicSecretId } : {}),
    },
    rotation: {
      gracePeriodSeconds: 3600,
      ...rotation,
      qlik: { mode: 'register', adminCredentialsSecretId, webIntegrationId: WEB_INTEGRATION_ID, ...rotation?.qlik },
    },
  });
}

interface Setup {
  readonly secretId: string;
  readonly initial: InitialKey;
  readonly tenant: TenantEmulator;
  readonly notifier: RecordingNotifier;
  readonly clock: FixedClock;
  readonly logs: ReturnType<typeof capturingLogger>;
  readonly handler: RotationHandler;
  readonly runtime: RotationRuntime;
}

let client: SecretsManagerClient;
beforeAll(() => {
  client = motoSecretsManager();
});
afterAll(() => client.destroy());

async function setup(
  options: {
    rotation?: ConfigInput['rotation'];
    withQlik?: boolean;
    registerInitial?: boolean;
    /** The name of a public-material secret (as the stack creates one), holding the initial key's public facts. */
    publicSecretId?: string;
  } = {},
): Promise<Setup> {
  const secretId = uniqueName('rotation');
  const initial = await createRotatableKeySecret(client, secretId, ISSUER);
  // The admin client's credentials live in Secrets Manager, read by the production loader.
  const adminCredentialsSecretId = uniqueName('qlik-admin');
  await client.send(
    new CreateSecretCommand({ Name: adminCredentialsSecretId, SecretString: JSON.stringify(ADMIN_CLIENT) }),
  );
  const tenant = await qlikTenant();
  if (options.registerInitial ?? true)
    tenant.addJwtIdentityProvider({
      kid: initial.kid,
      issuer: ISSUER,
      pem: initial.certificate,
      description: `qlik-token-vending key ${initial.kid}`,
    });
  const notifier = new RecordingNotifier();
  const clock = new FixedClock(START);
  const logs = capturingLogger('DEBUG');
  const config = configFor(secretId, adminCredentialsSecretId, options.rotation, options.publicSecretId);
  const runtime: RotationRuntime = {
    config,
    clock,
    logger: logs.logger,
    secrets: new SecretsManagerRotationStore(client),
    ...(options.withQlik === false
      ? {}
      : {
          qlik: new QlikRestIdentityProviders({
            tenant: tenant.url,
            fetch: globalThis.fetch,
            timeoutMs: config.rotation.qlik.requestTimeoutMs,
            webIntegrationId: WEB_INTEGRATION_ID,
            credentials: adminCredentialsLoader(client, adminCredentialsSecretId),
          }),
        }),
    notifier,
  };
  const rotate = createHandler(runtime);
  // The probe token is minted on the test's fixed clock: the tenant's JWT-login clock follows it.
  const handler: RotationHandler = (event, context) => {
    tenant.setClockOffset(clock.nowMs() - Date.now());
    return rotate(event, context);
  };
  return { secretId, initial, tenant, notifier, clock, logs, handler, runtime };
}

/** A Qlik token signed with whatever key the signer source serves now, through the production signer path. */
async function tokenFromCurrentKey(secretId: string, clock: FixedClock) {
  const logs = capturingLogger('ERROR');
  const signers = secretSignerSource({
    store: new SecretsManagerStore(client),
    secretId,
    ttlMs: 1000,
    clock,
    logger: logs.logger,
  });
  const key = await signers.current();
  const claims = buildQlikClaims(
    { sub: 'alice', name: 'Alice', email: 'alice@example.com', emailVerified: true, groups: [] },
    {
      issuer: key.issuer ?? ISSUER,
      issuedAtSeconds: Math.floor(clock.nowMs() / 1000),
      ttlSeconds: 60,
      notBeforeSkewSeconds: 30,
    },
  );
  return { token: await signCompactJws(claims, key), kid: key.kid };
}

/** The filter pattern of the KeyRotationBlocked metric filter, as the shipped rotation example deploys it. */
function rotationBlockedFilterPattern(): string {
  const { template } = buildStack(
    loadConfigFile(join(PROJECT_ROOT, 'config/example-rotation.json')) as ConfigInput,
    'QlikTokenVending-rotation-filter',
  );
  const filter = Object.values(resourcesOf(template, 'AWS::Logs::MetricFilter')).find(
    (f) => (f.Properties.MetricTransformations as { MetricName: string }[])[0]?.MetricName === ROTATION_BLOCKED_METRIC,
  );
  expect(filter, 'KeyRotationBlocked metric filter').toBeDefined();
  return filter?.Properties.FilterPattern as string;
}

describe('Function: rotate-signing-key (against moto)', () => {
  it('promotes a new RSA key through all four steps, registers a Qlik IdP for it, and keeps the old one as AWSPREVIOUS', async () => {
    // Prepare
    const s = await setup();
    const before = await keyAt(client, s.secretId, 'AWSCURRENT');

    // Act
    const { token, results } = await driveRotation(s.handler, s.secretId);

    // Assess
    expect(results.map((r) => `${r.step}:${r.outcome}`)).toEqual([
      'createSecret:done',
      'setSecret:done',
      'testSecret:done',
      'finishSecret:done',
    ]);
    const current = await keyAt(client, s.secretId, 'AWSCURRENT');
    const previous = await keyAt(client, s.secretId, 'AWSPREVIOUS');
    expect(current.versionId).toBe(token);
    expect(previous.versionId).toBe(before.versionId);
    expect(current.kid).toMatch(/^qtv-2026-11-21-[0-9a-f]{4}$/);
    expect(current.issuer).toBe(ISSUER);
    expect(current.createdAt).toBe('2026-11-21T10:00:00.000Z');
    expect(current.privateKey).toContain('BEGIN PRIVATE KEY'); // PKCS#8
    expect(createPublicKey(current.privateKey).asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(new X509Certificate(current.certificate).publicKey.equals(createPublicKey(current.privateKey))).toBe(true);
    // AWSPENDING is cleared, so the next RotateSecret sees no rotation in progress.
    expect(Object.values(await stagesOf(client, s.secretId)).flat()).not.toContain('AWSPENDING');
    expect(tenantKids(s.tenant)).toEqual([current.kid, s.initial.kid].sort());
    const created = s.tenant.identityProviders.list().find((i) => i.options.staticKeys[0]?.kid === current.kid);
    expect(created).toMatchObject({
      provider: 'external',
      protocol: 'jwtAuth',
      active: true,
      description: `qlik-token-vending key ${current.kid}`,
      options: { issuer: ISSUER, jwtLoginEnabled: true },
    });
    // The adapter's request shapes, as the tenant saw them.
    const seen = s.tenant.requests.map((r) => ({
      method: r.method,
      path: r.path,
      status: r.status,
      headers: r.headers,
    }));
    expect(seen).toContainEqual(
      expect.objectContaining({
        method: 'POST',
        path: '/oauth/token',
        status: 200,
        // The one OAuth client sends JSON; Qlik's /oauth/token takes JSON or form bodies (qlik-auth.md).
        headers: expect.objectContaining({ 'content-type': 'application/json' }),
      }),
    );
    expect(seen).toContainEqual(
      expect.objectContaining({
        method: 'POST',
        path: IDP_API,
        status: 201,
        headers: expect.objectContaining({ 'content-type': 'application/json' }),
      }),
    );
    expect(seen).toContainEqual(
      expect.objectContaining({
        method: 'POST',
        path: '/login/jwt-session',
        status: 200,
        headers: expect.objectContaining({ 'qlik-web-integration-id': WEB_INTEGRATION_ID }),
      }),
    );
    // A token from the production signer path now carries the new kid, verifies independently, and Qlik accepts it.
    const minted = await tokenFromCurrentKey(s.secretId, s.clock);
    expect(minted.kid).toBe(current.kid);
    verifyWithJsonwebtoken(minted.token, current.certificate, { clockTimestamp: Math.floor(START / 1000) });
    s.tenant.setClockOffset(s.clock.nowMs() - Date.now());
    expect(await tenantLogin(s.tenant, minted.token)).toBe(200);
    expect(s.logs.text()).not.toContain('PRIVATE KEY');
  });

  it('does no harm when Secrets Manager retries each step (every step run twice)', async () => {
    // Prepare
    const s = await setup();

    // Act
    const { token, results } = await driveRotation(s.handler, s.secretId, { times: 2 });

    // Assess
    expect(results.map((r) => `${r.step}:${r.outcome}`)).toEqual([
      'createSecret:done',
      'createSecret:skipped',
      'setSecret:done',
      'setSecret:skipped',
      'testSecret:done',
      'testSecret:done',
      'finishSecret:done',
      'finishSecret:skipped',
    ]);
    const stages = await stagesOf(client, s.secretId);
    expect(stages[token]).toEqual(['AWSCURRENT']);
    // One new key, one new IdP.
    expect(idpCalls(s.tenant, 'POST')).toHaveLength(1);
    expect(s.tenant.identityProviders.list()).toHaveLength(2);
    const current = await keyAt(client, s.secretId, 'AWSCURRENT');
    expect(results.every((r) => r.kid === undefined || r.kid === current.kid)).toBe(true);
  });

  it('leaves a version that is already AWSCURRENT alone, whatever step is called', async () => {
    // Prepare
    const s = await setup();
    const { token } = await driveRotation(s.handler, s.secretId);
    const stagesBefore = await stagesOf(client, s.secretId);

    // Act
    const { results } = await driveRotation(s.handler, s.secretId, { token });

    // Assess
    expect(results.map((r) => r.outcome)).toEqual(['skipped', 'skipped', 'skipped', 'skipped']);
    expect(await stagesOf(client, s.secretId)).toEqual(stagesBefore);
  });

  it('stops before promotion when Qlik refuses the new key, and tells the operator what to paste', async () => {
    // Prepare
    const s = await setup();
    s.tenant.injectFault({
      path: '/login/jwt-session',
      status: 401,
      body: JSON.stringify({ errors: [{ title: 'Unauthorized', code: 'HTTP-401', status: '401' }] }),
    });
    const before = await keyAt(client, s.secretId, 'AWSCURRENT');
    const { token } = await driveRotation(s.handler, s.secretId, { steps: ['createSecret', 'setSecret'] });
    const pending = await keyAt(client, s.secretId, 'AWSPENDING');

    // Act
    const failure = driveRotation(s.handler, s.secretId, { token, steps: ['testSecret'] });

    // Assess
    await expect(failure).rejects.toMatchObject({ code: 'ROTATION_BLOCKED' });
    expect((await keyAt(client, s.secretId, 'AWSCURRENT')).versionId).toBe(before.versionId);
    expect((await stagesOf(client, s.secretId))[token]).toEqual(['AWSPENDING']);
    expect(s.notifier.messages).toHaveLength(1);
    const message = s.notifier.messages[0]?.message ?? '';
    expect(message).toContain(`Key ID: ${pending.kid}`);
    expect(message).toContain(`Issuer: ${ISSUER}`);
    expect(message).toContain(pending.certificate.trim());
    expect(message).toContain(`"ClientRequestToken":"${token}","Step":"testSecret"`);
    expect(s.logs.text()).toContain('operatorAction');
    expect(s.logs.text()).not.toContain('PRIVATE KEY');
    expect(message).not.toContain('PRIVATE KEY');

    // Once the tenant trusts the key, the same token resumes and promotes.
    s.tenant.clearFaults();
    await driveRotation(s.handler, s.secretId, { token, steps: ['testSecret', 'finishSecret'] });
    expect((await keyAt(client, s.secretId, 'AWSCURRENT')).kid).toBe(pending.kid);
  });

  it.each([
    [
      'the identity-provider API fails',
      (t: TenantEmulator) => t.injectFault({ path: IDP_API, status: 503, body: '{"errors":[]}' }),
      ['createSecret'],
      'setSecret',
    ],
    [
      'an admin deactivated the new identity provider',
      (t: TenantEmulator) => {
        for (const idp of t.identityProviders.list()) idp.active = false;
      },
      ['createSecret', 'setSecret'],
      'testSecret',
    ],
    [
      'the web integration of the probe login is gone',
      (t: TenantEmulator) => (t.webIntegrations as Map<string, unknown>).delete(WEB_INTEGRATION_ID),
      ['createSecret', 'setSecret'],
      'testSecret',
    ],
  ] as const)(
    'stops before promotion when %s, and the current key keeps signing',
    async (_case, breakTenant, before, failing) => {
      // Prepare
      const s = await setup();
      const current = await keyAt(client, s.secretId, 'AWSCURRENT');
      const { token } = await driveRotation(s.handler, s.secretId, { steps: before });
      breakTenant(s.tenant);

      // Act
      const failure = driveRotation(s.handler, s.secretId, { token, steps: [failing] });

      // Assess
      await expect(failure).rejects.toMatchObject({ code: 'ROTATION_BLOCKED' });
      expect((await keyAt(client, s.secretId, 'AWSCURRENT')).versionId).toBe(current.versionId);
      expect((await stagesOf(client, s.secretId))[token]).toEqual(['AWSPENDING']);
      expect(s.notifier.messages[0]?.message).toContain(
        `Key ID: ${(await keyAt(client, s.secretId, 'AWSPENDING')).kid}`,
      );
      expect(s.logs.text()).not.toContain('PRIVATE KEY');
      expect(s.logs.text()).not.toContain(ADMIN_CLIENT.clientSecret);
    },
  );

  it('blocks in manual mode without a tenant, and promotes anyway only in promote-without-qlik mode', async () => {
    // Prepare
    const manual = await setup({ withQlik: false, rotation: { qlik: { mode: 'manual' } } });
    const anyway = await setup({ withQlik: false, rotation: { qlik: { mode: 'promote-without-qlik' } } });

    // Act
    const blocked = await driveRotation(manual.handler, manual.secretId).catch((error: unknown) => error);
    const promoted = await driveRotation(anyway.handler, anyway.secretId);

    // Assess
    expect(blocked).toMatchObject({ code: 'ROTATION_BLOCKED' });
    // The deployed KeyRotationBlocked metric filter counts the line the blocked step wrote: the alarm fires.
    const pattern = rotationBlockedFilterPattern();
    expect(manual.logs.lines.filter((line) => matchesJsonFilterPattern(pattern, line))).toHaveLength(1);
    expect(anyway.logs.lines.filter((line) => matchesJsonFilterPattern(pattern, line))).toHaveLength(0);
    expect((await keyAt(client, manual.secretId, 'AWSCURRENT')).kid).toBe(manual.initial.kid);
    expect(manual.notifier.messages[0]?.message).toContain('Key ID: qtv-2026-11-21-');
    const current = await keyAt(client, anyway.secretId, 'AWSCURRENT');
    expect(promoted.results.at(-1)).toMatchObject({ step: 'finishSecret', outcome: 'done', kid: current.kid });
    expect(anyway.notifier.messages).toHaveLength(1);
    expect(anyway.notifier.messages[0]?.message).toContain(`Key ID: ${current.kid}`);
  });

  it('runs rotations back to back, each with a new kid, and removes superseded IdPs after the grace period', async () => {
    // Prepare
    const s = await setup();
    const kids: string[] = [s.initial.kid];

    // Act: three rotations, a day apart (grace period 1 h).
    const idpIds = new Map<string, string>();
    const rememberIds = () => {
      for (const idp of s.tenant.identityProviders.list()) idpIds.set(idp.options.staticKeys[0]?.kid ?? '', idp.id);
    };
    rememberIds();
    for (let i = 0; i < 3; i++) {
      s.clock.advance(86_400_000);
      await driveRotation(s.handler, s.secretId);
      kids.push((await keyAt(client, s.secretId, 'AWSCURRENT')).kid);
      rememberIds();
    }

    // Assess
    expect(new Set(kids).size).toBe(4);
    expect((await keyAt(client, s.secretId, 'AWSPREVIOUS')).kid).toBe(kids[2]);
    // Between rotations: current and previous (rollback) keep their IdPs; older managed ones are gone.
    expect(tenantKids(s.tenant)).toEqual([kids[2], kids[3]].sort());
    expect(idpCalls(s.tenant, 'DELETE')).toEqual([
      `${IDP_API}/${idpIds.get(kids[0] ?? '')}`,
      `${IDP_API}/${idpIds.get(kids[1] ?? '')}`,
    ]);
  });

  it('keeps superseded IdPs while the grace period runs, and never deletes IdPs it did not create', async () => {
    // Prepare
    const s = await setup({ rotation: { gracePeriodSeconds: 7200 } });
    s.tenant.addJwtIdentityProvider({
      kid: 'someone-else',
      issuer: 'https://other',
      pem: s.initial.certificate,
      description: 'SSO',
    });

    // Act: three rotations half an hour apart (inside the grace period), then one a day later.
    await driveRotation(s.handler, s.secretId);
    s.clock.advance(1_800_000);
    await driveRotation(s.handler, s.secretId);
    s.clock.advance(1_800_000);
    await driveRotation(s.handler, s.secretId);
    const keptDuringGrace = idpCalls(s.tenant, 'DELETE');
    s.clock.advance(86_400_000);
    await driveRotation(s.handler, s.secretId);

    // Assess
    expect(keptDuringGrace).toEqual([]);
    expect(idpCalls(s.tenant, 'DELETE').length).toBeGreaterThan(0);
    expect(tenantKids(s.tenant)).toContain('someone-else');
  });

  it.each([
    ['setSecret', 'ROTATION_INVALID_STATE'],
    ['testSecret', 'ROTATION_INVALID_STATE'],
    ['finishSecret', 'ROTATION_INVALID_STATE'],
  ] as const)('refuses %s for a token that is not staged', async (step, code) => {
    const s = await setup();
    await expect(
      driveRotation(s.handler, s.secretId, { token: '00000000-0000-4000-8000-000000000000', steps: [step] }),
    ).rejects.toMatchObject({ code });
  });

  it('refuses to rotate a secret whose rotation is not enabled', async () => {
    // Prepare
    const s = await setup();
    const plain = uniqueName('no-rotation');
    await client.send(new CreateSecretCommand({ Name: plain, SecretString: '{}' }));

    // Act / Assess
    await expect(driveRotation(s.handler, plain, { steps: ['createSecret'] })).rejects.toMatchObject({
      code: 'ROTATION_INVALID_STATE',
      message: expect.stringContaining('not enabled for rotation'),
    });
  });

  it('refuses an event that is not a rotation event', async () => {
    const s = await setup();
    await expect(s.handler({ SecretId: s.secretId, Step: 'dropSecret' }, lambdaContext())).rejects.toMatchObject({
      code: 'ROTATION_INVALID_STATE',
    });
  });

  it('makes 4096-bit keys when configured', async () => {
    const s = await setup({ rotation: { keySize: 4096 } });
    await driveRotation(s.handler, s.secretId, { steps: ['createSecret'] });
    const pending = await keyAt(client, s.secretId, 'AWSPENDING');
    expect(createPublicKey(pending.privateKey).asymmetricKeyDetails?.modulusLength).toBe(4096);
  });

  it('shows the pending key on GET /qlik/idp-config during a rotation, and only the current key after it', async () => {
    // Prepare
    const s = await setup();
    const clock = new FixedClock(START);
    const idpConfig = createIdpConfigHandler(
      createRuntime(s.runtime.config, { clock, logger: capturingLogger('ERROR').logger, secretsManager: client }),
    );
    const read = async () =>
      JSON.parse(
        ((await idpConfig(httpEvent({ method: 'GET', path: '/qlik/idp-config' }), lambdaContext())) as { body: string })
          .body,
      );
    const { token } = await driveRotation(s.handler, s.secretId, { steps: ['createSecret', 'setSecret'] });
    const pending = await keyAt(client, s.secretId, 'AWSPENDING');

    // Act
    const during = await read();
    await driveRotation(s.handler, s.secretId, { token, steps: ['testSecret', 'finishSecret'] });
    clock.advance(1500); // one cache TTL
    const after = await read();

    // Assess
    expect(during.keyId).toBe(s.initial.kid);
    expect(during.pending).toMatchObject({ keyId: pending.kid, issuer: ISSUER, certificate: pending.certificate });
    expect(during.pending.identityProviderRequest.options.staticKeys[0].kid).toBe(pending.kid);
    expect(after.keyId).toBe(pending.kid);
    expect(after.pending).toBeUndefined();
  });

  // Regression (issue 12, finding 3): /qlik/idp-config read the private key secret to describe the key.
  it('keeps the public material apart: /qlik/idp-config shows current and pending keys without reading the private key', async () => {
    // Prepare: the public-material secret as `qtv secret put --public-secret-id` leaves it.
    const publicSecretId = uniqueName('rotation-public');
    const s = await setup({ publicSecretId });
    await client.send(
      new CreateSecretCommand({
        Name: publicSecretId,
        SecretString: serializePublicMaterial({
          current: publicKeyMaterial({
            kid: s.initial.kid,
            publicKey: new X509Certificate(s.initial.certificate).publicKey,
            certificate: s.initial.certificate,
            issuer: ISSUER,
          }),
        }),
      }),
    );
    const clock = new FixedClock(START);
    const idpConfig = createIdpConfigHandler(
      createRuntime(s.runtime.config, {
        clock,
        logger: capturingLogger('ERROR').logger,
        secretsManager: client,
        // Any read of the private key fails the test: the function must not need it.
        signers: { current: () => Promise.reject(new Error('the private key was read')) },
        pendingSigners: { pending: () => Promise.reject(new Error('the pending private key was read')) },
      }),
    );
    const read = async () => {
      const response = await idpConfig(httpEvent({ method: 'GET', path: '/qlik/idp-config' }), lambdaContext());
      expect(response?.statusCode).toBe(200);
      return JSON.parse((response as { body: string }).body);
    };
    const before = await read();
    const { token } = await driveRotation(s.handler, s.secretId, { steps: ['createSecret', 'setSecret'] });
    const pending = await keyAt(client, s.secretId, 'AWSPENDING');

    // Act
    clock.advance(1500); // one cache TTL
    const during = await read();
    await driveRotation(s.handler, s.secretId, { token, steps: ['testSecret', 'finishSecret'] });
    clock.advance(1500);
    const after = await read();

    // Assess
    expect(before).toMatchObject({
      keyId: s.initial.kid,
      certificate: s.initial.certificate,
      certificateSource: 'stored',
    });
    expect(before.pending).toBeUndefined();
    expect(during.keyId).toBe(s.initial.kid);
    expect(during.pending).toMatchObject({ keyId: pending.kid, issuer: ISSUER, certificate: pending.certificate });
    expect(after.keyId).toBe(pending.kid);
    expect(after.certificate).toBe(pending.certificate);
    expect(after.pending).toBeUndefined();
    expect(JSON.stringify([before, during, after])).not.toMatch(/PRIVATE KEY/);
  });

  it('publishes operator notifications to SNS', async () => {
    const sns = new SNSClient(motoClientConfig());
    const topic = await sns.send(new CreateTopicCommand({ Name: uniqueName('rotation-topic') }));
    await expect(
      new SnsRotationNotifier(sns, topic.TopicArn ?? '').notify('x'.repeat(150), 'paste this'),
    ).resolves.toBeUndefined();
    sns.destroy();
  });
});
