/** Lambda entry of the key rotation function: ports built once per container from the validated configuration. */
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SNSClient } from '@aws-sdk/client-sns';
import { QlikRestIdentityProviders } from '../qlik/identity-providers.js';
import { missingFromBundle } from '../runtime/bundle-flags.js';
import { systemClock } from '../runtime/clock.js';
import { loadConfig } from '../runtime/config.js';
import { tracing } from '../runtime/tracing.js';
import { SERVICE_NAME } from '../runtime/wiring.js';
import { TenantRegistry } from '../tenancy/registry.js';
import { DynamoDbTenantStore } from '../tenancy/store.js';
import { SecretsManagerRotationStore, SnsRotationNotifier } from './adapters.js';
import { adminCredentialsLoader } from './credentials.js';
import { createHandler } from './handler.js';

const config = loadConfig();
// Off outside Lambda (no AWS_EXECUTION_ENV); in Lambda each step and its Secrets Manager and SNS calls show in X-Ray.
// Absent from the bundle with deployment.tracing false (runtime/tracing.ts).
const tracer = tracing === undefined ? undefined : new tracing.Tracer({ serviceName: SERVICE_NAME });
const traced = <T>(client: T): T => (tracer === undefined ? client : tracer.captureAWSv3Client(client));
const logger = new Logger({ serviceName: SERVICE_NAME });
const secretsManager = traced(new SecretsManagerClient({}));
const { rotation, qlik, tenancy } = config;

/** Multi-tenant mode: tenants' key secrets are rotated with their own registry item (./tenants.ts). */
function tenantRotation() {
  if (tenancy === undefined || tenancy.registry.backend !== 'dynamodb') return undefined;
  // Only a multi-tenant deployment's rotation bundle holds the registry and its DynamoDB client (bundle-flags.ts).
  // (The guarded code sits inside the `if`: esbuild drops a constant-false branch, not code after a throw.)
  if (typeof QTV_BUNDLE_TENANCY === 'undefined' || QTV_BUNDLE_TENANCY) {
    const store = new DynamoDbTenantStore(traced(new DynamoDBClient({})), tenancy.registry.tableName);
    return {
      tenancy,
      registry: new TenantRegistry({ store, tenancy, clock: systemClock, logger }),
      rotation,
      qlikFor: (tenant: {
        baseUrl: string;
        adminCredentialsSecretId: string | undefined;
        webIntegrationId: string | undefined;
      }) =>
        new QlikRestIdentityProviders({
          tenant: tenant.baseUrl,
          fetch: globalThis.fetch,
          timeoutMs: rotation.qlik.requestTimeoutMs,
          logger,
          ...(tenant.webIntegrationId !== undefined ? { webIntegrationId: tenant.webIntegrationId } : {}),
          ...(tenant.adminCredentialsSecretId !== undefined
            ? { credentials: adminCredentialsLoader(secretsManager, tenant.adminCredentialsSecretId) }
            : {}),
        }),
    };
  }
  throw missingFromBundle('multi-tenant rotation');
}
const tenants = tenantRotation();

export const handler = createHandler({
  config,
  clock: systemClock,
  logger,
  ...(tracer !== undefined ? { tracer } : {}),
  secrets: new SecretsManagerRotationStore(secretsManager),
  ...(qlik.tenantHost !== undefined
    ? {
        qlik: new QlikRestIdentityProviders({
          tenant: qlik.tenantHost,
          fetch: globalThis.fetch,
          timeoutMs: rotation.qlik.requestTimeoutMs,
          // Admin-token calls in the step's log (operation, status, attempt; never values).
          logger,
          ...(rotation.qlik.webIntegrationId !== undefined ? { webIntegrationId: rotation.qlik.webIntegrationId } : {}),
          ...(rotation.qlik.adminCredentialsSecretId !== undefined
            ? { credentials: adminCredentialsLoader(secretsManager, rotation.qlik.adminCredentialsSecretId) }
            : {}),
        }),
      }
    : {}),
  ...(tenants !== undefined ? { tenants } : {}),
  ...(rotation.notifyTopicArn !== undefined
    ? { notifier: new SnsRotationNotifier(traced(new SNSClient({})), rotation.notifyTopicArn) }
    : {}),
});
