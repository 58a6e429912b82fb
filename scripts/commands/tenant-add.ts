/**
 * `qtv tenant add`: onboards a Qlik tenant while the service runs. In order, each step idempotent:
 *   1. the tenant's key: a new RSA key in its own secret `<secretPrefix><id>` (or a KMS key aliased
 *      `<kmsAliasPrefix><id>`, or the deployment's shared key under the tenant's own key ID);
 *   2. the JWT identity provider on the Qlik tenant, through `POST /api/v1/identity-providers`
 *      (https://qlik.dev/apis/rest/identity-providers/), unless one with the same issuer and key ID exists;
 *   3. the web integration, the CSP entries (frame-ancestors) and the OAuth clients (the proxy's login client,
 *      the impersonation client; secrets into Secrets Manager under `<secretPrefix><id>/`), each through the
 *      REST API qlik.dev documents for it (./tenant-qlik-setup.ts, functions/qlik/tenant-setup.ts);
 *   4. the registry item, written last and only if absent, so a tenant becomes usable only once Qlik
 *      trusts its key.
 * A failure names the steps already done; re-running the same command continues where it stopped.
 * `--dry-run` performs only the reads and prints the plan.
 */
import { generateKeyPairSync } from 'node:crypto';
import { CreateAliasCommand, CreateKeyCommand, DescribeKeyCommand } from '@aws-sdk/client-kms';
import { CreateSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { QlikApiError, QlikRestIdentityProviders } from '../../functions/qlik/identity-providers.js';
import { QlikRestTenantSetup } from '../../functions/qlik/tenant-setup.js';
import type { TenancyConfig } from '../../functions/runtime/config.js';
import { createSelfSignedCertificate } from '../../functions/signing/certificates.js';
import { kmsCertificate, kmsPublicJwk } from '../../functions/signing/kms-certificate.js';
import { signingKeyFromSecret } from '../../functions/signing/signing-key.js';
import { documentOf, type TenantRecord } from '../../functions/tenancy/store.js';
import {
  type TenantItem,
  type TenantItemInput,
  tenantKeySecretName,
  tenantKmsAlias,
  validateTenantItem,
} from '../../functions/tenancy/tenant.js';
import { awsError, kmsClient, kmsError, secretsManagerClient } from '../cli/key-source.js';
import {
  CliError,
  type Command,
  EXIT,
  inputErrorFrom,
  jsonText,
  parseCommandArgs,
  readTextFile,
  upstreamError,
  usageError,
} from '../cli/support.js';
import { REGISTRY_HELP, registryError, registryFrom, registryOptions, tenantIdArg } from '../cli/tenant-support.js';
import { adminCredential, tenantBaseUrl } from './idp-push.js';
import { type QlikSetupResult, type SetupStep, setUpQlikTenant } from './tenant-qlik-setup.js';

const help = `qtv tenant add: onboard a Qlik tenant (key, Qlik JWT IdP, web integration, CSP, OAuth clients, registry item) without a redeploy

usage: qtv tenant add <id> --table NAME --tenant-host HOST --issuer ISS
                      [--key secret|kms|shared] [--kid KID] [--shared-secret-id S]
                      [--item-file FILE] [--origin URL]... [--web-integration-id ID]
                      [--oauth-redirect-uri URL]... [--app-url URL]... [--impersonation]
                      [--qlik-url URL] [--client-id ID | env QTV_QLIK_API_KEY] [--skip-qlik]
                      [--dry-run] [--json]

  <id>                  the tenant ID: exactly the value of the callers' tenant claim (tenancy.tenantClaim)
  --tenant-host HOST    the customer's Qlik Cloud tenant, e.g. acme.eu.qlikcloud.com
  --issuer ISS          the issuer this tenant's Qlik JWT IdP trusts (one per tenant)
  --key MODE            secret (default): a new RSA key in the secret <secret-prefix><id>
                        kms: a new KMS key (RSA_2048, SIGN_VERIFY) aliased <kms-alias-prefix><id>
                        shared: the deployment's key (--shared-secret-id) under this tenant's --kid
  --kid KID             key ID for the Qlik IdP (secret/kms: default the key's RFC 7638 thumbprint; shared: required)
  --item-file FILE      JSON with more item fields (identity, oauth, token policy ...); flags win
  --origin URL          an allowed origin of the tenant's web apps (repeatable)
  --web-integration-id  use this Qlik web integration (default: create "qlik-token-vending <id>" allowing --origin)
  --oauth-redirect-uri  create the proxy's OAuth login client with this redirect URI (repeatable, at most 5);
                        its secret goes to <secret-prefix><id>/oauth-client
  --app-url URL         an app URL the login may return to (oauth.appReturnUrls; repeatable)
  --impersonation       create the M2M impersonation client too (secret in <secret-prefix><id>/impersonation)
  --qlik-url URL        the tenant's base URL for the REST API (default https://<tenant-host>; the emulator's URL locally)
  --client-id ID        admin OAuth client (secret in env QTV_QLIK_CLIENT_SECRET); or env QTV_QLIK_API_KEY
  --skip-qlik           do not touch the Qlik tenant (prints the manual steps; register the IdP with qtv idp push)
  --dry-run             only read; print what would be created
${REGISTRY_HELP}

Idempotent: run it again and existing steps say "exists". An item that exists with other Qlik or key
settings is refused (qtv tenant show <id>, then qtv tenant remove <id>).

example:
  QTV_QLIK_API_KEY=... qtv tenant add acme --table qlik-token-vending-tenants \\
    --tenant-host acme.eu.qlikcloud.com --issuer https://qtv.example.com/acme --origin https://reports.acme.com
`;

/** One step of the plan: key, qlik-idp, web-integration, csp-origin, oauth-client, impersonation-client, registry. */
type Step = SetupStep;

/** The tenant's key, as the IdP needs it. */
interface KeyFacts {
  readonly kid: string;
  readonly certificate: string | undefined;
}

function readItemFile(path: string | undefined): Partial<TenantItemInput> {
  if (path === undefined) return {};
  const text = readTextFile(path, '--item-file', 'a JSON tenant item');
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TypeError('not an object');
    return parsed as Partial<TenantItemInput>;
  } catch (error) {
    throw usageError(
      `--item-file ${path} is not a JSON object (${(error as Error).message}): see docs/multi-tenant.md`,
    );
  }
}

/** `qtv tenant add`. */
export const tenantAddCommand: Command = {
  name: 'tenant add',
  summary: 'onboard a tenant: its key, its Qlik JWT IdP (REST API) and its registry item; --dry-run',
  help,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(
      'tenant add',
      argv,
      {
        ...registryOptions,
        'tenant-host': { type: 'string' },
        issuer: { type: 'string' },
        key: { type: 'string', default: 'secret' },
        kid: { type: 'string' },
        'shared-secret-id': { type: 'string' },
        'item-file': { type: 'string' },
        origin: { type: 'string', multiple: true },
        'web-integration-id': { type: 'string' },
        'oauth-redirect-uri': { type: 'string', multiple: true },
        'app-url': { type: 'string', multiple: true },
        impersonation: { type: 'boolean', default: false },
        'qlik-url': { type: 'string' },
        'client-id': { type: 'string' },
        scope: { type: 'string' },
        'skip-qlik': { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
      },
      true,
    );
    const id = tenantIdArg(positionals[0], 'tenant add');
    const { store, tenancy, region } = registryFrom(values);
    if (values['tenant-host'] === undefined)
      throw usageError('--tenant-host required: e.g. --tenant-host acme.eu.qlikcloud.com');
    if (values.issuer === undefined || values.issuer.trim() === '')
      throw usageError(
        "--issuer required: the issuer this tenant's Qlik JWT IdP trusts, e.g. https://qtv.example.com/acme",
      );
    const mode = values.key;
    if (mode !== 'secret' && mode !== 'kms' && mode !== 'shared')
      throw usageError(`--key ${JSON.stringify(mode)}: use secret, kms or shared`);
    if (mode === 'shared' && (values.kid === undefined || values['shared-secret-id'] === undefined))
      throw usageError(
        "--key shared needs --kid (this tenant's key ID) and --shared-secret-id (the deployment's key secret, for its certificate)",
      );
    const dryRun = values['dry-run'];
    const now = new Date().toISOString();
    const extra = readItemFile(values['item-file']);
    const secretName = tenantKeySecretName(tenancy, id);
    const alias = tenantKmsAlias(tenancy, id);
    const origins = values.origin ?? extra.allowedOrigins ?? [];
    const redirectUris = values['oauth-redirect-uri'];
    if (values.impersonation && redirectUris === undefined && extra.oauth === undefined)
      throw usageError(
        "--impersonation needs the tenant's oauth section: add --oauth-redirect-uri (the proxy's callback) or an --item-file with oauth",
      );
    const createClients = redirectUris !== undefined || values.impersonation;
    if (createClients && values['skip-qlik'])
      throw usageError(
        '--skip-qlik cannot create OAuth clients: create them in the Management Console and name them in --item-file oauth',
      );
    const secretNames = { proxy: `${secretName}/oauth-client`, impersonation: `${secretName}/impersonation` };
    // Filled in by the Qlik set-up; placeholders keep the first validation meaningful.
    const qlikSetup: QlikSetupResult = {
      webIntegrationId: values['web-integration-id'] ?? extra.webIntegrationId,
      proxyClientId: undefined,
      impersonationClientId: undefined,
    };
    const oauthSection = (): TenantItemInput['oauth'] => {
      if (!createClients) return extra.oauth;
      const base = extra.oauth;
      return {
        ...(base ?? {}),
        ...(values['qlik-url'] !== undefined && base?.tenantUrl === undefined ? { tenantUrl: values['qlik-url'] } : {}),
        clientId: redirectUris !== undefined ? (qlikSetup.proxyClientId ?? 'pending-oauth-client') : base!.clientId,
        ...(redirectUris !== undefined
          ? { clientSecretId: secretNames.proxy, redirectUris, clientAuth: 'secret' as const }
          : { redirectUris: base!.redirectUris }),
        ...(values['app-url'] !== undefined ? { appReturnUrls: values['app-url'] } : {}),
        ...(values.impersonation
          ? {
              impersonation: {
                ...(base?.impersonation ?? {}),
                enabled: true,
                clientId: qlikSetup.impersonationClientId ?? 'pending-impersonation-client',
                clientSecretId: secretNames.impersonation,
              },
            }
          : {}),
      };
    };

    // 0. The item is validated before anything is created (the key ID is filled in after step 1).
    const draft = (kid: string | undefined): TenantItemInput => ({
      ...extra,
      id,
      status: 'active',
      version: 1,
      qlik: {
        ...(extra.qlik ?? {}),
        tenantHost: values['tenant-host']!,
        issuer: values.issuer!.trim(),
        ...(kid !== undefined ? { keyId: kid } : {}),
      },
      signing:
        mode === 'secret'
          ? { backend: 'secrets-manager', secretId: secretName }
          : mode === 'kms'
            ? { backend: 'kms', keyId: alias }
            : { backend: 'shared' },
      ...(values.origin !== undefined ? { allowedOrigins: values.origin } : {}),
      ...(qlikSetup.webIntegrationId !== undefined ? { webIntegrationId: qlikSetup.webIntegrationId } : {}),
      ...(createClients ? { oauth: oauthSection() } : {}),
      createdAt: now,
      updatedAt: now,
    });
    const precheck = validateTenantItem(draft(values.kid ?? 'placeholder-kid'), tenancy, id);
    if (!precheck.ok) throw usageError(`the tenant item would be invalid: ${precheck.problems.join('; ')}`);

    const steps: Step[] = [];
    const table = values.table!;

    // The registry is read first: an item with other settings stops everything before a key is made.
    let existing: Awaited<ReturnType<typeof store.get>>;
    try {
      existing = await store.get(id);
    } catch (error) {
      throw registryError(error, table, `cannot read tenant ${id}`);
    }

    const storedItem = existing === undefined ? undefined : storedSetup(existing, tenancy, id, table);
    if (storedItem !== undefined && !sameSetup(storedItem, precheck.item, false))
      throw existsWithOtherSettings(id, table);

    // 1. The key.
    let key: KeyFacts | undefined;
    if (mode === 'secret') key = await ensureSecretKey(secretName, values, id, dryRun, steps, region);
    else if (mode === 'kms') key = await ensureKmsKey(alias, values, id, dryRun, steps, region);
    else {
      const shared = await readSecretKey(values['shared-secret-id']!, region, values.kid);
      if (shared === undefined) throw usageError(`--shared-secret-id ${values['shared-secret-id']} does not exist`);
      key = { kid: values.kid!, certificate: shared.certificate };
      steps.push({
        step: 'key',
        action: 'exists',
        detail: `shared key ${values['shared-secret-id']} under key ID ${values.kid}`,
      });
    }

    const keyed = validateTenantItem(draft(key?.kid ?? values.kid), tenancy, id);
    if (!keyed.ok) throw usageError(`the tenant item would be invalid: ${keyed.problems.join('; ')}`);
    if (storedItem !== undefined && !sameSetup(storedItem, keyed.item, true)) throw existsWithOtherSettings(id, table);

    // 2. and 3. The Qlik tenant: JWT IdP, web integration, CSP, OAuth clients. A failure says what was done.
    try {
      if (values['skip-qlik']) {
        steps.push({ step: 'qlik-idp', action: 'skip', detail: '--skip-qlik: register it with qtv idp push' });
        for (const manual of manualQlikSteps(values['tenant-host']!, origins))
          steps.push({ step: manual.step, action: 'manual', detail: manual.detail });
      } else {
        const admin = new QlikRestIdentityProviders({
          tenant: tenantBaseUrl(values['qlik-url'] ?? values['tenant-host']!),
          fetch: io.fetch,
          timeoutMs: 15_000,
          ...adminCredential(values),
          ...(values.scope !== undefined ? { scope: values.scope } : {}),
        });
        await ensureQlikIdp(admin, keyed.item, key, values, dryRun, steps);
        await setUpQlikTenant(
          {
            tenantId: id,
            base: tenantBaseUrl(values['qlik-url'] ?? values['tenant-host']!),
            origins,
            webIntegrationId: values['web-integration-id'] ?? extra.webIntegrationId,
            proxyClient:
              redirectUris === undefined
                ? undefined
                : { redirectUris, scopes: keyed.item.oauth?.scopes ?? ['user_default', 'offline_access'] },
            impersonation: values.impersonation,
            proxySecretName: secretNames.proxy,
            impersonationSecretName: secretNames.impersonation,
            dryRun,
          },
          new QlikRestTenantSetup(admin),
          secretsManagerClient(region),
          steps,
          qlikSetup,
        );
      }
    } catch (error) {
      throw partialFailure(error, steps, dryRun);
    }

    const validated = validateTenantItem(draft(key?.kid ?? values.kid), tenancy, id);
    if (!validated.ok) throw usageError(`the tenant item would be invalid: ${validated.problems.join('; ')}`);
    const item = validated.item;

    // 4. The registry item, last.
    const drift = storedItem === undefined ? [] : qlikDrift(storedItem, item);
    if (existing !== undefined && drift.length > 0)
      steps.push({
        step: 'registry',
        action: 'manual',
        detail: `${table}: ${id} v${existing.version} differs from this run in ${drift.join(', ')} and is not rewritten: compare with qtv tenant show ${id}; to replace it, qtv tenant remove ${id}, then this add again (the key and the Qlik set-up are found, not made again)`,
      });
    else if (existing !== undefined)
      steps.push({ step: 'registry', action: 'exists', detail: `${table}: ${id} v${existing.version}` });
    else if (dryRun)
      steps.push({ step: 'registry', action: 'create', detail: `${table}: ${id} (${documentOf(item).length} bytes)` });
    else {
      let written: boolean;
      try {
        written = await store.put(item, 0);
      } catch (error) {
        throw registryError(error, table, `cannot write tenant ${id}`);
      }
      if (!written)
        throw upstreamError(`tenant ${id} was written by someone else meanwhile: run qtv tenant show ${id}`);
      steps.push({ step: 'registry', action: 'create', detail: `${table}: ${id} v1 (active)` });
    }

    if (values.json) io.stdout(jsonText({ id, dryRun, keyId: key?.kid, steps }));
    else
      io.stdout(
        `${dryRun ? 'plan (dry run, nothing changed)' : `tenant ${id}`}:\n${steps
          .map(
            (s) =>
              `  ${s.step.padEnd(20)} ${(dryRun && ['create', 'update', 'resume'].includes(s.action) ? `would ${s.action}` : s.action).padEnd(12)} ${s.detail}`,
          )
          .join('\n')}\n`,
      );
    return EXIT.ok;
  },
};

/** Fields the stored item holds differently from this run (Qlik set-up IDs, origins); a re-run reports them. */
function qlikDrift(stored: TenantItem, found: TenantItem): string[] {
  const drift: string[] = [];
  if (JSON.stringify([...stored.allowedOrigins].sort()) !== JSON.stringify([...found.allowedOrigins].sort()))
    drift.push('allowedOrigins');
  if (found.webIntegrationId !== undefined && stored.webIntegrationId !== found.webIntegrationId)
    drift.push('webIntegrationId');
  if (found.oauth !== undefined && stored.oauth?.clientId !== found.oauth.clientId) drift.push('oauth.clientId');
  if (
    found.oauth?.impersonation.clientId !== undefined &&
    stored.oauth?.impersonation.clientId !== found.oauth.impersonation.clientId
  )
    drift.push('oauth.impersonation.clientId');
  return drift;
}

/** What an operator does by hand with --skip-qlik (the same things the REST steps do). */
function manualQlikSteps(tenantHost: string, origins: readonly string[]): { step: string; detail: string }[] {
  const list = origins.length > 0 ? origins.join(', ') : '<your app origins>';
  return [
    {
      step: 'web-integration',
      detail: `in https://${tenantHost} Administration > Web: create one allowing ${list}; pass its ID as --web-integration-id`,
    },
    {
      step: 'csp-origin',
      detail: `Administration > Content Security Policy: add ${list} with frame-ancestors (to embed in iframes)`,
    },
  ];
}

/**
 * A failure after the key exists: the error's own line, then what was done and how to continue. Every step
 * is idempotent, so the same command picks up where this one stopped.
 */
function partialFailure(caught: unknown, steps: readonly Step[], dryRun: boolean): unknown {
  const error =
    caught instanceof QlikApiError
      ? upstreamError(
          `${caught.message.replace(/\.$/, '')}: check the admin credential (tenant admin role) and --qlik-url.`,
          { cause: caught },
        )
      : caught;
  if (!(error instanceof CliError)) return error;
  const done = steps.filter((s) => s.action !== 'exists' && s.action !== 'skip').map((s) => `${s.step} ${s.action}`);
  const summary = dryRun
    ? ''
    : ` Done before the failure: ${done.length > 0 ? done.join(', ') : 'nothing new'}; the registry item is not written yet. Fix the cause and re-run the same command: finished steps report "exists".`;
  return new CliError(error.exitCode, `${error.message}${summary}`, { cause: error });
}

/** The fields that decide which Qlik tenant, issuer and key a tenant uses: a re-run must match them. */
function sameSetup(a: TenantItem, b: TenantItem, compareKeyId: boolean): boolean {
  return (
    a.qlik.tenantHost === b.qlik.tenantHost &&
    a.qlik.issuer === b.qlik.issuer &&
    (!compareKeyId || a.qlik.keyId === b.qlik.keyId) &&
    JSON.stringify(a.signing) === JSON.stringify(b.signing)
  );
}

/** The stored item, validated; an invalid stored item stops `add` (it must be looked at first). */
function storedSetup(record: TenantRecord, tenancy: TenancyConfig, id: string, table: string): TenantItem {
  const stored = validateTenantItem(
    { ...(record.document as object), id, status: record.status, version: record.version },
    tenancy,
    id,
  );
  if (!stored.ok) throw existsWithOtherSettings(id, table);
  return stored.item;
}

const existsWithOtherSettings = (id: string, table: string) =>
  usageError(
    `tenant ${id} already exists in ${table} with other settings: compare with qtv tenant show ${id}, or qtv tenant remove ${id} first`,
  );

async function readSecretKey(secretId: string, region: string | undefined, fallbackKid?: string) {
  let value: string | undefined;
  try {
    value = (await secretsManagerClient(region).send(new GetSecretValueCommand({ SecretId: secretId }))).SecretString;
  } catch (error) {
    if ((error as { name?: string }).name === 'ResourceNotFoundException') return undefined;
    throw awsError(error, `cannot read secret ${secretId}`);
  }
  try {
    const key = await signingKeyFromSecret(value ?? '', fallbackKid === undefined ? {} : { fallbackKid });
    return { kid: key.kid, certificate: key.certificatePem };
  } catch (error) {
    return inputErrorFrom(error);
  }
}

async function ensureSecretKey(
  secretName: string,
  values: { kid?: string },
  id: string,
  dryRun: boolean,
  steps: Step[],
  region: string | undefined,
): Promise<KeyFacts | undefined> {
  const found = await readSecretKey(secretName, region);
  if (found !== undefined) {
    steps.push({ step: 'key', action: 'exists', detail: `secret ${secretName} (key ID ${found.kid})` });
    return found;
  }
  if (dryRun) {
    steps.push({
      step: 'key',
      action: 'create',
      detail: `secret ${secretName} with a new RSA 2048 key and certificate`,
    });
    return values.kid === undefined ? undefined : { kid: values.kid, certificate: undefined };
  }
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const key = await signingKeyFromSecret(pem, values.kid === undefined ? {} : { fallbackKid: values.kid });
  const certificate = await createSelfSignedCertificate({
    privateKey,
    commonName: `qlik-token-vending ${id}`,
    validityDays: 397,
  });
  try {
    await secretsManagerClient(region).send(
      new CreateSecretCommand({
        Name: secretName,
        Description: `Qlik JWT signing key of tenant ${id} (qlik-token-vending)`,
        SecretString: JSON.stringify({ privateKey: pem, kid: key.kid, certificate }),
        Tags: [{ Key: 'qtv:tenant', Value: id }],
      }),
    );
  } catch (error) {
    throw awsError(error, `cannot create secret ${secretName}`);
  }
  steps.push({ step: 'key', action: 'create', detail: `secret ${secretName} (RSA 2048, key ID ${key.kid})` });
  return { kid: key.kid, certificate };
}

async function ensureKmsKey(
  alias: string,
  values: { kid?: string },
  id: string,
  dryRun: boolean,
  steps: Step[],
  region: string | undefined,
): Promise<KeyFacts | undefined> {
  const client = kmsClient(region);
  let exists = true;
  try {
    await client.send(new DescribeKeyCommand({ KeyId: alias }));
  } catch (error) {
    if ((error as { name?: string }).name !== 'NotFoundException') throw kmsError(error, alias);
    exists = false;
  }
  if (!exists) {
    if (dryRun) {
      steps.push({ step: 'key', action: 'create', detail: `KMS key RSA_2048 SIGN_VERIFY aliased ${alias}` });
      return values.kid === undefined ? undefined : { kid: values.kid, certificate: undefined };
    }
    try {
      const created = await client.send(
        new CreateKeyCommand({
          KeySpec: 'RSA_2048',
          KeyUsage: 'SIGN_VERIFY',
          Description: `Qlik JWT signing key of tenant ${id} (qlik-token-vending)`,
          Tags: [{ TagKey: 'qtv:tenant', TagValue: id }],
        }),
      );
      await client.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: created.KeyMetadata!.KeyId! }));
    } catch (error) {
      throw kmsError(error, alias);
    }
  }
  try {
    const kid = values.kid ?? (await kmsPublicJwk(client, alias)).thumbprint;
    const certificate = await kmsCertificate(client, alias, {
      commonName: `qlik-token-vending ${id}`,
      validityDays: 397,
    });
    steps.push({ step: 'key', action: exists ? 'exists' : 'create', detail: `KMS key ${alias} (key ID ${kid})` });
    return { kid, certificate };
  } catch (error) {
    throw kmsError(error, alias);
  }
}

async function ensureQlikIdp(
  qlik: QlikRestIdentityProviders,
  item: TenantItem,
  key: KeyFacts | undefined,
  values: { 'qlik-url'?: string },
  dryRun: boolean,
  steps: Step[],
): Promise<void> {
  const base = tenantBaseUrl(values['qlik-url'] ?? item.qlik.tenantHost);
  const issuer = item.qlik.issuer;
  try {
    const found =
      key === undefined
        ? undefined
        : (await qlik.listJwtIdentityProviders()).find((idp) => idp.issuer === issuer && idp.kid === key.kid);
    if (found !== undefined) {
      steps.push({
        step: 'qlik-idp',
        action: 'exists',
        detail: `${base}: JWT IdP ${found.id} (issuer ${issuer}, key ID ${key!.kid})`,
      });
      return;
    }
    if (dryRun || key === undefined || key.certificate === undefined) {
      steps.push({
        step: 'qlik-idp',
        action: 'create',
        detail: `${base}: JWT IdP for issuer ${issuer}${key ? `, key ID ${key.kid}` : ''}`,
      });
      return;
    }
    const created = await qlik.createJwtIdentityProvider({
      kid: key.kid,
      issuer,
      certificate: key.certificate,
      description: `qlik-token-vending key ${key.kid} (tenant ${item.id})`,
    });
    steps.push({
      step: 'qlik-idp',
      action: 'create',
      detail: `${base}: JWT IdP ${created.id} (issuer ${issuer}, key ID ${key.kid})`,
    });
  } catch (error) {
    if (error instanceof QlikApiError)
      throw upstreamError(
        `${error.message.replace(/\.$/, '')}: check the admin credential (tenant admin role) and --qlik-url.`,
      );
    throw error;
  }
}
