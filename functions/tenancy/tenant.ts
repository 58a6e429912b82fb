/**
 * One tenant of the registry: the item schema and its parser. The Qlik, identity, signing and OAuth parts
 * are the very zod schemas and cross-field rules of today's configuration (functions/runtime/config.ts), so
 * a tenant item is validated exactly like a single-tenant configuration. On top, each item may name only its
 * own resources: its key secret is `<secretPrefix><id>`, its KMS key alias `<kmsAliasPrefix><id>`, and every
 * other secret it names lies under `<secretPrefix><id>/`. That rule is what lets one IAM grant by name prefix
 * (infra/constructs/tenant-registry.ts) serve thousands of tenants while no item can borrow another's key.
 */

import { type ResolvedIdentityMapping, resolveIdentityMapping } from '../identity/mapping.js';
import {
  checkIdentityMapping,
  checkOAuth,
  checkTokenPolicy,
  configSections,
  describeIssues,
  oauthSchema,
  rotationQlikModeSchema,
  signingSchema,
  TENANT_ID_PATTERN,
  type TenancyConfig,
} from '../runtime/config.js';
import * as z from '../runtime/zod.js';

/** The OAuth cookie names every tenant uses (the single-tenant defaults). */
export const DEFAULT_OAUTH_COOKIES = {
  stateName: '__Host-qtv-oauth-state',
  sessionName: '__Host-qtv-oauth-session',
} as const;

/** A tenant ID: letters, digits, `_` and `-`, 1–64 characters, compared byte for byte (never case-folded). */
export const tenantIdSchema = z
  .string()
  .check(z.regex(TENANT_ID_PATTERN, 'must be 1-64 letters, digits, _ or -, starting with a letter or digit'));

/** Whether a tenant may get tokens. */
export const TENANT_STATUSES = ['active', 'suspended'] as const;
export type TenantStatus = (typeof TENANT_STATUSES)[number];

/**
 * The deployment's own signing key, used by this tenant with its own issuer and key ID (`qlik.keyId`).
 * One secret for all such tenants: cheaper, but a leaked key is every such tenant's problem (docs/multi-tenant.md).
 */
const sharedSigningSchema = z.strictObject({ backend: z.literal('shared') });

/** Where a tenant's signing key lives: its own secret, its own KMS key, or the deployment's shared key. */
export const tenantSigningSchema = z.union([signingSchema, sharedSigningSchema]);

const qlikSchema = configSections.qlik();
const identitySchema = configSections.identity();

/** The registry item of one tenant, as stored (the `document` attribute) plus its id, status and version. */
export const tenantItemSchema = z.strictObject({
  id: tenantIdSchema,
  status: z.enum(TENANT_STATUSES),
  /** Bumped by every write; the cache parses each version once. */
  version: z.number().check(z.int(), z.minimum(1)),
  /** Free text for operators. */
  description: z.optional(z.string().check(z.maxLength(500))),
  /** The Qlik tenant: host, JWT issuer, key ID and token lifetime policy (the single-tenant `qlik` section). */
  // The configuration's own host rule, required here (one implementation of the rule).
  qlik: z.extend(qlikSchema, { tenantHost: qlikSchema.shape.tenantHost.def.innerType }),
  /** How this tenant's callers' claims become a Qlik identity (the single-tenant `identity` section). */
  identity: identitySchema,
  signing: tenantSigningSchema,
  /** OAuth and impersonation clients of this tenant (the single-tenant `oauth` section). */
  oauth: z.optional(oauthSchema),
  /** Origins of this tenant's web apps (CORS, the Qlik web integration). */
  allowedOrigins: z._default(z.array(z.url()).check(z.maxLength(50)), []),
  /** The Qlik web integration ID the tenant's apps send (`qlik-web-integration-id`). */
  webIntegrationId: z.optional(z.string().check(z.minLength(1), z.maxLength(200))),
  /**
   * Rotation of this tenant's key secret by the deployment's one rotation function (docs/multi-tenant.md,
   * "Key rotation per tenant"). Absent: the deployment's `rotation.qlik.mode`, no admin client.
   */
  rotation: z.optional(
    z.strictObject({
      /** How the new key reaches this tenant's Qlik (the deployment's `rotation.qlik.mode` when absent). */
      qlikMode: z.optional(rotationQlikModeSchema),
      /**
       * Secret `{"clientId","clientSecret"}` of an admin-scoped client of this tenant's Qlik (register mode):
       * must lie under `<secretPrefix><id>/`, e.g. `<secretPrefix><id>/qlik-admin`.
       */
      adminCredentialsSecretId: z.optional(z.string().check(z.minLength(1))),
    }),
  ),
  createdAt: z.optional(z.iso.datetime()),
  updatedAt: z.optional(z.iso.datetime()),
});

/** A tenant item as written by a person or `qtv tenant add` (defaults optional). */
export type TenantItemInput = z.input<typeof tenantItemSchema>;
/** A validated tenant item, defaults applied. */
export type TenantItem = z.infer<typeof tenantItemSchema>;
export type TenantSigning = TenantItem['signing'];

/** A usable tenant: the validated item and what the hot path derives from it once per version. */
export interface Tenant {
  readonly item: TenantItem;
  readonly identity: ResolvedIdentityMapping;
}

/** The key secret name a tenant must use. */
export function tenantKeySecretName(tenancy: Pick<TenancyConfig, 'keys'>, tenantId: string): string {
  return `${tenancy.keys.secretPrefix}${tenantId}`;
}

/**
 * The secret holding a tenant's public key material (key ID, issuer, certificate: what `GET /qlik/idp-config`
 * serves). One fixed name per tenant, so that the public route's grant is one resource pattern
 * (`<secretPrefix>*\/public-??????`) that matches no private key.
 */
export function tenantPublicSecretName(tenancy: Pick<TenancyConfig, 'keys'>, tenantId: string): string {
  return `${tenancy.keys.secretPrefix}${tenantId}/public`;
}

/** The KMS alias a tenant's own KMS key must carry. */
export function tenantKmsAlias(tenancy: Pick<TenancyConfig, 'keys'>, tenantId: string): string {
  return `${tenancy.keys.kmsAliasPrefix}${tenantId}`;
}

/** The secret name without an ARN's prefix and 6-character suffix (a name is returned as is). */
export function secretNameOf(secretId: string): string {
  const arn = /^arn:aws[a-z-]*:secretsmanager:[^:]*:\d{12}:secret:(.+)-[A-Za-z0-9]{6}$/.exec(secretId);
  return arn?.[1] ?? secretId;
}

/** The alias name of `alias/...` or an alias ARN; undefined for a key ID or key ARN. */
function aliasNameOf(keyId: string): string | undefined {
  if (keyId.startsWith('alias/')) return keyId;
  return /^arn:aws[a-z-]*:kms:[^:]*:\d{12}:(alias\/.+)$/.exec(keyId)?.[1];
}

/** Rules that tie an item to its own resources and to the registry it lives in. */
function checkOwnership(item: TenantItem, tenancy: TenancyConfig, ctx: z.core.$RefinementCtx): void {
  const ownSecret = tenantKeySecretName(tenancy, item.id);
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const fileRegistry = tenancy.registry.backend === 'file';
  const signing = item.signing;
  switch (signing.backend) {
    case 'secrets-manager':
      if (secretNameOf(signing.secretId) !== ownSecret)
        issue(['signing', 'secretId'], `must be the tenant's own key secret ${ownSecret}`);
      break;
    case 'kms': {
      const alias = aliasNameOf(signing.keyId);
      const own = tenantKmsAlias(tenancy, item.id);
      if (alias !== own) issue(['signing', 'keyId'], `must be the tenant's own KMS key alias ${own}`);
      break;
    }
    case 'file':
      if (!fileRegistry) issue(['signing', 'backend'], '"file" works only with the dev server\'s file registry');
      break;
    case 'shared':
      if (item.qlik.keyId === undefined)
        issue(['qlik', 'keyId'], 'a tenant on the shared key needs its own key ID (qlik.keyId) for its Qlik IdP');
      break;
  }
  // The key's public material (key ID, issuer, certificate) kept apart from it, when the item names it.
  const publicSecretId =
    'publicSecretId' in signing ? (signing as { publicSecretId?: string }).publicSecretId : undefined;
  // Exactly one name: the public route may read `<prefix>*/public` secrets and nothing else (least privilege).
  const ownPublic = tenantPublicSecretName(tenancy, item.id);
  if (publicSecretId !== undefined && secretNameOf(publicSecretId) !== ownPublic)
    issue(['signing', 'publicSecretId'], `must be the tenant's own public-material secret ${ownPublic}`);
  const adminSecret = item.rotation?.adminCredentialsSecretId;
  if (adminSecret !== undefined && !secretNameOf(adminSecret).startsWith(`${ownSecret}/`))
    issue(['rotation', 'adminCredentialsSecretId'], `must be a secret under the tenant's own prefix ${ownSecret}/`);
  if (item.rotation !== undefined && signing.backend !== 'secrets-manager')
    issue(['rotation'], 'only a key kept in the tenant\'s own secret is rotated (signing.backend "secrets-manager")');
  const oauth = item.oauth;
  if (oauth === undefined) return;
  // One cookie name per purpose for all tenants: the proxy must find the cookie before it knows the tenant
  // (the tenant is read from the cookie itself, docs/multi-tenant.md "OAuth per tenant").
  if (
    oauth.cookie.stateName !== DEFAULT_OAUTH_COOKIES.stateName ||
    oauth.cookie.sessionName !== DEFAULT_OAUTH_COOKIES.sessionName
  )
    issue(
      ['oauth', 'cookie'],
      `in multi-tenant mode the cookie names are fixed (${DEFAULT_OAUTH_COOKIES.stateName}, ${DEFAULT_OAUTH_COOKIES.sessionName}): remove stateName and sessionName`,
    );
  if (oauth.secretStore === 'file' && !fileRegistry)
    issue(['oauth', 'secretStore'], '"file" works only with the dev server\'s file registry');
  if (oauth.secretStore === 'file') return;
  const named: [string, string | undefined][] = [
    ['clientSecretId', oauth.clientSecretId],
    ['sealingSecretId', oauth.sealingSecretId],
    ['impersonation.clientSecretId', oauth.impersonation.clientSecretId],
    ['impersonation.adminClientSecretId', oauth.impersonation.adminClientSecretId],
    [
      'clientAssertion.secretId',
      oauth.clientAssertion?.backend === 'secrets-manager' ? oauth.clientAssertion.secretId : undefined,
    ],
  ];
  for (const [field, secretId] of named) {
    if (secretId !== undefined && !secretNameOf(secretId).startsWith(`${ownSecret}/`))
      issue(['oauth', ...field.split('.')], `must be a secret under the tenant's own prefix ${ownSecret}/`);
  }
  if (oauth.clientAssertion?.backend === 'kms')
    issue(
      ['oauth', 'clientAssertion', 'backend'],
      'a tenant signs client assertions with a secret under its own prefix',
    );
}

/** The outcome of validating a tenant item. */
export type TenantItemResult =
  | { readonly ok: true; readonly item: TenantItem }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * Validates a tenant item with the configuration's own schemas and rules.
 * @param expectedId The key the item was stored under: an item claiming another tenant's ID is invalid.
 */
export function validateTenantItem(input: unknown, tenancy: TenancyConfig, expectedId?: string): TenantItemResult {
  const result = schemaFor(tenancy).safeParse(input);
  const idProblem =
    expectedId !== undefined &&
    (input as { id?: unknown } | null)?.id !== expectedId &&
    `id: is ${JSON.stringify((input as { id?: unknown } | null)?.id)} but the item is stored as ${JSON.stringify(expectedId)}`;
  if (result.success && !idProblem) return { ok: true, item: result.data };
  return {
    ok: false,
    problems: [...(idProblem ? [idProblem] : []), ...(result.success ? [] : describeIssues(result.error))],
  };
}

/**
 * One refined schema per tenancy configuration: zod compiles a schema on its first parse, so building it
 * per item would cost that compilation on every registry read (measured here: 1.27 ms per item
 * with a schema per item, 0.11 ms with this cache).
 */
const schemas = new WeakMap<TenancyConfig, z.ZodMiniType<TenantItem, unknown>>();

function schemaFor(tenancy: TenancyConfig): z.ZodMiniType<TenantItem, unknown> {
  let schema = schemas.get(tenancy);
  if (schema === undefined) {
    schema = tenantItemSchema.check(
      z.superRefine((item, ctx) => {
        checkTokenPolicy(item.qlik.token, ctx);
        checkIdentityMapping(item.identity, ctx);
        if (item.oauth !== undefined) checkOAuth(item.qlik.tenantHost, item.oauth, ctx);
        checkOwnership(item, tenancy, ctx);
      }),
    );
    schemas.set(tenancy, schema);
  }
  return schema;
}

/** Builds the hot-path view of a valid item. */
export function tenantFromItem(item: TenantItem): Tenant {
  return { item, identity: resolveIdentityMapping(item.identity) };
}
