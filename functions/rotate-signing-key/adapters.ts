/**
 * Adapters for the rotation ports: Secrets Manager (SDK v3), the Qlik REST API (injected fetch) and SNS.
 * Clients are built once per container by index.ts and passed in.
 */
import {
  DescribeSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { RotationNotifier, RotationSecretMetadata, RotationSecretsPort, RotationSecretValue } from './ports.js';

const NOT_FOUND = new Set(['ResourceNotFoundException', 'SecretStageVersionMismatchException']);

/** {@link RotationSecretsPort} over the Secrets Manager SDK client. */
export class SecretsManagerRotationStore implements RotationSecretsPort {
  constructor(private readonly client: SecretsManagerClient) {}

  async describe(secretId: string): Promise<RotationSecretMetadata> {
    const out = await this.client.send(new DescribeSecretCommand({ SecretId: secretId }));
    return {
      arn: out.ARN ?? secretId,
      rotationEnabled: out.RotationEnabled === true,
      versions: Object.fromEntries(
        Object.entries(out.VersionIdsToStages ?? {}).map(([id, stages]) => [id, stages ?? []]),
      ),
    };
  }

  async getValue(
    secretId: string,
    select: { versionId?: string; versionStage?: string },
  ): Promise<RotationSecretValue | undefined> {
    try {
      const out = await this.client.send(
        new GetSecretValueCommand({
          SecretId: secretId,
          ...(select.versionId !== undefined ? { VersionId: select.versionId } : {}),
          ...(select.versionStage !== undefined ? { VersionStage: select.versionStage } : {}),
        }),
      );
      if (out.SecretString === undefined) return undefined;
      return { versionId: out.VersionId ?? select.versionId ?? 'unknown', value: out.SecretString };
    } catch (error) {
      if (NOT_FOUND.has((error as Error).name)) return undefined;
      throw error;
    }
  }

  async putValue(secretId: string, versionId: string, value: string, stage: string): Promise<void> {
    await this.client.send(
      new PutSecretValueCommand({
        SecretId: secretId,
        ClientRequestToken: versionId,
        SecretString: value,
        VersionStages: [stage],
      }),
    );
  }

  async updateStage(
    secretId: string,
    stage: string,
    move: { moveToVersionId?: string; removeFromVersionId?: string },
  ): Promise<void> {
    await this.client.send(
      new UpdateSecretVersionStageCommand({
        SecretId: secretId,
        VersionStage: stage,
        ...(move.moveToVersionId !== undefined ? { MoveToVersionId: move.moveToVersionId } : {}),
        ...(move.removeFromVersionId !== undefined ? { RemoveFromVersionId: move.removeFromVersionId } : {}),
      }),
    );
  }
}

/** {@link RotationNotifier} over SNS `Publish`. */
export class SnsRotationNotifier implements RotationNotifier {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async notify(subject: string, message: string): Promise<void> {
    // SNS subjects are limited to 100 characters.
    await this.client.send(
      new PublishCommand({ TopicArn: this.topicArn, Subject: subject.slice(0, 100), Message: message }),
    );
  }
}
