/**
 * The Qlik side of `qtv tenant add` after the JWT identity provider: the web integration, the CSP entries
 * that let the tenant's apps frame Qlik, and the OAuth clients (the proxy's login client and the M2M
 * impersonation client), each through the documented REST API (functions/qlik/tenant-setup.ts cites each
 * endpoint). Every step is idempotent: what exists is found by its name (or origin) and reported as
 * `exists`; a client secret Qlik showed once is stored in Secrets Manager under the tenant's own prefix
 * before anything else happens, and a client whose secret was lost gets a new one (`resume`).
 */
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { QlikOAuthClient, QlikRestTenantSetup } from '../../functions/qlik/tenant-setup.js';
import { awsError } from '../cli/key-source.js';
import { usageError } from '../cli/support.js';

/** One step of the plan (shared with tenant-add.ts). */
export interface SetupStep {
  readonly step: string;
  readonly action: 'create' | 'exists' | 'skip' | 'update' | 'resume' | 'manual';
  readonly detail: string;
}

/** What the Qlik set-up needs. */
export interface QlikSetupInput {
  readonly tenantId: string;
  readonly base: string;
  readonly origins: readonly string[];
  /** Given by the operator (`--web-integration-id`): no web integration is made. */
  readonly webIntegrationId: string | undefined;
  /** The proxy's OAuth client, when the item has one to create (`--oauth-redirect-uri`). */
  readonly proxyClient: { readonly redirectUris: readonly string[]; readonly scopes: readonly string[] } | undefined;
  /** Whether to create the impersonation client (`--impersonation`). */
  readonly impersonation: boolean;
  /** Secrets Manager names for the two client secrets (under `<secretPrefix><id>/`). */
  readonly proxySecretName: string;
  readonly impersonationSecretName: string;
  readonly dryRun: boolean;
}

/** What the registry item takes from the Qlik set-up. */
export interface QlikSetupResult {
  webIntegrationId: string | undefined;
  proxyClientId: string | undefined;
  impersonationClientId: string | undefined;
}

/** Names by which `tenant add` finds what it made before (so a re-run creates no duplicate). */
export const setupNames = (tenantId: string) => ({
  webIntegration: `qlik-token-vending ${tenantId}`,
  csp: `qlik-token-vending ${tenantId}`,
  proxyClient: `qlik-token-vending ${tenantId} login`,
  impersonationClient: `qlik-token-vending ${tenantId} impersonation`,
});

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((x) => b.includes(x)) && b.every((x) => a.includes(x));

/**
 * Runs the web-integration, CSP and OAuth-client steps in order, pushing one {@link SetupStep} per step as it
 * completes (so a failure leaves an exact record of what was done), and fills `result` as it goes.
 */
export async function setUpQlikTenant(
  input: QlikSetupInput,
  qlik: QlikRestTenantSetup,
  secrets: SecretsManagerClient,
  steps: SetupStep[],
  result: QlikSetupResult,
): Promise<void> {
  const names = setupNames(input.tenantId);
  const { base, dryRun } = input;

  // 1. Web integration: the origins allowed to call the tenant from a browser (JWT session, CSRF), and the ID
  // the browser sends. https://qlik.dev/apis/rest/web-integrations/
  if (input.webIntegrationId !== undefined) {
    result.webIntegrationId = input.webIntegrationId;
    steps.push({ step: 'web-integration', action: 'skip', detail: `given: ${input.webIntegrationId}` });
  } else {
    const found = (await qlik.listWebIntegrations()).filter((w) => w.name === names.webIntegration);
    if (found.length > 1)
      throw usageError(
        `${base} has ${found.length} web integrations named "${names.webIntegration}": delete the extra ones in the Management Console (Integrations > Web), then re-run`,
      );
    const existing = found[0];
    if (existing !== undefined) {
      result.webIntegrationId = existing.id;
      if (sameSet(existing.validOrigins, input.origins))
        steps.push({ step: 'web-integration', action: 'exists', detail: `${base}: ${existing.id}` });
      else
        steps.push({
          step: 'web-integration',
          action: 'manual',
          detail: `${base}: ${existing.id} allows [${existing.validOrigins.join(', ')}], not [${input.origins.join(', ')}]: edit its origins in the Management Console (Integrations > Web)`,
        });
    } else if (dryRun) {
      steps.push({
        step: 'web-integration',
        action: 'create',
        detail: `${base}: "${names.webIntegration}" allowing [${input.origins.join(', ')}]`,
      });
    } else {
      const created = await qlik.createWebIntegration(names.webIntegration, input.origins);
      result.webIntegrationId = created.id;
      steps.push({
        step: 'web-integration',
        action: 'create',
        detail: `${base}: ${created.id} allowing [${input.origins.join(', ')}]`,
      });
    }
  }

  // 2. CSP: each origin may frame Qlik (frame-ancestors). https://qlik.dev/apis/rest/csp-origins/
  if (input.origins.length === 0)
    steps.push({ step: 'csp-origin', action: 'skip', detail: 'no --origin: no app may frame this tenant' });
  for (const origin of input.origins) {
    const entries = await qlik.findCspOrigins(origin);
    const framing = entries.find((e) => e.frameAncestors);
    const other = entries[0];
    if (framing !== undefined)
      steps.push({
        step: 'csp-origin',
        action: 'exists',
        detail: `${base}: ${origin} frame-ancestors (${framing.id})`,
      });
    else if (other !== undefined) {
      if (!dryRun) await qlik.allowFraming(other);
      steps.push({
        step: 'csp-origin',
        action: 'update',
        detail: `${base}: ${origin} (${other.id}) + frame-ancestors`,
      });
    } else if (dryRun)
      steps.push({ step: 'csp-origin', action: 'create', detail: `${base}: ${origin} frame-ancestors` });
    else {
      const created = await qlik.createFrameAncestor(
        origin,
        names.csp,
        `qlik-token-vending: apps of tenant ${input.tenantId} embed Qlik`,
      );
      steps.push({
        step: 'csp-origin',
        action: 'create',
        detail: `${base}: ${origin} frame-ancestors (${created.id})`,
      });
    }
  }

  // 3. OAuth clients. https://qlik.dev/apis/rest/oauth-clients/ ; the impersonation client as in
  // https://qlik.dev/authenticate/oauth/oauth-clients-api/ (appType web, user_default, the impersonation grant).
  if (input.proxyClient !== undefined)
    result.proxyClientId = await ensureClient(
      {
        step: 'oauth-client',
        clientName: names.proxyClient,
        description: `qlik-token-vending: sign-in of tenant ${input.tenantId}'s users (authorization code + PKCE)`,
        allowedScopes: input.proxyClient.scopes,
        redirectUris: input.proxyClient.redirectUris,
        secretName: input.proxySecretName,
      },
      input,
      qlik,
      secrets,
      steps,
    );
  if (input.impersonation)
    result.impersonationClientId = await ensureClient(
      {
        step: 'impersonation-client',
        clientName: names.impersonationClient,
        description: `qlik-token-vending: impersonation access tokens for tenant ${input.tenantId}'s users`,
        allowedScopes: ['user_default'],
        allowedGrantTypes: ['urn:qlik:oauth:user-impersonation'],
        secretName: input.impersonationSecretName,
      },
      input,
      qlik,
      secrets,
      steps,
    );
}

interface ClientPlan {
  readonly step: 'oauth-client' | 'impersonation-client';
  readonly clientName: string;
  readonly description: string;
  readonly allowedScopes: readonly string[];
  readonly redirectUris?: readonly string[];
  readonly allowedGrantTypes?: readonly 'urn:qlik:oauth:user-impersonation'[];
  readonly secretName: string;
}

/** The stored client secret's JSON, if the secret exists. */
async function readClientSecret(
  secrets: SecretsManagerClient,
  name: string,
): Promise<{ clientId?: string } | undefined> {
  try {
    const value = (await secrets.send(new GetSecretValueCommand({ SecretId: name }))).SecretString ?? '';
    try {
      const parsed = JSON.parse(value) as { clientId?: unknown };
      return { ...(typeof parsed.clientId === 'string' ? { clientId: parsed.clientId } : {}) };
    } catch {
      return {};
    }
  } catch (error) {
    if ((error as { name?: string }).name === 'ResourceNotFoundException') return undefined;
    throw awsError(error, `cannot read secret ${name}`);
  }
}

/** Stores `{clientId, clientSecret}` (the shape functions/runtime/oauth-wiring.ts reads) in the tenant's secret. */
async function storeClientSecret(
  secrets: SecretsManagerClient,
  name: string,
  exists: boolean,
  tenantId: string,
  clientId: string,
  clientSecret: string,
): Promise<void> {
  const value = JSON.stringify({ clientId, clientSecret });
  if (exists) await secrets.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
  else
    await secrets.send(
      new CreateSecretCommand({
        Name: name,
        Description: `Qlik OAuth client secret of tenant ${tenantId} (qlik-token-vending)`,
        SecretString: value,
        Tags: [{ Key: 'qtv:tenant', Value: tenantId }],
      }),
    );
}

async function ensureClient(
  plan: ClientPlan,
  input: QlikSetupInput,
  qlik: QlikRestTenantSetup,
  secrets: SecretsManagerClient,
  steps: SetupStep[],
): Promise<string | undefined> {
  const { base, dryRun } = input;
  const found = await qlik.findOAuthClients(plan.clientName);
  if (found.length > 1)
    throw usageError(
      `${base} has ${found.length} OAuth clients named "${plan.clientName}": delete the extra ones in the Management Console (OAuth), then re-run`,
    );
  const stored = await readClientSecret(secrets, plan.secretName);
  let client: QlikOAuthClient | undefined = found[0];
  if (client !== undefined && stored !== undefined && stored.clientId === client.clientId) {
    steps.push({
      step: plan.step,
      action: 'exists',
      detail: `${base}: ${client.clientId} (secret in ${plan.secretName})`,
    });
  } else if (dryRun) {
    steps.push({
      step: plan.step,
      action: client === undefined ? 'create' : 'resume',
      detail:
        client === undefined
          ? `${base}: web client "${plan.clientName}", secret into ${plan.secretName}`
          : `${base}: ${client.clientId}: a new client secret into ${plan.secretName}`,
    });
  } else if (client === undefined) {
    const created = await qlik.createOAuthClient({
      clientName: plan.clientName,
      description: plan.description,
      allowedScopes: plan.allowedScopes,
      ...(plan.redirectUris !== undefined ? { redirectUris: plan.redirectUris } : {}),
      ...(plan.allowedGrantTypes !== undefined ? { allowedGrantTypes: plan.allowedGrantTypes } : {}),
      trusted: true,
    });
    client = created.client;
    try {
      await storeClientSecret(
        secrets,
        plan.secretName,
        stored !== undefined,
        input.tenantId,
        client.clientId,
        created.clientSecret,
      );
    } catch (error) {
      // Qlik showed the secret once and it is gone: the re-run adds a new secret to this same client.
      throw awsError(
        error,
        `Qlik OAuth client ${client.clientId} was created but its secret could not be stored in ${plan.secretName}; re-run: it gives the client a new secret`,
      );
    }
    steps.push({
      step: plan.step,
      action: 'create',
      detail: `${base}: ${client.clientId} (secret in ${plan.secretName})`,
    });
  } else {
    // The client exists but its secret is not stored (an earlier run failed after creating it): a new one.
    const clientSecret = await qlik.createOAuthClientSecret(client.clientId);
    try {
      await storeClientSecret(
        secrets,
        plan.secretName,
        stored !== undefined,
        input.tenantId,
        client.clientId,
        clientSecret,
      );
    } catch (error) {
      throw awsError(
        error,
        `cannot store the new secret of Qlik OAuth client ${client.clientId} in ${plan.secretName}`,
      );
    }
    steps.push({
      step: plan.step,
      action: 'resume',
      detail: `${base}: ${client.clientId}: new secret in ${plan.secretName} (delete unused secrets by hint in the console)`,
    });
  }
  // Allowed origins: the browser uses this client's tokens from the tenant's apps (qlik-auth.md, M2M guide).
  if (client !== undefined && !sameSet(client.allowedOrigins, input.origins)) {
    if (!dryRun) await qlik.setOAuthClientOrigins(client.clientId, input.origins);
    steps.push({
      step: plan.step,
      action: 'update',
      detail: `${base}: ${client.clientId} allowed origins [${input.origins.join(', ')}]`,
    });
  } else if (client === undefined && input.origins.length > 0)
    // Dry run of a new client: its origins are a PATCH after the create, as in the real run.
    steps.push({
      step: plan.step,
      action: 'update',
      detail: `${base}: allowed origins [${input.origins.join(', ')}]`,
    });
  return client?.clientId;
}
