import { createPublicKey, X509Certificate } from 'node:crypto';
import { CreateSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler as createIdpConfigHandler } from '../../functions/idp-config/handler.js';
import { SecretsManagerRotationStore, SnsRotationNotifier } from '../../functions/rotate-signing-key/adapters.js';
import { createHandler, type RotationRuntime } from '../../functions/rotate-signing-key/handler.js';
import type { QlikIdentityProviderPort, RotationNotifier } from '../../functions/rotate-signing-key/ports.js';
import { FixedClock } from '../../functions/shared/clock.js';
import { type ConfigInput, parseConfig } from '../../functions/shared/config.js';
import { buildQlikClaims } from '../../functions/shared/qlik-claims.js';
import { createRuntime, secretSignerSource } from '../../functions/shared/runtime.js';
import { SecretsManagerStore } from '../../functions/shared/secret-source.js';
import { signCompactJws } from '../../functions/shared/signer.js';
import { motoClientConfig, motoSecretsManager, uniqueName } from '../support/aws.js';
import { httpEvent, lambdaContext } from '../support/events.js';
import { FakeQlikIdentityProviders } from '../support/fake-qlik-idp.js';
import { verifyWithJsonwebtoken } from '../support/keys.js';
import { capturingLogger } from '../support/logs.js';
import { createRotatableKeySecret, driveRotation, type InitialKey, keyAt, stagesOf } from '../support/rotation.js';

const ISSUER = 'https://token-vending.example.com';
const START = Date.parse('2026-11-21T10:00:00Z');

/**
 * The Qlik side is a port: this factory is the one place to swap the in-test fake for the tenant emulator.
 * It returns the port and a verdict function ("would the tenant accept this token now?").
 */
function qlikTenant(): { port: QlikIdentityProviderPort; fake: FakeQlikIdentityProviders } {
  const fake = new FakeQlikIdentityProviders();
  return { port: fake, fake };
}

class RecordingNotifier implements RotationNotifier {
  readonly messages: Array<{ subject: string; message: string }> = [];
  async notify(subject: string, message: string) {
    this.messages.push({ subject, message });
  }
}

function configFor(secretId: string, rotation: ConfigInput['rotation'] = {}) {
  return parseConfig({
    qlik: { issuer: ISSUER, tenantHost: 'tenant.example.com' },
    signing: { backend: 'secrets-manager', secretId, cacheTtlSeconds: 1 },
    rotation: {
      gracePeriodSeconds: 3600,
      ...rotation,
      qlik: { mode: 'register', adminCredentialsSecretId: 'qlik-admin', ...rotation?.qlik },
    },
  });
}

interface Setup {
  readonly secretId: string;
  readonly initial: InitialKey;
  readonly fake: FakeQlikIdentityProviders;
  readonly notifier: RecordingNotifier;
  readonly clock: FixedClock;
  readonly logs: ReturnType<typeof capturingLogger>;
  readonly handler: ReturnType<typeof createHandler>;
  readonly runtime: RotationRuntime;
}

let client: SecretsManagerClient;
beforeAll(() => {
  client = motoSecretsManager();
});
afterAll(() => client.destroy());

async function setup(
  options: { rotation?: ConfigInput['rotation']; withQlik?: boolean; registerInitial?: boolean } = {},
): Promise<Setup> {
  const secretId = uniqueName('rotation');
  const initial = await createRotatableKeySecret(client, secretId, ISSUER);
  const { port, fake } = qlikTenant();
  if (options.registerInitial ?? true)
    fake.seed({
      kid: initial.kid,
      issuer: ISSUER,
      certificate: initial.certificate,
      description: `qlik-token-vending key ${initial.kid}`,
    });
  const notifier = new RecordingNotifier();
  const clock = new FixedClock(START);
  const logs = capturingLogger('DEBUG');
  const runtime: RotationRuntime = {
    config: configFor(secretId, options.rotation),
    clock,
    logger: logs.logger,
    secrets: new SecretsManagerRotationStore(client),
    ...(options.withQlik === false ? {} : { qlik: port }),
    notifier,
  };
  return { secretId, initial, fake, notifier, clock, logs, handler: createHandler(runtime), runtime };
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
    expect([...s.fake.idps.values()].map((i) => i.kid).sort()).toEqual([current.kid, s.initial.kid].sort());
    // A token from the production signer path now carries the new kid, verifies independently, and Qlik accepts it.
    const minted = await tokenFromCurrentKey(s.secretId, s.clock);
    expect(minted.kid).toBe(current.kid);
    verifyWithJsonwebtoken(minted.token, current.certificate, { clockTimestamp: Math.floor(START / 1000) });
    expect(s.fake.verify(minted.token)).toEqual({ ok: true, status: 200 });
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
    expect(s.fake.calls.filter((c) => c.startsWith('create'))).toHaveLength(1);
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
    s.fake.refuseLogins = true;
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
    s.fake.refuseLogins = false;
    await driveRotation(s.handler, s.secretId, { token, steps: ['testSecret', 'finishSecret'] });
    expect((await keyAt(client, s.secretId, 'AWSCURRENT')).kid).toBe(pending.kid);
  });

  it('blocks in manual mode without a tenant, and promotes anyway only in promote-without-qlik mode', async () => {
    // Prepare
    const manual = await setup({ withQlik: false, rotation: { qlik: { mode: 'manual' } } });
    const anyway = await setup({ withQlik: false, rotation: { qlik: { mode: 'promote-without-qlik' } } });

    // Act
    const blocked = await driveRotation(manual.handler, manual.secretId).catch((error: unknown) => error);
    const promoted = await driveRotation(anyway.handler, anyway.secretId);

    // Assess
    expect(blocked).toMatchObject({ code: 'ROTATION_BLOCKED' });
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
    for (let i = 0; i < 3; i++) {
      s.clock.advance(86_400_000);
      await driveRotation(s.handler, s.secretId);
      kids.push((await keyAt(client, s.secretId, 'AWSCURRENT')).kid);
    }

    // Assess
    expect(new Set(kids).size).toBe(4);
    expect((await keyAt(client, s.secretId, 'AWSPREVIOUS')).kid).toBe(kids[2]);
    // Between rotations: current and previous (rollback) keep their IdPs; older managed ones are gone.
    expect([...s.fake.idps.values()].map((i) => i.kid).sort()).toEqual([kids[2], kids[3]].sort());
    expect(s.fake.calls).toContain(`delete ${kids[0]}`);
    expect(s.fake.calls).toContain(`delete ${kids[1]}`);
  });

  it('keeps superseded IdPs while the grace period runs, and never deletes IdPs it did not create', async () => {
    // Prepare
    const s = await setup({ rotation: { gracePeriodSeconds: 7200 } });
    s.fake.seed({
      kid: 'someone-else',
      issuer: 'https://other',
      certificate: s.initial.certificate,
      description: 'SSO',
    });

    // Act: three rotations half an hour apart (inside the grace period), then one a day later.
    await driveRotation(s.handler, s.secretId);
    s.clock.advance(1_800_000);
    await driveRotation(s.handler, s.secretId);
    s.clock.advance(1_800_000);
    await driveRotation(s.handler, s.secretId);
    const keptDuringGrace = s.fake.calls.filter((c) => c.startsWith('delete'));
    s.clock.advance(86_400_000);
    await driveRotation(s.handler, s.secretId);

    // Assess
    expect(keptDuringGrace).toEqual([]);
    expect(s.fake.calls.filter((c) => c.startsWith('delete')).length).toBeGreaterThan(0);
    expect([...s.fake.idps.values()].map((i) => i.kid)).toContain('someone-else');
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

  it('publishes operator notifications to SNS', async () => {
    const sns = new SNSClient(motoClientConfig());
    const topic = await sns.send(new CreateTopicCommand({ Name: uniqueName('rotation-topic') }));
    await expect(
      new SnsRotationNotifier(sns, topic.TopicArn ?? '').notify('x'.repeat(150), 'paste this'),
    ).resolves.toBeUndefined();
    sns.destroy();
  });
});
