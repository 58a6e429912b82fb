/** SDK clients pointed at the test run's moto server, with dummy credentials. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { inject } from 'vitest';

/** Region used for every moto resource in tests. */
export const TEST_REGION = 'eu-west-1';

/** Client settings for moto: endpoint, region, dummy credentials, no retries (faults are tested explicitly). */
export function motoClientConfig(endpoint = inject('motoEndpoint')) {
  return {
    endpoint,
    region: TEST_REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 1,
  };
}

export const motoSecretsManager = (endpoint?: string) => new SecretsManagerClient(motoClientConfig(endpoint));
export const motoKms = (endpoint?: string) => new KMSClient(motoClientConfig(endpoint));
export const motoDynamoDb = (endpoint?: string) => new DynamoDBClient(motoClientConfig(endpoint));

/** Environment for a child process (CLI, dev server) that should talk to moto. */
export function motoEnv(endpoint = inject('motoEndpoint')): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: TEST_REGION,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
  };
}

/** A name unique to this test run, for secrets and keys (moto is shared by all files). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
