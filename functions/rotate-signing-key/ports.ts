/**
 * The ports the rotation core talks through: Secrets Manager (version stages), the Qlik tenant
 * (JWT identity providers, probe login) and a notifier for the operator. Adapters live in adapters.ts;
 * tests drive them against moto and the tenant emulator.
 */

/** The staging labels Secrets Manager uses during rotation. */
export const AWSCURRENT = 'AWSCURRENT';
export const AWSPENDING = 'AWSPENDING';
export const AWSPREVIOUS = 'AWSPREVIOUS';

/** What DescribeSecret tells the rotation. */
export interface RotationSecretMetadata {
  readonly arn: string;
  readonly rotationEnabled: boolean;
  /** Version ID -> staging labels (DescribeSecret `VersionIdsToStages`). */
  readonly versions: Readonly<Record<string, readonly string[]>>;
}

/** A secret version's value. */
export interface RotationSecretValue {
  readonly versionId: string;
  readonly value: string;
}

/** The four Secrets Manager calls a rotation needs, and nothing else (matches the function's IAM policy). */
export interface RotationSecretsPort {
  describe(secretId: string): Promise<RotationSecretMetadata>;
  /** GetSecretValue by stage and/or version; `undefined` when no such version (or no value) exists. */
  getValue(
    secretId: string,
    select: { readonly versionId?: string; readonly versionStage?: string },
  ): Promise<RotationSecretValue | undefined>;
  /** PutSecretValue with `ClientRequestToken` = `versionId` and `VersionStages` = `[stage]`. */
  putValue(secretId: string, versionId: string, value: string, stage: string): Promise<void>;
  /** UpdateSecretVersionStage. */
  updateStage(
    secretId: string,
    stage: string,
    move: { readonly moveToVersionId?: string; readonly removeFromVersionId?: string },
  ): Promise<void>;
}

export type {
  NewQlikJwtIdentityProvider,
  QlikIdentityProviderPort,
  QlikJwtIdentityProvider,
  QlikLoginResult,
} from '../qlik/identity-providers.js';

/** Tells the operator something they must act on (SNS in AWS). Never given key material. */
export interface RotationNotifier {
  notify(subject: string, message: string): Promise<void>;
}
