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
import { TokenVendingError } from '../shared/errors.js';
import { identityProviderRequestBody } from './core.js';
import type {
  NewQlikJwtIdentityProvider,
  QlikIdentityProviderPort,
  QlikJwtIdentityProvider,
  QlikLoginResult,
  RotationNotifier,
  RotationSecretMetadata,
  RotationSecretsPort,
  RotationSecretValue,
} from './ports.js';

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

/** The credentials of an admin-scoped Qlik OAuth client (machine to machine). */
export interface QlikClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

/** Settings of {@link QlikRestIdentityProviders}. */
export interface QlikRestOptions {
  /** Tenant host (`example.eu.qlikcloud.com`) or, for the emulator, an `http://` base URL. */
  readonly tenant: string;
  readonly fetch: typeof globalThis.fetch;
  /** Loads the admin client's credentials (e.g. from Secrets Manager); absent: only the probe login works. */
  readonly credentials?: () => Promise<QlikClientCredentials>;
  readonly webIntegrationId?: string;
  /** Scope asked for with client_credentials; admin_classic makes the token admin on the IdP API. @default 'admin_classic' */
  readonly scope?: string;
  /** @default 10_000 */
  readonly timeoutMs?: number;
  readonly nowMs?: () => number;
}

/** A Qlik API call failed (status or transport); never carries the upstream body, which could echo a token. */
export class QlikApiError extends TokenVendingError {
  constructor(message: string, options?: ErrorOptions) {
    super('UPSTREAM_ERROR', 502, message, options);
  }
}

interface RawIdp {
  id?: unknown;
  protocol?: unknown;
  description?: unknown;
  options?: { issuer?: unknown; staticKeys?: Array<{ kid?: unknown }> };
}

/**
 * {@link QlikIdentityProviderPort} over the Qlik REST API:
 * `GET/POST /api/v1/identity-providers`, `DELETE /api/v1/identity-providers/{id}` (https://qlik.dev/apis/rest/identity-providers/),
 * bearer from `POST /oauth/token` with `grant_type=client_credentials` (https://qlik.dev/authenticate/oauth/),
 * and `POST /login/jwt-session` (https://qlik.dev/apis/rest/login/) for the probe.
 */
export class QlikRestIdentityProviders implements QlikIdentityProviderPort {
  private readonly base: string;
  private accessToken: { value: string; expiresAtMs: number } | undefined;

  constructor(private readonly options: QlikRestOptions) {
    this.base = /^https?:\/\//.test(options.tenant) ? options.tenant.replace(/\/$/, '') : `https://${options.tenant}`;
  }

  private async call(path: string, init: RequestInit, what: string): Promise<Response> {
    try {
      return await this.options.fetch(`${this.base}${path}`, {
        ...init,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      throw new QlikApiError(`The Qlik tenant could not be reached (${what}).`, { cause: error });
    }
  }

  private async bearer(): Promise<string> {
    const now = this.options.nowMs?.() ?? Date.now();
    if (this.accessToken !== undefined && now < this.accessToken.expiresAtMs) return this.accessToken.value;
    if (this.options.credentials === undefined)
      throw new QlikApiError('No Qlik admin client is configured (rotation.qlik.adminCredentialsSecretId).');
    const { clientId, clientSecret } = await this.options.credentials();
    const response = await this.call(
      '/oauth/token',
      {
        method: 'POST',
        // Form encoding: what every OAuth server takes (RFC 6749 §4.4.2); Qlik also takes JSON.
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: clientId,
          client_secret: clientSecret,
          scope: this.options.scope ?? 'admin_classic',
        }).toString(),
      },
      'oauth token',
    );
    if (!response.ok) throw new QlikApiError(`Qlik refused the admin client's credentials (HTTP ${response.status}).`);
    const body = (await response.json()) as { access_token?: unknown; expires_in?: unknown; expires_at?: unknown };
    if (typeof body.access_token !== 'string') throw new QlikApiError('Qlik returned no access_token.');
    // expires_in is not guaranteed (qlik-auth.md); expires_at (ISO) is. Renew a minute early.
    const expiresAt =
      typeof body.expires_at === 'string'
        ? Date.parse(body.expires_at)
        : now + (typeof body.expires_in === 'number' ? body.expires_in * 1000 : 300_000);
    this.accessToken = {
      value: body.access_token,
      expiresAtMs: (Number.isFinite(expiresAt) ? expiresAt : now) - 60_000,
    };
    return body.access_token;
  }

  private async authorized(path: string, init: RequestInit, what: string): Promise<Response> {
    const token = await this.bearer();
    const response = await this.call(
      path,
      { ...init, headers: { accept: 'application/json', ...init.headers, authorization: `Bearer ${token}` } },
      what,
    );
    if (response.status === 401) this.accessToken = undefined;
    return response;
  }

  async listJwtIdentityProviders(): Promise<QlikJwtIdentityProvider[]> {
    const found: QlikJwtIdentityProvider[] = [];
    let path: string | undefined = '/api/v1/identity-providers?limit=100';
    for (let page = 0; path !== undefined && page < 20; page++) {
      const response = await this.authorized(path, { method: 'GET' }, 'list identity providers');
      if (!response.ok) throw new QlikApiError(`Listing Qlik identity providers failed (HTTP ${response.status}).`);
      const body = (await response.json()) as { data?: RawIdp[]; links?: { next?: { href?: string } } };
      for (const raw of body.data ?? []) {
        if (raw.protocol !== 'jwtAuth' || typeof raw.id !== 'string') continue;
        const kid = raw.options?.staticKeys?.[0]?.kid;
        found.push({
          id: raw.id,
          kid: typeof kid === 'string' ? kid : undefined,
          issuer: typeof raw.options?.issuer === 'string' ? raw.options.issuer : undefined,
          description: typeof raw.description === 'string' ? raw.description : undefined,
        });
      }
      const next = body.links?.next?.href;
      path =
        next === undefined ? undefined : next.startsWith('http') ? new URL(next).pathname + new URL(next).search : next;
    }
    return found;
  }

  async createJwtIdentityProvider(idp: NewQlikJwtIdentityProvider): Promise<QlikJwtIdentityProvider> {
    const body = { ...identityProviderRequestBody(idp), description: idp.description };
    const response = await this.authorized(
      '/api/v1/identity-providers',
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
      'create identity provider',
    );
    if (!response.ok)
      throw new QlikApiError(`Creating the Qlik JWT identity provider failed (HTTP ${response.status}).`);
    const created = (await response.json()) as RawIdp;
    if (typeof created.id !== 'string') throw new QlikApiError('Qlik returned no id for the new identity provider.');
    return { id: created.id, kid: idp.kid, issuer: idp.issuer, description: idp.description };
  }

  async deleteIdentityProvider(id: string): Promise<void> {
    const response = await this.authorized(
      `/api/v1/identity-providers/${encodeURIComponent(id)}`,
      { method: 'DELETE' },
      'delete identity provider',
    );
    // 404: already gone (a retried cleanup), which is what we wanted.
    if (!response.ok && response.status !== 404)
      throw new QlikApiError(`Deleting Qlik identity provider ${id} failed (HTTP ${response.status}).`);
  }

  async tryJwtLogin(token: string): Promise<QlikLoginResult> {
    const response = await this.call(
      '/login/jwt-session',
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          ...(this.options.webIntegrationId ? { 'qlik-web-integration-id': this.options.webIntegrationId } : {}),
        },
      },
      'probe login',
    );
    if (response.ok) return { ok: true, status: response.status };
    // Qlik's errors[] detail names the failing rule (e.g. "JWT_LOGIN_VALIDATIONS Missing required claim: nbf"); it
    // never contains the token, but cap it anyway.
    let detail = '';
    try {
      const body = (await response.json()) as { errors?: Array<{ detail?: unknown; code?: unknown }> };
      const first = body.errors?.[0];
      detail = [first?.code, first?.detail]
        .filter((v) => typeof v === 'string')
        .join(' ')
        .slice(0, 200);
    } catch {
      detail = 'no JSON error body';
    }
    return { ok: false, status: response.status, detail };
  }
}
