/**
 * Rotation of the Qlik signing key secret, one Secrets Manager rotation step per call.
 *
 * Follows the AWS rotation-function contract (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html
 * and the generic template https://github.com/aws-samples/aws-secrets-manager-rotation-lambdas/blob/master/SecretsManagerRotationTemplate/lambda_function.py):
 * DescribeSecret first; refuse when rotation is disabled or the token is not staged; a token already
 * AWSCURRENT is left alone; every step may be retried and does no harm the second time.
 *
 * Qlik allows one key per JWT identity provider and PATCH cannot change key or issuer
 * (https://qlik.dev/apis/rest/identity-providers/), so each rotation adds a NEW JWT IdP for the new
 * kid before promotion and removes superseded ones later (docs/rotation.md).
 */

import {
  createHash,
  verify as cryptoVerify,
  generateKeyPair,
  type KeyObject,
  randomUUID,
  X509Certificate,
} from 'node:crypto';
import { promisify } from 'node:util';
import type { Logger } from '@aws-lambda-powertools/logger';
import {
  RotationBlockedError,
  RotationStateError,
  RotationTestFailedError,
  type TokenVendingError,
} from '../errors.js';
import { buildQlikClaims, checkQlikToken, qlikRejections } from '../qlik/claims.js';
import { identityProviderRequestBody, MANAGED_IDP_DESCRIPTION_PREFIX } from '../qlik/identity-providers.js';
import type { Clock } from '../runtime/clock.js';
import type { Config } from '../runtime/config.js';
import { createSelfSignedCertificate } from '../signing/certificates.js';
import { type PublicKeyMaterial, publicKeyMaterial, serializePublicMaterial } from '../signing/public-material.js';
import type { ActiveSigningKey } from '../signing/signer.js';
import { signCompactJws } from '../signing/signer.js';
import { keyThumbprint, signingKeyFromSecret } from '../signing/signing-key.js';
import {
  AWSCURRENT,
  AWSPENDING,
  type QlikIdentityProviderPort,
  type QlikJwtIdentityProvider,
  type RotationNotifier,
  type RotationSecretsPort,
} from './ports.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** The four steps Secrets Manager calls, in order. */
export const ROTATION_STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;
export type RotationStep = (typeof ROTATION_STEPS)[number];

/** The event Secrets Manager sends the rotation function. */
export interface RotationEvent {
  readonly SecretId: string;
  readonly ClientRequestToken: string;
  readonly Step: RotationStep;
}

/** The JSON a rotation writes (a superset of what signing-key.ts reads). */
export interface RotatedKeySecret {
  readonly privateKey: string;
  readonly certificate: string;
  readonly kid: string;
  readonly issuer: string;
  /** ISO 8601. */
  readonly createdAt: string;
}

/** The logger the core needs (Powertools' Logger). */
export type RotationLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

/** Everything a rotation step needs. */
export interface RotationDependencies {
  readonly config: Pick<Config, 'qlik' | 'rotation' | 'signing'>;
  readonly secrets: RotationSecretsPort;
  /** The tenant; absent when no tenant host is configured (then only `promote-without-qlik` can promote). */
  readonly qlik?: QlikIdentityProviderPort;
  readonly notifier?: RotationNotifier;
  readonly clock: Clock;
  readonly logger: RotationLogger;
}

/** What a step did, for logs and tests. */
export interface RotationStepResult {
  readonly step: RotationStep;
  /** `skipped`: nothing to do (already done by an earlier attempt, or the version is already current). */
  readonly outcome: 'done' | 'skipped';
  readonly kid?: string;
}

/**
 * Makes a dated key ID `<prefix>-YYYY-MM-DD-<4 hex>`. The date tells an admin in the Qlik console which
 * IdP is newer; the 4 hex digits come from the key's RFC 7638 thumbprint, so two keys made the same day differ
 * and the same key always gets the same kid.
 */
export async function datedKeyId(prefix: string, publicKey: KeyObject, now: Date): Promise<string> {
  const thumbprint = await keyThumbprint(publicKey);
  const hex = createHash('sha256').update(thumbprint).digest('hex').slice(0, 4);
  return `${prefix}-${now.toISOString().slice(0, 10)}-${hex}`;
}

/** The message an operator gets when they must paste the new key into Qlik (public data only). */
export function pasteInstructions(
  secretId: string,
  token: string,
  pending: { kid: string; issuer: string; certificate: string },
  resume = true,
): string {
  return [
    `Qlik must trust the new signing key of secret ${secretId} before it is promoted.`,
    'In the Qlik Management Console > Identity providers > Create new > JWT, enter:',
    `  Issuer: ${pending.issuer}`,
    `  Key ID: ${pending.kid}`,
    '  Certificate:',
    pending.certificate.trim(),
    `(or POST https://<tenant>/api/v1/identity-providers with: ${JSON.stringify(identityProviderRequestBody(pending))})`,
    'Keep the identity provider of the previous key until the grace period has passed (rollback needs it).',
    ...(resume ? resumeLines(secretId, token) : []),
  ].join('\n');
}

function resumeLines(secretId: string, token: string): string[] {
  return [
    'Then resume the rotation (docs/rotation.md "Resume a blocked rotation"):',
    `  aws lambda invoke --function-name <rotation function> --cli-binary-format raw-in-base64-out --payload '{"SecretId":"${secretId}","ClientRequestToken":"${token}","Step":"testSecret"}' /dev/stdout`,
    `  aws lambda invoke --function-name <rotation function> --cli-binary-format raw-in-base64-out --payload '{"SecretId":"${secretId}","ClientRequestToken":"${token}","Step":"finishSecret"}' /dev/stdout`,
  ];
}

function parseRotatedKey(value: string): { kid?: string; issuer?: string; certificate?: string; createdAt?: string } {
  try {
    const parsed = JSON.parse(value) as Record<string, unknown>;
    const text = (name: string) => (typeof parsed[name] === 'string' ? (parsed[name] as string) : undefined);
    return {
      ...(text('kid') ? { kid: text('kid') } : {}),
      ...(text('issuer') ? { issuer: text('issuer') } : {}),
      ...(text('certificate') ? { certificate: text('certificate') } : {}),
      ...(text('createdAt') ? { createdAt: text('createdAt') } : {}),
    };
  } catch {
    return {}; // a bare PEM secret (the first, hand-made key): no metadata
  }
}

/** The public facts of a rotation-written (or `qtv secret put`) key secret, when it carries a certificate. */
function publicFactsOf(value: string, fallbackIssuer: string): PublicKeyMaterial | undefined {
  const info = parseRotatedKey(value);
  if (info.kid === undefined || info.certificate === undefined) return undefined;
  return publicKeyMaterial({
    kid: info.kid,
    publicKey: new X509Certificate(info.certificate).publicKey,
    certificate: info.certificate,
    issuer: info.issuer ?? fallbackIssuer,
  });
}

/**
 * Writes the public-material secret (signing.publicSecretId) that the public /qlik/idp-config function reads:
 * in createSecret the current key plus the new one as `pending`; in finishSecret the promoted key alone.
 * Without a configured public secret (a stack predating it) there is nothing to write.
 */
async function publishPublicMaterial(
  deps: RotationDependencies,
  currentValue: string,
  pending: { kid: string; issuer: string; certificate: string } | undefined,
): Promise<void> {
  const signing = deps.config.signing;
  if (signing.backend !== 'secrets-manager' || signing.publicSecretId === undefined) return;
  const current = publicFactsOf(currentValue, deps.config.qlik.issuer);
  if (current === undefined) {
    // A hand-made first key (bare PEM) has no certificate to publish; /qlik/idp-config keeps what it has.
    deps.logger.warn('public key material not updated: the current key secret carries no kid and certificate', {
      publicSecretId: signing.publicSecretId,
    });
    return;
  }
  const document =
    pending === undefined
      ? { current }
      : {
          current,
          pending: publicKeyMaterial({ ...pending, publicKey: new X509Certificate(pending.certificate).publicKey }),
        };
  await deps.secrets.putValue(signing.publicSecretId, randomUUID(), serializePublicMaterial(document), AWSCURRENT);
}

/** Runs one rotation step. Idempotent: a retried step does no harm. */
export async function runRotationStep(event: RotationEvent, deps: RotationDependencies): Promise<RotationStepResult> {
  const { SecretId: secretId, ClientRequestToken: token, Step: step } = event;
  if (!ROTATION_STEPS.includes(step)) throw new RotationStateError(`Unknown rotation step ${JSON.stringify(step)}.`);
  const meta = await deps.secrets.describe(secretId);
  if (!meta.rotationEnabled) throw new RotationStateError(`Secret ${secretId} is not enabled for rotation.`);
  const stages = meta.versions[token];
  // Secrets Manager creates the AWSPENDING version (without a value) before it calls createSecret. A driver
  // that cannot (moto, a person invoking the function by hand) may pass a fresh token to createSecret only.
  if (stages === undefined && step !== 'createSecret')
    throw new RotationStateError(`Secret version ${token} has no stage for rotation of secret ${secretId}.`);
  if (stages?.includes(AWSCURRENT)) {
    // Already promoted (a retried finishSecret): only tidy the AWSPENDING label finishSecret also removes.
    if (stages.includes(AWSPENDING))
      await deps.secrets.updateStage(secretId, AWSPENDING, { removeFromVersionId: token });
    deps.logger.info('rotation step skipped: version already AWSCURRENT', { step, secretId, versionId: token });
    return { step, outcome: 'skipped' };
  }
  if (stages !== undefined && !stages.includes(AWSPENDING))
    throw new RotationStateError(
      `Secret version ${token} is not set as AWSPENDING for rotation of secret ${secretId}.`,
    );

  switch (step) {
    case 'createSecret':
      return createSecret(secretId, token, deps);
    case 'setSecret':
      return setSecret(secretId, token, deps);
    case 'testSecret':
      return testSecret(secretId, token, deps);
    case 'finishSecret':
      return finishSecret(secretId, token, meta.versions, deps);
  }
}

async function createSecret(secretId: string, token: string, deps: RotationDependencies): Promise<RotationStepResult> {
  const current = await deps.secrets.getValue(secretId, { versionStage: AWSCURRENT });
  if (current === undefined)
    throw new RotationStateError(`Secret ${secretId} has no AWSCURRENT value; store the first key before rotating.`);
  const existing = await deps.secrets.getValue(secretId, { versionId: token, versionStage: AWSPENDING });
  if (existing !== undefined) {
    deps.logger.info('createSecret skipped: pending version exists', { secretId, versionId: token });
    return { step: 'createSecret', outcome: 'skipped', ...kidOf(existing.value) };
  }
  await removeSupersededIdentityProviders(secretId, current.value, deps);

  const { rotation, qlik } = deps.config;
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', { modulusLength: rotation.keySize });
  const now = new Date(deps.clock.nowMs());
  const kid = await datedKeyId(rotation.kidPrefix, publicKey, now);
  const certificate = await createSelfSignedCertificate({
    privateKey,
    commonName: qlik.issuer,
    validityDays: rotation.certificateValidityDays,
    notBefore: now,
  });
  const secret: RotatedKeySecret = {
    privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    certificate,
    kid,
    issuer: qlik.issuer,
    createdAt: now.toISOString(),
  };
  // The signers read the PEM from signing.jsonField; write it there too when an operator renamed it.
  const jsonField = deps.config.signing.backend === 'secrets-manager' ? deps.config.signing.jsonField : 'privateKey';
  const body = jsonField === 'privateKey' ? secret : { ...secret, [jsonField]: secret.privateKey };
  await deps.secrets.putValue(secretId, token, JSON.stringify(body), AWSPENDING);
  await publishPublicMaterial(deps, current.value, { kid, issuer: qlik.issuer, certificate });
  deps.logger.info('createSecret: new signing key stored as AWSPENDING', {
    secretId,
    versionId: token,
    kid,
    keySize: rotation.keySize,
  });
  return { step: 'createSecret', outcome: 'done', kid };
}

function kidOf(value: string): { kid?: string } {
  const kid = parseRotatedKey(value).kid;
  return kid === undefined ? {} : { kid };
}

/**
 * Removes managed IdPs of keys other than AWSCURRENT, once the grace period since AWSCURRENT took over has passed.
 * Runs at the start of a rotation, so between rotations two IdPs exist: AWSCURRENT's and AWSPREVIOUS's (what a
 * rollback needs); AWSPREVIOUS's is removed when the next rotation starts, the new key's added by its setSecret.
 * Best effort: a failure is logged and never blocks a rotation (the next one retries).
 */
async function removeSupersededIdentityProviders(secretId: string, currentValue: string, deps: RotationDependencies) {
  if (deps.config.rotation.qlik.mode !== 'register' || deps.qlik === undefined) return;
  const current = parseRotatedKey(currentValue);
  const currentKid = current.kid ?? deps.config.qlik.keyId;
  // A hand-made first key carries no createdAt: nothing tells when it took over, so keep everything.
  const tookOverAt = Date.parse(current.createdAt ?? '');
  if (currentKid === undefined || !Number.isFinite(tookOverAt)) return;
  if (deps.clock.nowMs() - tookOverAt < deps.config.rotation.gracePeriodSeconds * 1000) {
    deps.logger.info('superseded identity providers kept: grace period not over', { secretId });
    return;
  }
  try {
    for (const idp of await deps.qlik.listJwtIdentityProviders()) {
      if (!idp.description?.startsWith(MANAGED_IDP_DESCRIPTION_PREFIX)) continue; // never touch IdPs we did not make
      if (idp.kid === undefined || idp.kid === currentKid) continue;
      await deps.qlik.deleteIdentityProvider(idp.id);
      deps.logger.info('removed superseded Qlik identity provider', { secretId, kid: idp.kid, idpId: idp.id });
    }
  } catch (error) {
    deps.logger.warn('could not remove superseded Qlik identity providers; the next rotation retries', {
      secretId,
      errorName: (error as Error).name,
      errorCode: (error as TokenVendingError).code,
    });
  }
}

interface PendingKey {
  readonly key: ActiveSigningKey;
  readonly kid: string;
  readonly issuer: string;
  readonly certificate: string;
}

async function readPending(secretId: string, token: string, deps: RotationDependencies): Promise<PendingKey> {
  const pending = await deps.secrets.getValue(secretId, { versionId: token, versionStage: AWSPENDING });
  if (pending === undefined)
    throw new RotationStateError(`Secret version ${token} of ${secretId} has no value; run createSecret first.`);
  const key = await signingKeyFromSecret(pending.value);
  if (key.certificatePem === undefined)
    throw new RotationStateError(
      `Secret version ${token} of ${secretId} has no certificate; it was not made by this rotation.`,
    );
  return { key, kid: key.kid, issuer: key.issuer ?? deps.config.qlik.issuer, certificate: key.certificatePem };
}

async function findIdp(qlik: QlikIdentityProviderPort, kid: string): Promise<QlikJwtIdentityProvider | undefined> {
  return (await qlik.listJwtIdentityProviders()).find((idp) => idp.kid === kid);
}

async function setSecret(secretId: string, token: string, deps: RotationDependencies): Promise<RotationStepResult> {
  const pending = await readPending(secretId, token, deps);
  if (deps.config.rotation.qlik.mode !== 'register') {
    deps.logger.info('setSecret: Qlik registration is manual', { secretId, kid: pending.kid });
    return { step: 'setSecret', outcome: 'skipped', kid: pending.kid };
  }
  const qlik = requireQlik(deps);
  try {
    const existing = await findIdp(qlik, pending.kid);
    if (existing !== undefined) {
      deps.logger.info('setSecret skipped: Qlik identity provider exists', {
        secretId,
        kid: pending.kid,
        idpId: existing.id,
      });
      return { step: 'setSecret', outcome: 'skipped', kid: pending.kid };
    }
    const created = await qlik.createJwtIdentityProvider({
      kid: pending.kid,
      issuer: pending.issuer,
      certificate: pending.certificate,
      description: `${MANAGED_IDP_DESCRIPTION_PREFIX}${pending.kid}`,
    });
    deps.logger.info('setSecret: Qlik JWT identity provider created', {
      secretId,
      kid: pending.kid,
      idpId: created.id,
    });
    return { step: 'setSecret', outcome: 'done', kid: pending.kid };
  } catch (error) {
    return block(
      secretId,
      token,
      pending,
      `the Qlik API refused or failed to create the identity provider`,
      deps,
      error,
    );
  }
}

function requireQlik(deps: RotationDependencies): QlikIdentityProviderPort {
  if (deps.qlik === undefined) throw new RotationStateError('No Qlik tenant is configured (qlik.tenantHost).');
  return deps.qlik;
}

/** Logs and notifies what the operator must paste, then stops the rotation before promotion. */
async function block(
  secretId: string,
  token: string,
  pending: PendingKey,
  reason: string,
  deps: RotationDependencies,
  cause?: unknown,
): Promise<never> {
  const instructions = pasteInstructions(secretId, token, pending);
  deps.logger.error(`rotation blocked before promotion: ${reason}`, {
    secretId,
    versionId: token,
    kid: pending.kid,
    operatorAction: instructions,
  });
  await notify(deps, `Qlik signing key rotation blocked: ${secretId}`, `Reason: ${reason}.\n\n${instructions}`);
  throw new RotationBlockedError(
    `Rotation of ${secretId} stopped before promotion: ${reason}. Key ${pending.kid} stays AWSPENDING; the current key keeps signing. See the log field operatorAction.`,
    cause === undefined ? undefined : { cause },
  );
}

async function notify(deps: RotationDependencies, subject: string, message: string): Promise<void> {
  if (deps.notifier === undefined) return;
  try {
    await deps.notifier.notify(subject, message);
  } catch (error) {
    deps.logger.warn('operator notification failed', { errorName: (error as Error).name });
  }
}

/** Signs a probe token with the pending key and checks it locally: signature against the certificate, Qlik rules. */
export async function probeTokenFor(
  pending: { key: ActiveSigningKey; issuer: string; certificate: string },
  deps: Pick<RotationDependencies, 'config' | 'clock'>,
): Promise<string> {
  const { probeIdentity } = deps.config.rotation.qlik;
  const nowSeconds = Math.floor(deps.clock.nowMs() / 1000);
  const claims = buildQlikClaims(
    { ...probeIdentity, emailVerified: true, groups: [] },
    {
      issuer: pending.issuer,
      issuedAtSeconds: nowSeconds,
      ttlSeconds: 60,
      notBeforeSkewSeconds: deps.config.qlik.token.notBeforeSkewSeconds,
    },
  );
  const token = await signCompactJws(claims, pending.key);
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const certificateKey = new X509Certificate(pending.certificate).publicKey;
  const valid = cryptoVerify(
    'sha256',
    Buffer.from(`${header}.${payload}`),
    certificateKey,
    Buffer.from(signature, 'base64url'),
  );
  if (!valid)
    throw new RotationTestFailedError(
      `A token signed with key ${pending.key.kid} does not verify against its certificate.`,
    );
  const rejections = qlikRejections(
    checkQlikToken(
      JSON.parse(Buffer.from(header, 'base64url').toString()),
      JSON.parse(Buffer.from(payload, 'base64url').toString()),
      {
        issuer: pending.issuer,
        keyId: pending.key.kid,
        nowSeconds,
      },
    ),
  );
  if (rejections.length > 0)
    throw new RotationTestFailedError(
      `A token signed with key ${pending.key.kid} breaks Qlik rules: ${rejections.map((r) => r.rule).join(', ')}.`,
    );
  return token;
}

async function testSecret(secretId: string, token: string, deps: RotationDependencies): Promise<RotationStepResult> {
  const pending = await readPending(secretId, token, deps);
  const probe = await probeTokenFor(pending, deps);
  const mode = deps.config.rotation.qlik.mode;
  if (mode === 'promote-without-qlik') {
    deps.logger.warn('testSecret: local checks passed; Qlik not asked (promote-without-qlik)', {
      secretId,
      kid: pending.kid,
    });
    return { step: 'testSecret', outcome: 'done', kid: pending.kid };
  }
  if (deps.qlik === undefined)
    return block(secretId, token, pending, 'no Qlik tenant is configured to prove the new key (qlik.tenantHost)', deps);
  let result: Awaited<ReturnType<QlikIdentityProviderPort['tryJwtLogin']>>;
  try {
    result = await deps.qlik.tryJwtLogin(probe);
  } catch (error) {
    return block(secretId, token, pending, 'the Qlik tenant could not be reached for a probe login', deps, error);
  }
  if (!result.ok) {
    const reason =
      mode === 'manual'
        ? `Qlik refused a probe login with the new key (HTTP ${result.status}): paste the identity provider below`
        : `Qlik refused a probe login with the new key (HTTP ${result.status}: ${result.detail})`;
    return block(secretId, token, pending, reason, deps);
  }
  deps.logger.info('testSecret: probe login with the new key succeeded', { secretId, kid: pending.kid });
  return { step: 'testSecret', outcome: 'done', kid: pending.kid };
}

async function finishSecret(
  secretId: string,
  token: string,
  versions: Readonly<Record<string, readonly string[]>>,
  deps: RotationDependencies,
): Promise<RotationStepResult> {
  const currentVersion = Object.entries(versions).find(([, stages]) => stages.includes(AWSCURRENT))?.[0];
  // Secrets Manager moves AWSPREVIOUS to the version AWSCURRENT leaves.
  await deps.secrets.updateStage(secretId, AWSCURRENT, {
    moveToVersionId: token,
    ...(currentVersion !== undefined ? { removeFromVersionId: currentVersion } : {}),
  });
  // Clear AWSPENDING so /qlik/idp-config shows no pending key and the next RotateSecret sees no rotation in progress.
  await deps.secrets.updateStage(secretId, AWSPENDING, { removeFromVersionId: token });
  const promoted = await deps.secrets.getValue(secretId, { versionId: token, versionStage: AWSCURRENT });
  const info = promoted === undefined ? {} : parseRotatedKey(promoted.value);
  if (promoted !== undefined) await publishPublicMaterial(deps, promoted.value, undefined);
  deps.logger.info('finishSecret: new key is AWSCURRENT; warm signers switch within signing.cacheTtlSeconds', {
    secretId,
    versionId: token,
    previousVersionId: currentVersion,
    kid: info.kid,
  });
  if (deps.config.rotation.qlik.mode === 'promote-without-qlik' && info.kid && info.certificate) {
    const instructions = pasteInstructions(
      secretId,
      token,
      {
        kid: info.kid,
        issuer: info.issuer ?? deps.config.qlik.issuer,
        certificate: info.certificate,
      },
      false,
    );
    deps.logger.warn('new key promoted without Qlik: tokens fail until the identity provider is pasted', {
      secretId,
      kid: info.kid,
      operatorAction: instructions,
    });
    await notify(deps, `Qlik signing key promoted: paste the new IdP now (${secretId})`, instructions);
  }
  return { step: 'finishSecret', outcome: 'done', ...(info.kid ? { kid: info.kid } : {}) };
}
