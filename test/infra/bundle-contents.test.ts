/**
 * What the Lambda bundles carry, checked on the real esbuild output (the options the TokenFunction
 * construct uses, with the `define`s synth gives each function). Sizes and contents, not times: they
 * do not depend on the machine.
 *
 * Every function of every configuration in config/ is bundled as synth would bundle it, once as
 * written and once with `deployment.tracing: false`, and must hold no package its route and
 * configuration never run (issue #15): no certificate code outside `GET /qlik/idp-config` and the
 * rotation function, the KMS client only with a KMS key, the Secrets Manager client only with a
 * secret, the X-Ray tracer only with tracing on, the OAuth wiring only in OAuth routes, the multi-tenant
 * wiring (and its DynamoDB client) only in the token routes of a `tenancy` configuration.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { routesFor } from '../../functions/routes.js';
import {
  type BundleFlags,
  bundleDefines,
  bundleFlagsFor,
  rotationBundleFlags,
} from '../../functions/runtime/bundle-flags.js';
import { type Config, loadConfigFile } from '../../functions/runtime/config.js';
import { type Breakdown, bundleLambda } from '../../scripts/bench/cold-start.js';

const outDir = mkdtempSync(join(tmpdir(), 'qtv-bundle-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

/** Packages (and our own files) that only a flag may bring into a bundle. */
const GUARDED: Record<
  keyof BundleFlags,
  {
    packages: readonly string[];
    sources?: readonly string[];
    /** Another flag whose own code also brings these packages (they are checked only when both are off). */
    alsoWith?: keyof BundleFlags;
  }
> = {
  QTV_BUNDLE_CERTIFICATES: {
    packages: ['@peculiar/x509', '@peculiar/asn1-schema', 'asn1js', 'tsyringe', 'reflect-metadata'],
    sources: ['functions/signing/certificates.ts'],
  },
  QTV_BUNDLE_KMS: { packages: ['@aws-sdk/client-kms'], sources: ['functions/signing/kms-signer.ts'] },
  QTV_BUNDLE_SECRETS_MANAGER: { packages: ['@aws-sdk/client-secrets-manager'] },
  QTV_BUNDLE_TRACING: { packages: ['@aws-lambda-powertools/tracer', 'aws-xray-sdk-core', 'cls-hooked'] },
  QTV_BUNDLE_PUBLIC_MATERIAL: { packages: [], sources: ['functions/idp-config/public-material-source.ts'] },
  QTV_BUNDLE_OAUTH: {
    packages: [],
    sources: ['functions/qlik/oauth-client.ts', 'functions/runtime/oauth-wiring.ts', 'functions/http/sealing.ts'],
  },
  QTV_BUNDLE_TENANCY: {
    // The OAuth wiring's refresh grace store (cookie mode) is on DynamoDB too.
    packages: ['@aws-sdk/client-dynamodb'],
    alsoWith: 'QTV_BUNDLE_OAUTH',
    sources: [
      'functions/tenancy/store.ts',
      'functions/tenancy/registry.ts',
      'functions/tenancy/signers.ts',
      'functions/tenancy/oauth.ts',
    ],
  },
};

/** The package or file of a guarded group that proves the flag's code is in (checked when the flag is on). */
const WITNESS: Record<keyof BundleFlags, (b: Breakdown) => boolean> = {
  QTV_BUNDLE_CERTIFICATES: (b) => '@peculiar/x509' in b.packages,
  QTV_BUNDLE_KMS: (b) => '@aws-sdk/client-kms' in b.packages,
  QTV_BUNDLE_SECRETS_MANAGER: (b) => '@aws-sdk/client-secrets-manager' in b.packages,
  QTV_BUNDLE_TRACING: (b) => 'aws-xray-sdk-core' in b.packages,
  QTV_BUNDLE_OAUTH: (b) => (b.sources['functions/runtime/oauth-wiring.ts'] ?? 0) > 256,
  QTV_BUNDLE_PUBLIC_MATERIAL: (b) => (b.sources['functions/idp-config/public-material-source.ts'] ?? 0) > 0,
  QTV_BUNDLE_TENANCY: (b) =>
    '@aws-sdk/client-dynamodb' in b.packages && (b.sources['functions/tenancy/store.ts'] ?? 0) > 256,
};

interface Case {
  readonly label: string;
  readonly entry: string;
  readonly flags: BundleFlags;
  readonly minify: boolean;
  /** Guarded files this function uses on its own account, without the flag. */
  readonly allows?: readonly string[];
}

const configDir = 'config';
const configs: Array<[string, Config]> = readdirSync(configDir)
  .filter((file) => file.endsWith('.json'))
  .sort()
  .flatMap((file) => {
    const written = loadConfigFile(join(configDir, file));
    // As the construct bundles it: a deployed QTV_CONFIG always names the public-material secret
    // (QlikTokenVending.buildFunctionConfigJson), so /qlik/idp-config reads it whatever the backend.
    const config: Config =
      written.signing.backend === 'file'
        ? written
        : {
            ...written,
            signing: {
              ...written.signing,
              publicSecretId: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:qtv/public-AbCdEf',
            },
          };
    const untraced: Config = { ...config, deployment: { ...config.deployment, tracing: false } };
    return [
      [file, config],
      [`${file} with tracing off`, untraced],
    ] as Array<[string, Config]>;
  });

// One bundle per distinct (entry, flags): many configurations give a route the same bundle.
const cases = new Map<string, Case & { seenIn: string[] }>();
for (const [name, config] of configs) {
  const functions: Array<Omit<Case, 'label'> & { id: string }> = routesFor(config).map((route) => ({
    id: route.id,
    entry: route.entry,
    flags: bundleFlagsFor(route, config),
    minify: true,
  }));
  // Multi-tenant mode deploys the rotation function for the tenants' key secrets too (it reads the registry).
  if (config.rotation.enabled || config.tenancy !== undefined)
    functions.push({
      id: 'KeyRotation',
      entry: 'functions/rotate-signing-key/index.ts',
      flags: rotationBundleFlags(config),
      // The KeyRotation construct does not minify; esbuild must drop the guarded branches anyway.
      minify: false,
      // Register mode gets its admin token through the Qlik OAuth client (client_credentials), not the proxy.
      allows: ['functions/qlik/oauth-client.ts'],
    });
  for (const fn of functions) {
    const key = `${fn.entry} ${JSON.stringify(fn.flags)}`;
    const existing = cases.get(key);
    if (existing !== undefined) existing.seenIn.push(name);
    else
      cases.set(key, {
        ...fn,
        label: `${fn.id} (${Object.entries(fn.flags)
          .filter(([, on]) => on)
          .map(([flag]) => flag.replace('QTV_BUNDLE_', '').toLowerCase())
          .join(', ')})`,
        seenIn: [name],
      });
  }
}

describe('Bundles: every function of every configuration in config/', () => {
  it('covers every route of the example configurations, with tracing on and off', () => {
    const labels = [...cases.values()].map((c) => c.label);
    expect(labels.some((l) => l.startsWith('QlikJwt') && !l.includes('tracing'))).toBe(true);
    expect(labels.some((l) => l.startsWith('KeyRotation'))).toBe(true);
    expect(labels.some((l) => l.startsWith('QlikAccessToken'))).toBe(true);
    expect(labels.some((l) => l.includes('kms'))).toBe(true);
    expect(labels.some((l) => l.startsWith('QlikJwt') && l.includes('tenancy'))).toBe(true);
    expect(labels.some((l) => l.startsWith('KeyRotation') && l.includes('tenancy'))).toBe(true);
  });

  it.each([...cases.values()].map((c) => [c.label, c.seenIn.join('; '), c] as const))(
    '%s (from %s) holds only what its route and configuration run',
    async (_label, _seenIn, c) => {
      const out = join(outDir, `${cases.size}-${Math.random().toString(36).slice(2)}.mjs`);
      const bundle = await bundleLambda(c.entry, out, false, bundleDefines(c.flags), { minify: c.minify });
      const present = Object.keys(bundle.packages);
      for (const [flag, guarded] of Object.entries(GUARDED) as Array<
        [keyof BundleFlags, (typeof GUARDED)[keyof BundleFlags]]
      >) {
        if (c.flags[flag]) {
          expect(WITNESS[flag](bundle), `${flag} is on, so its code is expected in the bundle`).toBe(true);
          continue;
        }
        if (guarded.alsoWith === undefined || !c.flags[guarded.alsoWith])
          expect(
            present.filter((name) => guarded.packages.includes(name)),
            `${flag} is off: no such package`,
          ).toEqual([]);
        expect(
          Object.entries(bundle.sources)
            // A few bytes may stay: top-level constants esbuild cannot prove unused (e.g. `Buffer.from(...)`).
            .filter(([file, bytes]) => bytes > 256 && guarded.sources?.includes(file) && !c.allows?.includes(file))
            .map(([file]) => file),
          `${flag} is off: no such file`,
        ).toEqual([]);
      }
      // `import { z } from 'zod'` kept all of zod (444 KiB, 258 KiB of it locales); classic `import * as z`
      // kept about 97 KiB; `zod/mini` (functions/runtime/zod.ts) keeps about 38 KiB with the English locale
      // only (docs/performance.md).
      expect(bundle.zodLocales).toBeLessThan(10 * 1024);
      // (The rotation function's bundle is not minified, so its zod is larger.)
      if (c.minify) expect(bundle.zod).toBeLessThan(50 * 1024);
    },
  );

  /**
   * Bundles example.json's POST /qlik/jwt function as synth would, then imports it in a fresh process with
   * `runtimeConfig` as its QTV_CONFIG (as if someone edited it after deployment). Returns the child's result.
   */
  async function startJwtBundleWith(dirName: string, runtimeConfig: object) {
    const [, config] = configs.find(([name]) => name === 'example.json')!;
    const route = routesFor(config).find((r) => r.id === 'QlikJwt')!;
    const out = join(outDir, dirName, 'index.mjs');
    await bundleLambda(route.entry, out, false, bundleDefines(bundleFlagsFor(route, config)));
    return spawnSync(process.execPath, ['-e', `await import(${JSON.stringify(pathToFileURL(out).href)})`], {
      env: { QTV_CONFIG: JSON.stringify(runtimeConfig), AWS_REGION: 'eu-west-1' },
      encoding: 'utf8',
      input: '',
    });
  }

  it('a bundle started with a configuration it was not built for fails at cold start, saying to deploy again', async () => {
    // Built for the secrets-manager backend, then given a KMS configuration.
    const [, config] = configs.find(([name]) => name === 'example.json')!;
    const child = await startJwtBundleWith('mismatch', {
      qlik: config.qlik,
      signing: { backend: 'kms', keyId: 'alias/other' },
    });
    expect(child.status).not.toBe(0);
    expect(child.stderr).toContain('This function was bundled without the KMS');
    expect(child.stderr).toContain('deploy again');
  });

  it('a bundle reports a bad configuration in English, every problem at once (zod/mini has no default locale)', async () => {
    const [, config] = configs.find(([name]) => name === 'example.json')!;
    const bad = { qlik: config.qlik, signing: config.signing, throttling: { rateLimit: '50' }, surprise: true };
    const child = await startJwtBundleWith('english', bad);
    expect(child.status).not.toBe(0);
    expect(child.stderr).toContain('throttling.rateLimit: Invalid input: expected number, received string');
    expect(child.stderr).toContain('(top level): Unrecognized key: "surprise"');
  });

  it('a POST /qlik/jwt bundle built without multi-tenant mode refuses a tenancy configuration at cold start', async () => {
    // Built for single-tenant example.json, then given the multi-tenant example: serving it would sign every
    // tenant's tokens with the shared key under the deployment's issuer.
    const [, config] = configs.find(([name]) => name === 'example.json')!;
    const [, multiTenant] = configs.find(([name]) => name === 'example-multi-tenant.json')!;
    const route = routesFor(config).find((r) => r.id === 'QlikJwt')!;
    expect(bundleFlagsFor(route, config).QTV_BUNDLE_TENANCY).toBe(false);
    const { deployment: _deployment, ...runtimeConfig } = multiTenant;
    const child = await startJwtBundleWith('tenancy-mismatch', runtimeConfig);
    expect(child.status).not.toBe(0);
    expect(child.stderr).toContain('This function was bundled without multi-tenant mode');
    expect(child.stderr).toContain('deploy again');
  });

  it('POST /qlik/jwt with the secrets-manager backend and tracing off is at most 450 KiB (issue #15)', async () => {
    const [, config] = configs.find(([name]) => name === 'example.json with tracing off')!;
    const route = routesFor(config).find((r) => r.id === 'QlikJwt')!;
    const bundle = await bundleLambda(
      route.entry,
      join(outDir, 'qlik-jwt-size.mjs'),
      false,
      bundleDefines(bundleFlagsFor(route, config)),
    );
    expect(config.signing.backend).toBe('secrets-manager');
    expect(bundle.bytes).toBeLessThanOrEqual(450 * 1024);
  });
});
