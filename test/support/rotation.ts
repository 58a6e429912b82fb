/** Helpers for rotation tests: a rotatable key secret on moto, and a driver that plays Secrets Manager. */
import { randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  RotateSecretCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { Context } from 'aws-lambda';
import { ROTATION_STEPS, type RotationStep, type RotationStepResult } from '../../functions/rotate-signing-key/core.js';
import { createSelfSignedCertificate } from '../../functions/signing/certificates.js';
import { lambdaContext } from './events.js';
import { pkcs8Pem, rsaKeyPair } from './keys.js';

/** The first key of a rotatable secret: made by hand, as an operator would before rotation exists. */
export interface InitialKey {
  readonly kid: string;
  readonly certificate: string;
  readonly privateKeyPem: string;
}

/**
 * Creates a JSON key secret and turns rotation on. moto cannot invoke a rotation Lambda (no Docker), so rotation
 * is enabled with RotateSecret without a function and `RotateImmediately: false`, which in moto copies the value
 * into a new AWSCURRENT version; the tests then play Secrets Manager's part by calling the handler step by step.
 */
export async function createRotatableKeySecret(
  client: SecretsManagerClient,
  name: string,
  issuer: string,
): Promise<InitialKey> {
  const { privateKey } = rsaKeyPair(2048);
  const certificate = await createSelfSignedCertificate({ privateKey, commonName: issuer });
  const initial = { kid: 'qtv-initial', certificate, privateKeyPem: pkcs8Pem(privateKey) };
  await client.send(
    new CreateSecretCommand({
      Name: name,
      SecretString: JSON.stringify({ privateKey: initial.privateKeyPem, kid: initial.kid, issuer, certificate }),
    }),
  );
  await client.send(
    new RotateSecretCommand({
      SecretId: name,
      RotationRules: { AutomaticallyAfterDays: 30 },
      RotateImmediately: false,
    }),
  );
  return initial;
}

/** A rotation handler as the tests call it. */
export type RotationHandler = (event: unknown, context: Context) => Promise<RotationStepResult>;

/** Runs `steps` for one token, each `times` times (retries), like Secrets Manager would; returns the last results. */
export async function driveRotation(
  handler: RotationHandler,
  secretId: string,
  options: { token?: string; steps?: readonly RotationStep[]; times?: number } = {},
): Promise<{ token: string; results: RotationStepResult[] }> {
  const token = options.token ?? randomUUID();
  const results: RotationStepResult[] = [];
  for (const step of options.steps ?? ROTATION_STEPS) {
    for (let i = 0; i < (options.times ?? 1); i++)
      results.push(await handler({ SecretId: secretId, ClientRequestToken: token, Step: step }, lambdaContext()));
  }
  return { token, results };
}

/** Version ID -> stages, from DescribeSecret. */
export async function stagesOf(client: SecretsManagerClient, secretId: string): Promise<Record<string, string[]>> {
  const out = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
  return Object.fromEntries(Object.entries(out.VersionIdsToStages ?? {}).map(([k, v]) => [k, v ?? []]));
}

/** The parsed JSON of the version with `stage`. */
export async function keyAt(
  client: SecretsManagerClient,
  secretId: string,
  stage: string,
): Promise<{
  kid: string;
  certificate: string;
  privateKey: string;
  issuer: string;
  createdAt?: string;
  versionId: string;
}> {
  const out = await client.send(new GetSecretValueCommand({ SecretId: secretId, VersionStage: stage }));
  return { ...JSON.parse(out.SecretString ?? '{}'), versionId: out.VersionId ?? '' };
}
