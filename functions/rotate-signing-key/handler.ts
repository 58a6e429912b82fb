/**
 * The rotation Lambda's handler: validate the Secrets Manager event -> {@link runRotationStep}. Wiring only.
 * A thrown error tells Secrets Manager the step failed (it retries later; nothing is promoted).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import middy from '@middy/core';
import { RotationStateError } from '../errors.js';
import { describeErrorForLog } from '../http/lambda-http.js';
import type { Clock } from '../runtime/clock.js';
import type { Config } from '../runtime/config.js';
import { observe } from '../runtime/wiring.js';
import * as z from '../runtime/zod.js';
import { secretNameOf } from '../tenancy/tenant.js';
import { ROTATION_STEPS, type RotationStepResult, runRotationStep } from './core.js';
import type { QlikIdentityProviderPort, RotationNotifier, RotationSecretsPort } from './ports.js';
import { type TenantRotationOptions, tenantRotationDependencies } from './tenants.js';

/** The event Secrets Manager sends (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html). */
export const rotationEventSchema = z.object({
  SecretId: z.string().check(z.minLength(1)),
  ClientRequestToken: z.string().check(z.minLength(1)),
  Step: z.enum(ROTATION_STEPS),
});

/** Ports built once per container (index.ts) or by a test. */
export interface RotationRuntime {
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
  /** X-Ray segment per step (index.ts passes the Powertools tracer; tests leave it out). */
  readonly tracer?: Tracer;
  readonly secrets: RotationSecretsPort;
  readonly qlik?: QlikIdentityProviderPort;
  readonly notifier?: RotationNotifier;
  /**
   * Multi-tenant mode: rotates tenants' key secrets (`<secretPrefix><id>`) too, each with its own registry
   * item's issuer, Qlik host and admin client (./tenants.ts). Absent: only the deployment's key.
   */
  readonly tenants?: TenantRotationOptions;
}

/**
 * The dependencies of one rotation: a tenant's (by the secret's name) or the deployment's. In multi-tenant mode
 * a secret that is neither a tenant's key nor the deployment's own key is refused, never rotated as the latter.
 */
async function dependenciesFor(secretId: string, runtime: RotationRuntime) {
  if (runtime.tenants === undefined) return runtime;
  const tenant = await tenantRotationDependencies(secretId, runtime, runtime.tenants);
  if (tenant !== undefined) return tenant;
  const signing = runtime.config.signing;
  if (signing.backend !== 'secrets-manager' || secretNameOf(signing.secretId) !== secretNameOf(secretId))
    throw new RotationStateError(
      `Secret ${secretNameOf(secretId)} is neither a tenant key secret (${runtime.tenants.tenancy.keys.secretPrefix}<id>) nor this deployment's signing key: it is not rotated by this function.`,
    );
  return runtime;
}

/** Builds the rotation handler. */
export function createHandler(runtime: RotationRuntime) {
  const { logger } = runtime;
  return middy<unknown, RotationStepResult>()
    .use(observe<unknown, RotationStepResult>(runtime))
    .handler(async (event) => {
      const parsed = rotationEventSchema.safeParse(event);
      if (!parsed.success)
        throw new RotationStateError(
          `Not a Secrets Manager rotation event: ${parsed.error.issues.map((i) => i.path.join('.') || 'event').join(', ')} missing or invalid.`,
        );
      logger.appendKeys({
        step: parsed.data.Step,
        secretId: parsed.data.SecretId,
        versionId: parsed.data.ClientRequestToken,
      });
      try {
        const result = await runRotationStep(parsed.data, await dependenciesFor(parsed.data.SecretId, runtime));
        logger.info('rotation step finished', { outcome: result.outcome, kid: result.kid });
        return result;
      } catch (error) {
        logger.error('rotation step failed', describeErrorForLog(error));
        throw error;
      }
    });
}
