/**
 * What a Lambda bundle carries, decided at synth from the route and the configuration (issue #15).
 *
 * Each flag is an esbuild `define`: the CDK app (infra/constructs/token-function.ts) replaces the
 * global `QTV_BUNDLE_*` identifiers with `true` or `false` when it bundles a function, and esbuild's
 * minifier then deletes the branches the function can never take, together with the packages only
 * those branches import (the KMS client under the Secrets Manager backend, @peculiar/x509 in the
 * token routes, the X-Ray tracer when tracing is off, the OAuth wiring in routes that do not use it, the
 * multi-tenant wiring and the DynamoDB client outside multi-tenant mode's token routes).
 *
 * Outside a bundle (dev server, CLI, tests under tsx/vitest) no identifier is defined and every flag
 * reads as "on": everything is available, as before.
 *
 * Use a flag inline, in the file that holds the import it guards, as
 * `typeof QTV_BUNDLE_KMS === 'undefined' || QTV_BUNDLE_KMS`: esbuild folds that expression only where
 * the identifier itself appears; a constant exported from here would be folded too late for its
 * import to be dropped (tried with esbuild 0.28: the guarded package stayed in the bundle).
 */
import type { RouteDefinition } from '../routes.js';
import type { Config } from './config.js';

declare global {
  /** The bundle holds the Secrets Manager client (signing key secret, OAuth secrets). */
  const QTV_BUNDLE_SECRETS_MANAGER: boolean | undefined;
  /** The bundle holds the KMS client and the KMS signer (signing backend or client-assertion key). */
  const QTV_BUNDLE_KMS: boolean | undefined;
  /** The bundle can make X.509 certificates (@peculiar/x509): only `GET /qlik/idp-config` needs to. */
  const QTV_BUNDLE_CERTIFICATES: boolean | undefined;
  /** The bundle holds the OAuth proxy's wiring (Qlik OAuth client, sealer, impersonation cache). */
  const QTV_BUNDLE_OAUTH: boolean | undefined;
  /** The bundle holds the Powertools tracer (X-Ray subsegments for every AWS SDK call and invocation). */
  const QTV_BUNDLE_TRACING: boolean | undefined;
  /** The bundle reads the key's public material (`signing.publicSecretId`): only `GET /qlik/idp-config`. */
  const QTV_BUNDLE_PUBLIC_MATERIAL: boolean | undefined;
  /** The bundle holds multi-tenant mode's wiring (registry on DynamoDB, per-tenant signers and OAuth clients). */
  const QTV_BUNDLE_TENANCY: boolean | undefined;
}

/** The flags of one function, as esbuild's `define` wants them (identifier -> JSON text). */
export interface BundleFlags {
  readonly QTV_BUNDLE_SECRETS_MANAGER: boolean;
  readonly QTV_BUNDLE_KMS: boolean;
  readonly QTV_BUNDLE_CERTIFICATES: boolean;
  readonly QTV_BUNDLE_OAUTH: boolean;
  readonly QTV_BUNDLE_TRACING: boolean;
  readonly QTV_BUNDLE_PUBLIC_MATERIAL: boolean;
  readonly QTV_BUNDLE_TENANCY: boolean;
}

/**
 * What the function of `route` needs under `config`: a backend's client only when the route uses that
 * resource and the configuration puts it there; certificates only where a certificate is made.
 */
export function bundleFlagsFor(
  route: Pick<RouteDefinition, 'uses' | 'makesCertificates' | 'servesTenants'>,
  config: Pick<Config, 'signing' | 'oauth' | 'deployment' | 'tenancy'>,
): BundleFlags {
  const uses = new Set<string>(route.uses ?? []);
  // The signing key itself, or only its public material (public-material secret, or KMS GetPublicKey).
  const signing = uses.has('signing-key') || uses.has('signing-public');
  // Public material kept apart from the key lives in a secret, whichever backend signs.
  const publicMaterial = uses.has('signing-public') && config.signing.backend !== 'file';
  const publicSecret =
    publicMaterial && 'publicSecretId' in config.signing && config.signing.publicSecretId !== undefined;
  // Multi-tenant mode: the route resolves the caller's tenant (registry) and uses that tenant's key or clients.
  // A tenant's key secret and OAuth secrets live in Secrets Manager; its own key may be a KMS key (signing only).
  const tenancy = route.servesTenants === true && config.tenancy !== undefined;
  // OAuth wiring: the deployment's own `oauth`, or (multi-tenant) the tenants' OAuth clients.
  const oauth = [...uses].some((use) => use.startsWith('oauth-')) && (config.oauth !== undefined || tenancy);
  return {
    QTV_BUNDLE_SECRETS_MANAGER:
      (signing && config.signing.backend === 'secrets-manager') ||
      publicSecret ||
      (oauth && config.oauth?.secretStore === 'secrets-manager') ||
      tenancy,
    QTV_BUNDLE_KMS:
      (signing && config.signing.backend === 'kms') ||
      // Every OAuth route builds the client-assertion signer with the OAuth wiring.
      (oauth && config.oauth?.clientAssertion?.backend === 'kms') ||
      (tenancy && (uses.has('signing-key') || uses.has('signing-public'))),
    QTV_BUNDLE_CERTIFICATES: route.makesCertificates === true,
    QTV_BUNDLE_OAUTH: oauth,
    QTV_BUNDLE_TRACING: config.deployment.tracing,
    QTV_BUNDLE_PUBLIC_MATERIAL: publicMaterial,
    QTV_BUNDLE_TENANCY: tenancy,
  };
}

/**
 * The rotation function's flags: it reads and writes the key secret and makes each new key's certificate;
 * in multi-tenant mode it also reads the tenant registry (tenant key secrets, functions/rotate-signing-key/tenants.ts).
 */
export function rotationBundleFlags(
  config: Pick<Config, 'deployment'> & { readonly tenancy?: Config['tenancy'] },
): BundleFlags {
  return {
    QTV_BUNDLE_SECRETS_MANAGER: true,
    QTV_BUNDLE_KMS: false,
    QTV_BUNDLE_CERTIFICATES: true,
    QTV_BUNDLE_OAUTH: false,
    QTV_BUNDLE_TRACING: config.deployment.tracing,
    QTV_BUNDLE_PUBLIC_MATERIAL: false,
    QTV_BUNDLE_TENANCY: config.tenancy !== undefined,
  };
}

/** What one function reads from `QTV_CONFIG`: the validated configuration without the synth-time `deployment`. */
export type FunctionConfig = Omit<Config, 'deployment'>;

/**
 * The configuration one function gets in `QTV_CONFIG`, for the bundle `flags` describe. The construct
 * (infra/constructs/qlik-token-vending.ts) and the cold-start bench (scripts/bench/cold-start.ts) both call
 * this, so the bench measures what synth deploys.
 * - `deployment` is left out: synth-time settings only; the loader fills in its defaults.
 * - `oauth` is left out when the bundle holds no OAuth wiring (`QTV_BUNDLE_OAUTH` off): such a function
 *   never reads it (runtime/wiring.ts ignores it there), and an absent section is never built nor checked
 *   at cold start (runtime/config.ts, issue #15). Without `flags` (a function you add yourself, whose
 *   bundle holds everything) it is kept.
 * - `tenancy` is always kept: a bundle built without multi-tenant mode refuses, on purpose, a
 *   configuration that holds it (e.g. functions/qlik-jwt/handler.ts); leaving it out would make such a
 *   function silently single-tenant instead.
 */
export function functionConfigFor(config: Config, flags?: Pick<BundleFlags, 'QTV_BUNDLE_OAUTH'>): FunctionConfig {
  const { deployment: _deployment, ...runtimeConfig } = config;
  if (flags === undefined || flags.QTV_BUNDLE_OAUTH) return runtimeConfig;
  const { oauth: _oauth, ...withoutOAuth } = runtimeConfig;
  return withoutOAuth;
}

/** The flags as esbuild `define` entries. */
export function bundleDefines(flags: BundleFlags): Record<string, string> {
  return Object.fromEntries(Object.entries(flags).map(([name, value]) => [name, JSON.stringify(value)]));
}

/**
 * Thrown at cold start when the configuration asks for something the bundle was built without (someone
 * edited QTV_CONFIG after deployment): redeploy, so synth builds the bundle for that configuration.
 */
export function missingFromBundle(what: string): TypeError {
  return new TypeError(
    `This function was bundled without ${what}, but its configuration needs it: deploy again (cdk deploy) so the bundle matches the configuration.`,
  );
}
