/**
 * The one configuration schema and loader, shared by the CDK app (synth time), the Lambdas
 * (cold start), the dev server and the CLI. This is the only module that reads `process.env`.
 * A bad configuration fails with every problem listed at once.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { IDENTITY_PRESETS, identityPresets } from '../identity/presets.js';
import { QLIK_MAX_LIFETIME_SECONDS } from '../qlik/claims.js';
import * as z from './zod.js';

/**
 * Builds a value on the first call and returns that same value ever after. Every configuration schema is
 * made through one, so a section the configuration does not hold costs nothing at cold start (issue #15).
 */
// @__NO_SIDE_EFFECTS__
function once<T>(build: () => T): () => T {
  let built: T | undefined;
  return () => {
    if (built === undefined) built = build();
    return built;
  };
}

const nonEmpty = z.string().check(z.trim(), z.minLength(1, 'must not be empty'));
const claimList = once(() => z.array(nonEmpty).check(z.minLength(1, 'must name at least one claim')));
const positiveInt = z.number().check(z.int('must be a whole number'), z.positive('must be positive'));

const identityOverrideSchema = once(() =>
  z.strictObject({
    sub: z.optional(nonEmpty),
    name: z.optional(nonEmpty),
    email: z.optional(nonEmpty),
    groups: z.optional(z.array(nonEmpty)),
  }),
);

/** How the caller's claims become a Qlik identity. */
const buildIdentityMapping = once(() =>
  z.strictObject({
    /** Defaults for a known provider; any field set below wins. */
    preset: z._default(z.enum(IDENTITY_PRESETS), 'generic'),
    subClaims: z.optional(claimList()),
    nameClaims: z.optional(claimList()),
    emailClaims: z.optional(claimList()),
    /**
     * `from-claim`: copy the provider's email_verified claim. `always-true`: assert it for every caller,
     * a trust decision for providers that never send it (Entra ID, OneLogin) but only hold verified mail.
     */
    emailVerified: z.optional(z.enum(['from-claim', 'always-true'])),
    emailVerifiedClaim: z.optional(nonEmpty),
    groups: z._default(
      z.strictObject({
        claims: z.optional(claimList()),
        /** Renames source values (e.g. Entra ID group object IDs) to Qlik group names; applied first. */
        map: z._default(z.record(z.string(), nonEmpty), {}),
        /** Keep only groups that start with this prefix. */
        requirePrefix: z.optional(nonEmpty),
        /** Remove `requirePrefix` from the kept names. */
        stripPrefix: z._default(z.boolean(), false),
        /** Keep only these names (after mapping and prefix handling); absent means all. */
        allow: z.optional(z.array(nonEmpty)),
        /** At most this many groups go into a token; the rest are dropped with a warning log. */
        max: z._default(positiveInt.check(z.maximum(500)), 50),
        /** Drop groups that `map` does not name (useful with Entra ID object IDs). */
        onlyMapped: z._default(z.boolean(), false),
      }),
      { map: {}, stripPrefix: false, max: 50, onlyMapped: false },
    ),
    /** Per-user overrides keyed by the caller's resolved `sub` (e.g. a Qlik username that differs). */
    overrides: z._default(z.record(z.string(), identityOverrideSchema()), {}),
  }),
);

/** How the caller's claims become a Qlik identity (built on first use). */
export const identityMappingSchema = /* @__PURE__ */ z.lazy(buildIdentityMapping);

const secretsManagerSigningSchema = once(() =>
  z.strictObject({
    backend: z.literal('secrets-manager'),
    /** Secret name or ARN holding the PEM key (whole SecretString, or JSON with `privateKey`). */
    secretId: nonEmpty,
    /** JSON field holding the PEM when the secret is JSON; default `privateKey`. */
    jsonField: z._default(nonEmpty, 'privateKey'),
    /** How long a fetched key is served before Secrets Manager is asked again. */
    cacheTtlSeconds: z._default(positiveInt.check(z.maximum(86_400)), 300),
    /**
     * The public-material secret (key ID, issuer, public key, certificate; functions/signing/public-material.ts),
     * kept apart from the private key so the public `/qlik/idp-config` function holds no signing power.
     * The CDK stack creates it and sets this; unset (the dev server), /qlik/idp-config derives the values from the key.
     */
    publicSecretId: z.optional(nonEmpty),
  }),
);

const kmsSigningSchema = once(() =>
  z.strictObject({
    backend: z.literal('kms'),
    /** Key ID, ARN or alias of an asymmetric RSA SIGN_VERIFY key (RSA_2048, RSA_3072 or RSA_4096). */
    keyId: nonEmpty,
    /**
     * The public-material secret (key ID, issuer, public key, certificate; functions/signing/public-material.ts),
     * kept apart from the private key so the public `/qlik/idp-config` function holds no signing power.
     * The CDK stack creates it and sets this; unset (the dev server), /qlik/idp-config derives the values from the key.
     */
    publicSecretId: z.optional(nonEmpty),
    /** Retries of throttled or failing KMS calls before the caller gets 503 with Retry-After. */
    retry: z._default(
      z.strictObject({
        /** Attempts in all, including the first. */
        maxAttempts: z._default(positiveInt.check(z.maximum(10)), 3),
        /** Cap of the first jittered backoff, doubling per attempt. */
        baseDelayMs: z._default(positiveInt.check(z.maximum(5_000)), 50),
        /** Total time one signature may spend in KMS calls and waits. */
        budgetMs: z._default(positiveInt.check(z.maximum(10_000)), 1_000),
      }),
      { maxAttempts: 3, baseDelayMs: 50, budgetMs: 1_000 },
    ),
  }),
);

const fileSigningSchema = once(() =>
  z.strictObject({
    backend: z.literal('file'),
    /** Path to a PEM private key (PKCS#8 or PKCS#1), for local development. */
    privateKeyPath: nonEmpty,
    /** Path to the matching X.509 certificate PEM; optional. */
    certificatePath: z.optional(nonEmpty),
  }),
);

/** CloudWatch Logs retention periods (days) that the service accepts. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const deploymentDefaults = {
  lambda: { memoryMb: 512, timeoutSeconds: 10 },
  logRetentionDays: 30,
  kmsKeySpec: 'RSA_2048',
  secretEncryption: 'aws-managed',
  alarms: { p99LatencyMs: 2000, fiveXxRatePercent: 1 },
  tracing: true,
} as const;

/**
 * Settings used only by the CDK app at synth time (the Lambdas ignore them). How the signing key is
 * provisioned follows `signing`: an ARN is imported, a plain name (secret) or `alias/...` (KMS) is created.
 */
const buildDeployment = once(() =>
  z.strictObject({
    lambda: z._default(
      z.strictObject({
        /** Memory (MB); also buys CPU, which RSA signing uses. */
        memoryMb: z._default(z.number().check(z.int('must be a whole number'), z.minimum(128), z.maximum(10_240)), 512),
        timeoutSeconds: z._default(
          z
            .number()
            .check(
              z.int('must be a whole number'),
              z.minimum(1),
              z.maximum(29, 'must be at most 29: API Gateway gives up after 30 s'),
            ),
          10,
        ),
        /** Reserved concurrency per function; absent means the account pool. */
        reservedConcurrency: z.optional(positiveInt),
      }),
      { ...deploymentDefaults.lambda },
    ),
    /** Retention of function logs and API access logs. */
    logRetentionDays: z._default(
      z.number().check(
        z.refine((days) => (LOG_RETENTION_DAYS as readonly number[]).includes(days), {
          message: `must be one of ${LOG_RETENTION_DAYS.join(', ')} (CloudWatch Logs retention periods)`,
        }),
      ),
      30,
    ),
    /** Key spec of a KMS key the stack creates (`signing.backend: "kms"` with an alias). */
    kmsKeySpec: z._default(z.enum(['RSA_2048', 'RSA_3072', 'RSA_4096']), 'RSA_2048'),
    /**
     * Encryption of a secret the stack creates: `aws-managed` (aws/secretsmanager) or `customer-managed`
     * (a KMS key with rotation, created by the stack). For an imported secret, name its CMK in `secretKmsKeyArn`.
     */
    secretEncryption: z._default(z.enum(['aws-managed', 'customer-managed']), 'aws-managed'),
    /** The customer-managed KMS key that encrypts an imported secret, if any. */
    secretKmsKeyArn: z.optional(z.string().check(z.regex(/^arn:aws[a-z-]*:kms:/, 'must be a KMS key ARN'))),
    /** A custom domain for the API (the ACM certificate must be in the stack's region). */
    customDomain: z.optional(
      z.strictObject({
        domainName: nonEmpty,
        certificateArn: z.string().check(z.regex(/^arn:aws[a-z-]*:acm:/, 'must be an ACM certificate ARN')),
      }),
    ),
    /**
     * X-Ray active tracing of every function, with the Powertools tracer in each bundle (a subsegment per
     * AWS SDK call). Off: no tracer code in the bundles (about 120 KiB less and a faster cold start, see
     * docs/performance.md) and Lambda's tracing mode PassThrough.
     */
    tracing: z._default(z.boolean(), true),
    alarms: z._default(
      z.strictObject({
        /** E-mail address subscribed to the alarm topic; absent means subscribe yourself. */
        email: z.optional(z.email('must be an e-mail address')),
        /** p99 integration latency that raises the latency alarm. */
        p99LatencyMs: z._default(positiveInt, 2000),
        /** Share of requests answered with 5xx (percent) that raises the 5xx alarm. */
        fiveXxRatePercent: z._default(z.number().check(z.positive('must be positive'), z.maximum(100)), 1),
      }),
      { ...deploymentDefaults.alarms },
    ),
  }),
);

/** The `deployment` section's schema (built on first use). */
export const deploymentSchema = /* @__PURE__ */ z.lazy(buildDeployment);

const buildSigning = once(() =>
  z.discriminatedUnion('backend', [secretsManagerSigningSchema(), kmsSigningSchema(), fileSigningSchema()]),
);

/** Where the signing key lives (built on first use). */
export const signingSchema = /* @__PURE__ */ z.lazy(buildSigning);

const rotationProbeIdentitySchema = once(() =>
  z.strictObject({
    sub: z._default(nonEmpty, 'qtv-rotation-probe'),
    name: z._default(nonEmpty, 'Key rotation probe'),
    email: z._default(nonEmpty, 'qtv-rotation-probe@invalid.example'),
  }),
);

/** How a rotated key reaches Qlik (`rotation.qlik.mode`; a tenant's item may choose its own). */
export const rotationQlikModeSchema = z.enum(['register', 'manual', 'promote-without-qlik']);

/**
 * Scheduled rotation of the signing key secret (issue #4, docs/rotation.md). Only the rotation function
 * and the KeyRotation construct read this section.
 */
const buildRotation = once(() =>
  z.strictObject({
    /**
     * Deploy the rotation function and its Secrets Manager schedule (signing.backend "secrets-manager" only).
     * Off by default: a first deployment creates the key secret holding a placeholder, and rotation must wait
     * until the operator has put a real key and, in register mode, an admin client exists (docs/deploy.md).
     */
    enabled: z._default(z.boolean(), false),
    /** RSA modulus of new keys. Qlik's guides use 2048 (qs-jwt) to 4096 (ConnectReport). */
    keySize: z._default(z.union([z.literal(2048), z.literal(3072), z.literal(4096)]), 2048),
    /** First part of new key IDs: `<prefix>-YYYY-MM-DD-<4 hex>`. */
    kidPrefix: z._default(
      z
        .string()
        .check(z.regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/, 'must be 1-32 letters, digits, dot, dash or underscore')),
      'qtv',
    ),
    /** Days between scheduled rotations (Secrets Manager allows 1-1000). */
    scheduleDays: z._default(positiveInt.check(z.maximum(1000)), 30),
    /** Validity of the self-signed certificate made for each new key. */
    certificateValidityDays: z._default(positiveInt.check(z.maximum(3650)), 397),
    /**
     * How long a demoted key's Qlik IdP is kept at least (it must outlive every token signed with it:
     * cache TTL + longest token lifetime + skew). Older managed IdPs are removed when the next rotation starts.
     */
    gracePeriodSeconds: z._default(positiveInt, 3600),
    /** SNS topic told when the operator must act (paste an IdP, a blocked rotation). */
    notifyTopicArn: z.optional(z.string().check(z.regex(/^arn:aws[a-z-]*:sns:/, 'must be an SNS topic ARN'))),
    qlik: z.prefault(
      z.strictObject({
        /**
         * `register`: create a JWT IdP for the new key through the Qlik REST API and prove a login before promotion.
         * `manual`: an operator pastes the IdP; promotion waits until a probe login works (or is blocked with a message).
         * `promote-without-qlik`: promote after local checks only; tokens fail until the operator pastes the IdP.
         */
        mode: z._default(rotationQlikModeSchema, 'manual'),
        /** Secrets Manager secret with `{"clientId","clientSecret"}` of an admin-scoped Qlik OAuth client (register mode). */
        adminCredentialsSecretId: z.optional(nonEmpty),
        /** Sent as `qlik-web-integration-id` on the probe login, when the tenant wants one. */
        webIntegrationId: z.optional(nonEmpty),
        /** The user the probe login signs in as (it appears in the tenant). */
        probeIdentity: z.prefault(rotationProbeIdentitySchema(), {}),
        /** Timeout of each call to the tenant. */
        requestTimeoutMs: z._default(positiveInt.check(z.maximum(60_000)), 10_000),
      }),
      {},
    ),
  }),
);

/** The `rotation` section's schema (built on first use). */
export const rotationSchema = /* @__PURE__ */ z.lazy(buildRotation);

/** Hosts a plain-http tenant URL may name: only loopback (the tenant emulator), never a real tenant. */
const LOOPBACK_HOST = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d+)?$/i;

/** An https URL, or http on a loopback host (the dev server and tests run on 127.0.0.1). */
const webUrl = once(() =>
  z.url('must be an absolute URL').check(
    z.refine((value: string) => {
      // zod runs this check even when the URL check above failed: that one already reported the value.
      if (!URL.canParse(value)) return true;
      const url = new URL(value);
      return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOST.test(url.host));
    }, 'must be an https URL (http is allowed for 127.0.0.1/localhost only)'),
  ),
);

/** How the proxy authenticates itself to Qlik's /oauth/token (qlik-auth.md: client secret or client_assertion). */
const clientAssertionSchema = once(() =>
  z.discriminatedUnion('backend', [
    z.strictObject({
      backend: z.literal('secrets-manager'),
      /** Secret holding an RSA private key PEM (or JSON `{privateKey, kid?}`), like the signing key secret. */
      secretId: nonEmpty,
      /** The key ID registered on the Qlik OAuth client; a secret's own `kid` wins. */
      kid: z.optional(nonEmpty),
      /** RS256 or RS512 for RSA keys (Qlik also takes ES384, which needs a KMS or EC key). */
      alg: z._default(z.enum(['RS256', 'RS512']), 'RS256'),
      cacheTtlSeconds: z._default(positiveInt.check(z.maximum(86_400)), 300),
    }),
    z.strictObject({
      backend: z.literal('kms'),
      /** KMS key ID/ARN/alias (RSA_2048+ or ECC_NIST_P384, SIGN_VERIFY). */
      keyId: nonEmpty,
      /** The key ID registered on the Qlik OAuth client. */
      kid: nonEmpty,
      alg: z._default(z.enum(['RS256', 'RS512', 'ES384']), 'RS256'),
    }),
  ]),
);

/** The OAuth proxy in front of Qlik Cloud's /oauth/* (see docs/oauth.md). */
const buildOAuth = once(() =>
  z.strictObject({
    /**
     * Base URL of the tenant's OAuth and REST endpoints. @default `https://<qlik.tenantHost>`.
     * Set it to the tenant emulator's `http://127.0.0.1:<port>` locally.
     */
    tenantUrl: z.optional(webUrl()),
    /** The OAuth client ID from the Management Console (a "web" client). */
    clientId: nonEmpty,
    /** `secret`: client secret(s) from Secrets Manager. `private-key-jwt`: a signed client_assertion (no secret stored). */
    clientAuth: z._default(z.enum(['secret', 'private-key-jwt']), 'secret'),
    /**
     * Secrets Manager secret with the client secret: a plain string, or JSON `{"clientSecrets": [...]}` or
     * `{"clientSecret": "...", "previousClientSecret": "..."}` (several are tried in order, for rotation).
     */
    clientSecretId: z.optional(nonEmpty),
    /** The key that signs client assertions when `clientAuth` is `private-key-jwt`. */
    clientAssertion: z.optional(clientAssertionSchema()),
    /**
     * Secret with the sealing key material for cookies (state/PKCE and session): a string of at least 32
     * characters, or JSON `{"sealingKeys": [...]}` (first seals, all open: rotation). When absent, the keys are
     * derived with HKDF from the client secret(s).
     */
    sealingSecretId: z.optional(nonEmpty),
    /** Where secrets come from: Secrets Manager, or (dev server only) files named by the secret IDs. */
    secretStore: z._default(z.enum(['secrets-manager', 'file']), 'secrets-manager'),
    secretCacheTtlSeconds: z._default(positiveInt.check(z.maximum(86_400)), 300),
    /** Exact redirect URIs registered on the Qlik client (Qlik allows 5). The first is this proxy's callback. */
    redirectUris: z
      .array(webUrl())
      .check(z.minLength(1, 'must name at least one redirect URI'), z.maxLength(5, 'Qlik allows at most 5')),
    /** Exact app URLs the login flow may return to (no prefixes, no wildcards). The first is the default. */
    appReturnUrls: z._default(z.array(webUrl()).check(z.maxLength(20)), []),
    /**
     * Scopes requested at /oauth/authorize. `user_default` is what Qlik's user tokens carry;
     * `offline_access` is needed for a refresh token. Request no more.
     */
    scopes: z._default(
      z.array(z.string().check(z.regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be a scope token'))).check(z.minLength(1)),
      ['user_default', 'offline_access'],
    ),
    /** `cookie`: the callback seals tokens into an HttpOnly cookie and redirects to the app. `json`: tokens are returned as JSON. */
    mode: z._default(z.enum(['json', 'cookie']), 'cookie'),
    cookie: z._default(
      z.strictObject({
        /** Cookie holding the sealed state + PKCE verifier during login (`__Host-`: Secure, Path=/, no Domain). */
        stateName: z._default(nonEmpty, '__Host-qtv-oauth-state'),
        /** Cookie holding the sealed session (tokens) in cookie mode. */
        sessionName: z._default(nonEmpty, '__Host-qtv-oauth-session'),
        /** Lifetime of the session cookie; the refresh token inside lives ~30 days at Qlik. */
        sessionMaxAgeSeconds: z._default(positiveInt.check(z.maximum(30 * 86_400)), 8 * 3600),
      }),
      {
        stateName: '__Host-qtv-oauth-state',
        sessionName: '__Host-qtv-oauth-session',
        sessionMaxAgeSeconds: 8 * 3600,
      },
    ),
    /** How long a login may take between /oauth/login and /oauth/callback. */
    stateTtlSeconds: z._default(positiveInt.check(z.maximum(3600)), 600),
    impersonation: z._default(
      z.strictObject({
        enabled: z._default(z.boolean(), false),
        /** Scope of impersonation tokens (qlik-auth.md: `user_default`). */
        scope: z._default(nonEmpty, 'user_default'),
        /**
         * A separate client for the impersonation grant (a Qlik "web" client with machine-to-machine
         * impersonation); authenticated by client secret. @default the main client (`clientId`)
         */
        clientId: z.optional(nonEmpty),
        clientSecretId: z.optional(nonEmpty),
        /** Create a user that does not exist yet, with the admin client, then impersonate it. */
        provisionUsers: z._default(z.boolean(), false),
        /** A second, admin-scoped (client_credentials) client for user look-up and creation. */
        adminClientId: z.optional(nonEmpty),
        adminClientSecretId: z.optional(nonEmpty),
        adminScope: z._default(nonEmpty, 'admin_classic'),
        /** Cached tokens are renewed this long before they expire. */
        renewBeforeExpirySeconds: z._default(z.number().check(z.int(), z.minimum(0), z.maximum(3600)), 300),
        /** Most users whose tokens are cached at once (least recently used are dropped). */
        cacheMaxEntries: z._default(positiveInt.check(z.maximum(100_000)), 1000),
      }),
      {
        enabled: false,
        scope: 'user_default',
        provisionUsers: false,
        adminScope: 'admin_classic',
        renewBeforeExpirySeconds: 300,
        cacheMaxEntries: 1000,
      },
    ),
    /**
     * Cookie mode: parallel refreshes of one session share one upstream refresh through a store shared by all
     * containers (docs/oauth.md, "Parallel refreshes"). `tableName` is the DynamoDB table the stack creates;
     * without it the store is in-process (the dev server; one container).
     */
    refreshGrace: z._default(
      z.strictObject({
        tableName: z.optional(nonEmpty),
        /** How long the result of a refresh is shared with requests that carry the old refresh token. */
        windowSeconds: z._default(positiveInt.check(z.maximum(300)), 30),
        /** How long a request waits for another request's refresh. */
        waitMs: z._default(positiveInt.check(z.maximum(20_000)), 5000),
      }),
      { windowSeconds: 30, waitMs: 5000 },
    ),
    /** Timeout of every call to Qlik, and how often a safe call is retried. */
    upstream: z._default(
      z.strictObject({
        timeoutMs: z._default(positiveInt.check(z.maximum(29_000)), 5000),
        retries: z._default(z.number().check(z.int(), z.minimum(0), z.maximum(3)), 1),
      }),
      { timeoutMs: 5000, retries: 1 },
    ),
  }),
);

/** The `oauth` section's schema (built on first use). */
export const oauthSchema = /* @__PURE__ */ z.lazy(buildOAuth);

/** Cross-field rules of the `oauth` section (also applied to each tenant's `oauth` in the tenant registry). */
export function checkOAuth(
  tenantHost: string | undefined,
  oauth: z.infer<typeof oauthSchema>,
  ctx: z.core.$RefinementCtx,
): void {
  const issue = (path: (string | number)[], message: string) =>
    ctx.addIssue({ code: 'custom', path: ['oauth', ...path], message });
  if (oauth.tenantUrl === undefined && tenantHost === undefined)
    issue(['tenantUrl'], 'set qlik.tenantHost (or oauth.tenantUrl): the proxy must know the tenant');
  if (oauth.clientAuth === 'secret' && oauth.clientSecretId === undefined)
    issue(
      ['clientSecretId'],
      'clientAuth "secret" needs clientSecretId (the Secrets Manager secret with the client secret)',
    );
  if (oauth.clientAuth === 'private-key-jwt') {
    if (oauth.clientAssertion === undefined)
      issue(
        ['clientAssertion'],
        'clientAuth "private-key-jwt" needs clientAssertion (the key that signs client assertions)',
      );
    if (oauth.sealingSecretId === undefined)
      issue(
        ['sealingSecretId'],
        'clientAuth "private-key-jwt" has no client secret to derive sealing keys from: set sealingSecretId',
      );
  }
  if (oauth.mode === 'cookie' && oauth.appReturnUrls.length === 0)
    issue(['appReturnUrls'], 'mode "cookie" redirects to the app after login: name at least one app URL');
  for (const [index, name] of [oauth.cookie.stateName, oauth.cookie.sessionName].entries()) {
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name))
      issue(['cookie', index === 0 ? 'stateName' : 'sessionName'], 'must be a cookie name (RFC 6265 token)');
  }
  if (oauth.cookie.stateName === oauth.cookie.sessionName)
    issue(['cookie', 'sessionName'], 'must differ from stateName');
  const imp = oauth.impersonation;
  if ((imp.clientId === undefined) !== (imp.clientSecretId === undefined))
    issue(['impersonation', 'clientSecretId'], 'set impersonation.clientId and impersonation.clientSecretId together');
  if (imp.provisionUsers && (imp.adminClientId === undefined || imp.adminClientSecretId === undefined))
    issue(
      ['impersonation', 'provisionUsers'],
      'provisioning users needs an admin client: set impersonation.adminClientId and adminClientSecretId',
    );
}

/** Tenant IDs: what a caller's tenant claim holds and what names each tenant's key (secret name, KMS alias). */
export const TENANT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/**
 * Many Qlik tenants from one deployment (docs/multi-tenant.md). Absent: the single-tenant mode of `qlik`,
 * `identity` and `signing`, unchanged. Present: each caller is bound to a tenant by a claim of its verified
 * token, and that tenant's settings come from the tenant registry.
 */
const buildTenancy = once(() =>
  z.strictObject({
    /**
     * The verified caller claim naming the caller's tenant(s): a string, or an array of strings (then the caller
     * names one in the request body). E.g. `custom:tenant` (Cognito), `org_id` (Auth0), `tid` (Entra ID).
     */
    tenantClaim: nonEmpty,
    registry: z.discriminatedUnion('backend', [
      z.strictObject({
        backend: z.literal('dynamodb'),
        /** The DynamoDB table (the TenantRegistry construct creates it). */
        tableName: nonEmpty,
        /** How long a read item is served before DynamoDB is asked again. */
        cacheTtlSeconds: z._default(positiveInt.check(z.maximum(3600)), 60),
        /** Most tenants whose items (and signers) one container keeps (least recently used are dropped). */
        maxCachedTenants: z._default(positiveInt.check(z.maximum(100_000)), 1000),
      }),
      z.strictObject({
        /** Dev server only: a JSON file `{"tenants": [item, ...]}` (e.g. under .local/). */
        backend: z.literal('file'),
        path: nonEmpty,
        cacheTtlSeconds: z._default(positiveInt.check(z.maximum(3600)), 5),
        maxCachedTenants: z._default(positiveInt.check(z.maximum(100_000)), 1000),
      }),
    ]),
    /** Where each tenant's own key lives; a registry item may name only its own (the least-privilege grant relies on it). */
    keys: z.prefault(
      z.strictObject({
        /** Tenant key secrets are named `<secretPrefix><tenant id>`; functions may read secrets under this prefix only. */
        secretPrefix: z._default(
          z
            .string()
            .check(
              z.regex(
                /^[A-Za-z0-9/_+=.@-]{1,200}$/,
                'must be a Secrets Manager name prefix (letters, digits, /_+=.@-)',
              ),
            ),
          'qtv/tenants/',
        ),
        /** Tenant KMS keys carry the alias `<kmsAliasPrefix><tenant id>`; functions may sign with keys so aliased only. */
        kmsAliasPrefix: z._default(
          z.string().check(
            z.regex(/^alias\/[A-Za-z0-9/_-]{1,200}$/, 'must start with alias/ (letters, digits, /_-)'),
            z.refine((value: string) => !value.startsWith('alias/aws/'), 'alias/aws/ is reserved for AWS managed keys'),
          ),
          'alias/qtv-tenant-',
        ),
        /** Secrets Manager cache TTL of each tenant's key secret. */
        cacheTtlSeconds: z._default(positiveInt.check(z.maximum(86_400)), 300),
      }),
      {},
    ),
    /**
     * The DynamoDB table of the OAuth refresh grace window, shared by every tenant (keys carry the tenant).
     * The stack sets it; without it each container coordinates its own requests only (the dev server).
     */
    refreshGraceTableName: z.optional(nonEmpty),
  }),
);

/** The `tenancy` section's schema (built on first use). */
export const tenancySchema = /* @__PURE__ */ z.lazy(buildTenancy);

/** Cross-field rules of a Qlik token policy (the deployment's and each tenant's). */
export function checkTokenPolicy(
  token: { defaultTtlSeconds: number; maxTtlSeconds: number; notBeforeSkewSeconds: number },
  ctx: z.core.$RefinementCtx,
  path: (string | number)[] = ['qlik', 'token'],
): void {
  const { defaultTtlSeconds, maxTtlSeconds, notBeforeSkewSeconds } = token;
  if (maxTtlSeconds + notBeforeSkewSeconds > QLIK_MAX_LIFETIME_SECONDS) {
    ctx.addIssue({
      code: 'custom',
      path: [...path, 'maxTtlSeconds'],
      message: `maxTtlSeconds (${maxTtlSeconds}) + notBeforeSkewSeconds (${notBeforeSkewSeconds}) must be at most ${QLIK_MAX_LIFETIME_SECONDS}: Qlik rejects tokens with exp - nbf over 60 minutes`,
    });
  }
  if (defaultTtlSeconds > maxTtlSeconds) {
    ctx.addIssue({
      code: 'custom',
      path: [...path, 'defaultTtlSeconds'],
      message: `defaultTtlSeconds (${defaultTtlSeconds}) must not exceed maxTtlSeconds (${maxTtlSeconds})`,
    });
  }
}

/** Cross-field rules of an identity mapping (the deployment's and each tenant's). */
export function checkIdentityMapping(
  identity: z.infer<typeof identityMappingSchema>,
  ctx: z.core.$RefinementCtx,
  path: (string | number)[] = ['identity'],
): void {
  const preset = identityPresets[identity.preset];
  const verifiedClaim = identity.emailVerifiedClaim ?? preset.emailVerifiedClaim;
  if ((identity.emailVerified ?? 'from-claim') === 'from-claim' && verifiedClaim === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: [...path, 'emailVerified'],
      message: `provider preset "${identity.preset}" sends no email_verified claim, and Qlik needs email_verified: true. Set identity.emailVerified to "always-true" if this provider only holds verified addresses (a trust decision), or name the claim in identity.emailVerifiedClaim`,
    });
  }
}

/**
 * Each top-level key of the configuration and its schema, in the order problems are reported, each built on
 * its first call (issue #15: building every schema at import was most of what validating the configuration
 * cost a cold start). {@link parseConfig} builds only what the input holds:
 * - an optional section (`callerIdp`, `oauth`, `tenancy`) the input does not hold is left out of the object
 *   it parses (a strict object refuses unknown keys that are present only), so it is never built;
 * - a defaulted section is `z._default(z.lazy(build), value)`: an absent key gets `value` without the inner
 *   schema being run or even read (`_default`'s own `optin` is the constant "defaulted"), and `z.lazy` builds
 *   the section on its first run, i.e. when the input holds it;
 * - `qlik`, `signing` and `rotation` (a prefault: its default is parsed by the section) are always built.
 * The tenant registry's item schema (functions/tenancy/tenant.ts) reuses `qlik` and `identity` from here.
 */
export const configSections = {
  qlik: once(() =>
    z.strictObject({
      /** Tenant host, e.g. `example.eu.qlikcloud.com` (no scheme). Needed by OAuth and tenant tools. */
      tenantHost: z.optional(
        z
          .string()
          .check(
            z.regex(/^[a-z0-9.-]+(:\d+)?$/i, 'must be a host name such as example.eu.qlikcloud.com, without https://'),
          ),
      ),
      /** The issuer configured on the Qlik JWT identity provider. */
      issuer: nonEmpty,
      /** The key ID configured on the Qlik JWT identity provider; a key secret's own `kid` wins. */
      keyId: z.optional(nonEmpty),
      token: z._default(
        z.strictObject({
          /** Lifetime when the caller asks for none. */
          defaultTtlSeconds: z._default(positiveInt, 300),
          /** Longest lifetime a caller may get; larger requests are clamped to it. */
          maxTtlSeconds: z._default(positiveInt, 600),
          /** `nbf` is back-dated by this much to absorb clock skew with Qlik. */
          notBeforeSkewSeconds: z._default(z.number().check(z.int(), z.minimum(0), z.maximum(300)), 30),
        }),
        { defaultTtlSeconds: 300, maxTtlSeconds: 600, notBeforeSkewSeconds: 30 },
      ),
    }),
  ),
  identity: once(() =>
    z._default(z.lazy(buildIdentityMapping), {
      preset: 'generic',
      groups: { map: {}, stripPrefix: false, max: 50, onlyMapped: false },
      overrides: {},
    }),
  ),
  signing: buildSigning,
  /** The identity provider whose tokens callers present (API Gateway's JWT authorizer). */
  callerIdp: once(() =>
    z.optional(
      z.strictObject({
        issuer: z.url('must be a URL such as https://cognito-idp.eu-west-1.amazonaws.com/<pool-id>'),
        audience: z.array(nonEmpty).check(z.minLength(1, 'must name at least one audience')),
      }),
    ),
  ),
  cors: once(() =>
    z._default(
      z.lazy(() => z.strictObject({ allowedOrigins: z._default(z.array(z.url()), []) })),
      { allowedOrigins: [] },
    ),
  ),
  throttling: once(() =>
    z._default(
      z.lazy(() =>
        z.strictObject({ rateLimit: z._default(positiveInt, 50), burstLimit: z._default(positiveInt, 100) }),
      ),
      { rateLimit: 50, burstLimit: 100 },
    ),
  ),
  rotation: once(() => z.prefault(buildRotation(), {})),
  oauth: once(() => z.optional(buildOAuth())),
  tenancy: once(() => z.optional(buildTenancy())),
  deployment: once(() =>
    z._default(z.lazy(buildDeployment), {
      ...deploymentDefaults,
      lambda: { ...deploymentDefaults.lambda },
      alarms: { ...deploymentDefaults.alarms },
    }),
  ),
};

type ConfigSectionName = keyof typeof configSections;
type ConfigShape = { [K in ConfigSectionName]: ReturnType<(typeof configSections)[K]> };
/** The type of the whole configuration's object schema (every section held). */
type ConfigObjectSchema = z.ZodMiniObject<ConfigShape, z.core.$strict>;

/** A validated configuration, defaults applied. */
export type Config = z.output<ConfigObjectSchema>;
/** The configuration as written by a person (defaults optional). */
export type ConfigInput = z.input<ConfigObjectSchema>;
export type IdentityMappingConfig = Config['identity'];
export type SigningConfig = Config['signing'];
export type RotationConfig = Config['rotation'];
export type OAuthConfig = NonNullable<Config['oauth']>;
export type DeploymentConfig = Config['deployment'];
export type TenancyConfig = NonNullable<Config['tenancy']>;

/** Cross-section rules of the whole configuration. */
function checkConfig(config: Config, ctx: z.core.$RefinementCtx): void {
  if (config.oauth !== undefined) checkOAuth(config.qlik.tenantHost, config.oauth, ctx);
  checkTokenPolicy(config.qlik.token, ctx);
  const { maxTtlSeconds, notBeforeSkewSeconds } = config.qlik.token;
  const rotation = config.rotation;
  if (rotation.enabled && config.signing.backend !== 'secrets-manager') {
    ctx.addIssue({
      code: 'custom',
      path: ['rotation', 'enabled'],
      message:
        config.signing.backend === 'kms'
          ? 'rotation.enabled rotates a key kept in Secrets Manager, but signing.backend is "kms": a KMS private key never leaves KMS and this rotation cannot replace it (docs/kms.md). Set rotation.enabled to false, or use signing.backend "secrets-manager"'
          : `rotation.enabled rotates a key kept in Secrets Manager, but signing.backend is "${config.signing.backend}". Set rotation.enabled to false, or use signing.backend "secrets-manager"`,
    });
  }
  if (rotation.qlik.mode === 'register') {
    if (config.qlik.tenantHost === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['qlik', 'tenantHost'],
        message: 'rotation.qlik.mode "register" calls the Qlik REST API: set qlik.tenantHost',
      });
    if (rotation.qlik.adminCredentialsSecretId === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['rotation', 'qlik', 'adminCredentialsSecretId'],
        message:
          'rotation.qlik.mode "register" needs an admin-scoped Qlik OAuth client: name the secret holding {"clientId","clientSecret"}',
      });
  }
  // A demoted key's IdP must outlive every token signed with it: warm signers keep the old key up to
  // one cache TTL after promotion, and each token then lives up to maxTtlSeconds (+ the nbf skew).
  const cacheTtl = config.signing.backend === 'secrets-manager' ? config.signing.cacheTtlSeconds : 0;
  const minGrace = cacheTtl + maxTtlSeconds + notBeforeSkewSeconds;
  if (rotation.gracePeriodSeconds < minGrace) {
    ctx.addIssue({
      code: 'custom',
      path: ['rotation', 'gracePeriodSeconds'],
      message: `gracePeriodSeconds (${rotation.gracePeriodSeconds}) must be at least ${minGrace} (signing.cacheTtlSeconds + qlik.token.maxTtlSeconds + notBeforeSkewSeconds), or tokens signed with the old key fail before they expire`,
    });
  }
  if (rotation.gracePeriodSeconds >= rotation.scheduleDays * 86_400) {
    ctx.addIssue({
      code: 'custom',
      path: ['rotation', 'gracePeriodSeconds'],
      message: `gracePeriodSeconds (${rotation.gracePeriodSeconds}) must be shorter than the rotation interval (${rotation.scheduleDays} days)`,
    });
  }
  checkIdentityMapping(config.identity, ctx);
}

const SECTION_NAMES = Object.keys(configSections) as ConfigSectionName[];
/** The sections a configuration may leave out; absent, they are left out of the parsed object's shape. */
const OPTIONAL_SECTIONS: readonly ConfigSectionName[] = ['callerIdp', 'oauth', 'tenancy'];
const ALL_OPTIONAL_SECTIONS = (1 << OPTIONAL_SECTIONS.length) - 1;

/** The configuration schemas made so far, by the optional sections they hold (a bit each). */
const configSchemas = new Map<number, z.ZodMiniType<Config, ConfigInput>>();

/** The configuration schema holding the optional sections `held` names (a bit per OPTIONAL_SECTIONS entry). */
function configSchemaHolding(held: number): z.ZodMiniType<Config, ConfigInput> {
  let schema = configSchemas.get(held);
  if (schema === undefined) {
    const shape: Record<string, z.core.$ZodType> = {};
    for (const name of SECTION_NAMES) {
      const optional = OPTIONAL_SECTIONS.indexOf(name);
      if (optional === -1 || (held & (1 << optional)) !== 0) shape[name] = configSections[name]();
    }
    // The shape holds a subset of ConfigShape's keys, each with its own schema, so what it parses is a Config.
    schema = z
      .strictObject(shape)
      .check(z.superRefine((config, ctx) => checkConfig(config as Config, ctx))) as unknown as z.ZodMiniType<
      Config,
      ConfigInput
    >;
    configSchemas.set(held, schema);
  }
  return schema;
}

/** The optional sections `input` holds, as configSchemaHolding takes them (`in`, as zod tells present keys). */
function optionalSectionsIn(input: unknown): number {
  if (typeof input !== 'object' || input === null) return 0;
  let held = 0;
  for (const [index, name] of OPTIONAL_SECTIONS.entries()) if (name in input) held |= 1 << index;
  return held;
}

/**
 * The whole configuration's schema, every section built on its first parse (which {@link parseConfig}
 * avoids: it parses with a schema holding only the optional sections the input holds).
 */
export const configSchema: z.ZodMiniType<Config, ConfigInput> = /* @__PURE__ */ z.lazy(() =>
  configSchemaHolding(ALL_OPTIONAL_SECTIONS),
);

/** Formats zod issues as `path: message` sentences. */
export function describeIssues(error: z.core.$ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
    return `${path}: ${issue.message}`;
  });
}

/**
 * Validates a configuration object.
 * @param source Names where it came from, for the error message.
 * @throws ConfigError listing every problem.
 */
export function parseConfig(input: unknown, source = 'configuration'): Config {
  // Parsed once per cold start: zod's JIT (a `new Function` per object schema, made on first parse)
  // costs more than it saves for one parse (first parse about 11 -> 5.5 ms measured here, issue #15).
  // Only this parse runs without it; request schemas parsed per token keep it.
  // Only the sections the input holds are built (configSections): one schema definition per rule, parsed
  // by an object that leaves out the optional sections the input does not hold.
  const result = configSchemaHolding(optionalSectionsIn(input)).safeParse(input, { jitless: true });
  if (!result.success) throw new ConfigError(describeIssues(result.error), source);
  return result.data;
}

/** Reads and validates a JSON configuration file. */
export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'unknown error'}`], path);
  }
  return parseConfig(parseJson(text, path), path);
}

function parseJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError([`not valid JSON (${(error as Error).message})`], source);
  }
}

/** The environment variable that carries the configuration into a Lambda function. */
export const CONFIG_ENV_VAR = 'QTV_CONFIG';
/** The environment variable naming a configuration file (dev server, CLI). */
export const CONFIG_FILE_ENV_VAR = 'QTV_CONFIG_FILE';

/**
 * Loads the configuration at cold start: JSON in `QTV_CONFIG`, or a file named by `QTV_CONFIG_FILE`.
 * @throws ConfigError listing every problem.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const inline = env[CONFIG_ENV_VAR];
  if (inline !== undefined && inline.trim() !== '')
    return parseConfig(parseJson(inline, CONFIG_ENV_VAR), CONFIG_ENV_VAR);
  const file = env[CONFIG_FILE_ENV_VAR];
  if (file !== undefined && file.trim() !== '') return loadConfigFile(file);
  throw new ConfigError([`set ${CONFIG_ENV_VAR} (JSON) or ${CONFIG_FILE_ENV_VAR} (a path to a JSON file)`]);
}

/** Settings of the local dev server, from its environment (the only other env it reads). */
export interface DevServerSettings {
  readonly host: string;
  readonly port: number;
  readonly awsEndpointUrl: string | undefined;
}

/** Reads `HOST`, `PORT` and `AWS_ENDPOINT_URL` for the dev server. */
export function loadDevServerSettings(env: NodeJS.ProcessEnv = process.env): DevServerSettings {
  const problems: string[] = [];
  const port = env.PORT === undefined || env.PORT === '' ? 8787 : Number(env.PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    problems.push(`PORT: must be a port number, got ${JSON.stringify(env.PORT)}`);
  if (problems.length > 0) throw new ConfigError(problems, 'dev server environment');
  return { host: env.HOST || '127.0.0.1', port, awsEndpointUrl: env.AWS_ENDPOINT_URL || undefined };
}

/** Settings of the local Qlik tenant emulator (`npm run emulator`). */
export interface EmulatorSettings {
  readonly host: string;
  readonly port: number;
  /** Redirect URIs of the seeded web client. */
  readonly redirectUris: readonly string[];
  /** Origins the seeded web integration allows (CORS, jwt-session). */
  readonly origins: readonly string[];
  /** Static admin API key; generated when unset. */
  readonly adminApiKey: string | undefined;
}

const splitList = (value: string | undefined, fallback: readonly string[]) =>
  value === undefined || value.trim() === ''
    ? fallback
    : value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean);

/**
 * Reads `EMULATOR_HOST`, `EMULATOR_PORT` (default 8788), `EMULATOR_REDIRECT_URIS` and `EMULATOR_ORIGINS`
 * (comma-separated; default: the dev server on `PORT`, default 8787) and `EMULATOR_ADMIN_API_KEY` for the
 * tenant emulator script.
 */
export function loadEmulatorSettings(env: NodeJS.ProcessEnv = process.env): EmulatorSettings {
  const problems: string[] = [];
  const port = env.EMULATOR_PORT === undefined || env.EMULATOR_PORT === '' ? 8788 : Number(env.EMULATOR_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    problems.push(`EMULATOR_PORT: must be a port number, got ${JSON.stringify(env.EMULATOR_PORT)}`);
  // The demo web client and web integration serve the dev server, so their defaults follow its PORT
  // (the same variable `npm start` reads): `PORT=8840 EMULATOR_PORT=8841 npm run emulator` needs nothing else.
  const devPort = env.PORT === undefined || env.PORT === '' ? '8787' : env.PORT;
  const redirectUris = splitList(env.EMULATOR_REDIRECT_URIS, [`http://127.0.0.1:${devPort}/oauth/callback`]);
  const origins = splitList(env.EMULATOR_ORIGINS, [`http://127.0.0.1:${devPort}`, `http://localhost:${devPort}`]);
  for (const [name, list] of [
    ['EMULATOR_REDIRECT_URIS', redirectUris],
    ['EMULATOR_ORIGINS', origins],
  ] as const) {
    for (const item of list) if (!URL.canParse(item)) problems.push(`${name}: ${JSON.stringify(item)} is not a URL`);
  }
  if (problems.length > 0) throw new ConfigError(problems, 'emulator environment');
  return {
    host: env.EMULATOR_HOST || '127.0.0.1',
    port,
    redirectUris,
    origins,
    adminApiKey: env.EMULATOR_ADMIN_API_KEY || undefined,
  };
}

/** What the `qtv` CLI reads from its environment; secrets travel here rather than on argv (visible in `ps`). */
export interface CliEnvironment {
  /** PEM private key for `qtv token` (`QTV_PRIVATE_KEY`), as qs-jwt takes one from its environment. */
  readonly privateKey: string | undefined;
  /** Qlik API key with admin rights for `qtv idp push` (`QTV_QLIK_API_KEY`). */
  readonly qlikApiKey: string | undefined;
  /** Qlik OAuth client secret for `qtv idp push` (`QTV_QLIK_CLIENT_SECRET`). */
  readonly qlikClientSecret: string | undefined;
  /** Caller bearer token for `qtv doctor` against a deployed stack (`QTV_CALLER_TOKEN`). */
  readonly callerToken: string | undefined;
  /** `AWS_ENDPOINT_URL`, shown in error messages so a wrong endpoint is easy to spot (the SDK reads it itself). */
  readonly awsEndpointUrl: string | undefined;
  /** The Cognito user's password for `qtv caller-token` (`QTV_COGNITO_PASSWORD`). */
  readonly cognitoPassword: string | undefined;
  /** The password to set when Cognito asks NEW_PASSWORD_REQUIRED (`QTV_COGNITO_NEW_PASSWORD`). */
  readonly cognitoNewPassword: string | undefined;
  /** The user's TOTP secret, base32 or an otpauth URI (`QTV_TOTP_SECRET`). */
  readonly totpSecret: string | undefined;
}

/** Reads the CLI's environment variables; empty values count as unset. */
export function loadCliEnvironment(env: NodeJS.ProcessEnv = process.env): CliEnvironment {
  const value = (name: string) => {
    const raw = env[name];
    return raw === undefined || raw.trim() === '' ? undefined : raw;
  };
  return {
    privateKey: value('QTV_PRIVATE_KEY'),
    qlikApiKey: value('QTV_QLIK_API_KEY'),
    qlikClientSecret: value('QTV_QLIK_CLIENT_SECRET'),
    callerToken: value('QTV_CALLER_TOKEN'),
    awsEndpointUrl: value('AWS_ENDPOINT_URL'),
    cognitoPassword: value('QTV_COGNITO_PASSWORD'),
    cognitoNewPassword: value('QTV_COGNITO_NEW_PASSWORD'),
    totpSecret: value('QTV_TOTP_SECRET'),
  };
}
