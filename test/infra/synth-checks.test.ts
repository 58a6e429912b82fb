import { spawnSync } from 'node:child_process';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../functions/errors.js';
import { routes } from '../../functions/routes.js';
import { CONFIG_ENV_VAR, type ConfigInput, loadConfigFile, parseConfig } from '../../functions/runtime/config.js';
import { TokenApi } from '../../infra/constructs/token-api.js';
import { PROJECT_ROOT, TokenFunction } from '../../infra/constructs/token-function.js';
import { TokenVendingStack } from '../../infra/stacks/token-vending-stack.js';
import { pkcs8Pem, rsaKeyPair } from '../support/keys.js';
import { baseConfig, buildStack, resourcesOf, unbundledApp } from './synth.js';

const publicKeyPemOf = (key: KeyObject) => createPublicKey(key).export({ format: 'pem', type: 'spki' }).toString();

const shipped = new Map<string, Template>();
/** The stack of a shipped config file, synthesized (with cdk-nag) once per file. */
function shippedStack(file: string): Template {
  let template = shipped.get(file);
  if (template === undefined) {
    const config = loadConfigFile(join(PROJECT_ROOT, file));
    template = buildStack(config as ConfigInput, 'QlikTokenVending-dev').template;
    shipped.set(file, template);
  }
  return template;
}

describe('Function: cdk-nag AwsSolutions checks', () => {
  it('fail the synth on an unacknowledged finding (the checks are live in tests)', () => {
    // Prepare: a secret without rotation and without an acknowledgement (AwsSolutions-SMG4).
    const app = unbundledApp();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const stack = new Stack(app, 'Bare');
    new Secret(stack, 'Unrotated');
    // Act / Assess
    expect(() => Template.fromStack(stack)).toThrow(/AwsSolutions-SMG4/);
  });

  it.each([
    'config/dev.json',
    'config/example.json',
    'config/example-kms.json',
    'config/example-rotation.json',
    'config/example-oauth.json',
  ])('report nothing unacknowledged for %s', (file) => {
    expect(() => shippedStack(file)).not.toThrow();
  });
});

describe('Function: configuration errors at synth', () => {
  it.each([
    [
      { deployment: { lambda: { timeoutSeconds: 60 } } },
      'deployment.lambda.timeoutSeconds: must be at most 29: API Gateway gives up after 30 s',
    ],
    [{ deployment: { logRetentionDays: 10 } }, 'deployment.logRetentionDays: must be one of 1, 3, 5, 7, 14, 30'],
    [{ deployment: { kmsKeySpec: 'ECC_NIST_P256' } }, 'deployment.kmsKeySpec: Invalid option'],
    [{ deployment: { secretKmsKeyArn: 'my-key' } }, 'deployment.secretKmsKeyArn: must be a KMS key ARN'],
    [{ deployment: { colour: 'blue' } }, 'deployment: Unrecognized key: "colour"'],
  ])('reject %j with a plain sentence', (patch, sentence) => {
    const input = { ...baseConfig, ...patch };
    expect(() => parseConfig(input, 'config/dev.json')).toThrow(ConfigError);
    expect(() => parseConfig(input, 'config/dev.json')).toThrow(sentence);
  });

  it('lists every problem of a config file at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qtv-config-'));
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({ ...baseConfig, deployment: { logRetentionDays: 2, lambda: { memoryMb: 1 } } }),
    );
    expect(() => loadConfigFile(file)).toThrow(
      /deployment\.lambda\.memoryMb: .*\n.*deployment\.logRetentionDays: must be one of/s,
    );
  });

  it.each<[string, ConfigInput, string]>([
    [
      'the file backend',
      { ...baseConfig, signing: { backend: 'file', privateKeyPath: 'key.pem' } },
      'signing.backend "file" works only with the local dev server',
    ],
    [
      'a KMS key reference that is neither an ARN nor an alias',
      { ...baseConfig, signing: { backend: 'kms', keyId: 'my-key' } },
      'a KMS key the stack creates needs an alias such as "alias/qlik-token-vending"',
    ],
    [
      'secretKmsKeyArn with the KMS backend',
      {
        ...baseConfig,
        signing: { backend: 'kms', keyId: 'alias/x' },
        deployment: { secretKmsKeyArn: 'arn:aws:kms:eu-west-1:111122223333:key/abc' },
      },
      'deployment.secretKmsKeyArn applies only to signing.backend "secrets-manager"',
    ],
  ])('refuse to build a stack with %s', (_name, input, sentence) => {
    const app = unbundledApp();
    expect(() => new TokenVendingStack(app, 'Bad', { config: parseConfig(input) })).toThrow(sentence);
  });

  it('refuse a wildcard CORS origin', () => {
    const stack = new Stack(unbundledApp(), 'Cors');
    expect(
      () =>
        new TokenApi(stack, 'Api', {
          allowedOrigins: ['https://*.example.com'],
          accessLogRetention: RetentionDays.ONE_DAY,
        }),
    ).toThrow('contains a wildcard; list exact origins');
  });
});

describe('Function: TokenApi.addFunctionRoute', () => {
  it('lets another construct add a caller route, which gets the JWT authorizer', () => {
    // Prepare: build the stack without synthesizing, as a later construct (OAuth proxy) would find it.
    const app = unbundledApp();
    const stack = new TokenVendingStack(app, 'Extended', { config: parseConfig(baseConfig) });
    // Act
    stack.api.addFunctionRoute(
      { id: 'OAuthRefresh', method: 'POST', path: '/oauth/refresh', auth: 'caller' },
      stack.functions.QlikJwt!.function,
    );
    // Assess
    Template.fromStack(stack).hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: 'POST /oauth/refresh',
      AuthorizationType: 'JWT',
    });
  });

  it('grants a route that declares no AWS resources nothing beyond logging and tracing', () => {
    const plain = { ...routes[0]!, id: 'Plain', path: '/plain', uses: [] };
    const { template } = buildStack(baseConfig, 'Plain', [plain]);
    const policies = Object.values(resourcesOf(template, 'AWS::IAM::Policy'));
    expect(policies).toHaveLength(1);
    const actions = (policies[0]!.Properties.PolicyDocument as { Statement: Array<{ Action: unknown }> }).Statement.map(
      (statement) => statement.Action,
    );
    expect(actions).toEqual([
      ['logs:CreateLogStream', 'logs:PutLogEvents'],
      ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], // sorted: cdk.json's feature flags (@aws-cdk/aws-iam:minimizePolicies),
    ]);
  });

  it('refuses the same method and path twice', () => {
    // No synth needed: the refusal happens while the construct tree is built.
    const stack = new TokenVendingStack(unbundledApp(), 'Twice', { config: parseConfig(baseConfig) });
    const fn = stack.functions.QlikJwt!.function;
    expect(() =>
      stack.api.addFunctionRoute({ id: 'Again', method: 'POST', path: '/qlik/jwt', auth: 'caller' }, fn),
    ).toThrow('route POST /qlik/jwt is added twice');
  });
});

/** Replaces asset hashes (they change with any source edit) so the snapshot shows only infra changes. */
function maskAssets(template: unknown): unknown {
  return JSON.parse(
    JSON.stringify(template)
      .replace(/[0-9a-f]{64}(\.zip)?/g, '<asset-hash>')
      .replace(/"cdk-[a-z0-9]+-assets-/g, '"cdk-<qualifier>-assets-'),
  );
}

describe('Function: TokenVendingStack snapshot', () => {
  it('matches the stored template of the dev configuration', () => {
    expect(maskAssets(shippedStack('config/dev.json').toJSON())).toMatchSnapshot();
  });
});

describe('Function: TokenFunction bundling', () => {
  it('bundles a route entry locally with esbuild into minified ESM with a source map', () => {
    // Prepare: the one test that bundles for real (no Docker on these machines).
    const outdir = mkdtempSync(join(tmpdir(), 'qtv-bundle-'));
    const app = new App({ outdir });
    const stack = new Stack(app, 'Bundled');
    new TokenFunction(stack, 'IdpConfig', {
      entry: 'functions/idp-config/index.ts',
      configJson: '{}',
      logRetention: RetentionDays.ONE_DAY,
    });
    // Act
    app.synth();
    // Assess
    const assetDir = readdirSync(outdir).find((name) => name.startsWith('asset.'));
    expect(assetDir).toBeDefined();
    const bundle = join(outdir, assetDir!, 'index.mjs');
    expect(existsSync(bundle)).toBe(true);
    expect(existsSync(`${bundle}.map`)).toBe(true);
    const code = readFileSync(bundle, 'utf8');
    expect(code).toMatch(/export\s*\{/);
    expect(code).toContain('createRequire');
    // Minified: long lines (readable output averages well under 100 characters a line).
    expect(code.length / code.split('\n').length).toBeGreaterThan(1000);

    // The bundle runs on its own (no node_modules beside it): invoke its handler in a child Node process
    // with a file-backed key, the way Lambda would load it.
    const { privateKey } = rsaKeyPair();
    const keyFile = join(outdir, 'key.pem');
    writeFileSync(keyFile, pkcs8Pem(privateKey));
    const config = {
      qlik: { issuer: 'https://issuer.example.com', keyId: 'bundle-test' },
      identity: { preset: 'cognito' },
      signing: { backend: 'file', privateKeyPath: keyFile },
    };
    const script = `
      const { handler } = await import(${JSON.stringify(pathToFileURL(bundle).href)});
      const res = await handler(
        { version: '2.0', routeKey: 'GET /qlik/idp-config', rawPath: '/qlik/idp-config', rawQueryString: '', headers: {},
          requestContext: { http: { method: 'GET', path: '/qlik/idp-config' }, requestId: 'r1' }, isBase64Encoded: false },
        { awsRequestId: 'r1', functionName: 'idp-config', getRemainingTimeInMillis: () => 5000 });
      process.stdout.write('RESULT ' + JSON.stringify(res) + '\\n');`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: outdir,
      env: { PATH: process.env.PATH, [CONFIG_ENV_VAR]: JSON.stringify(config) },
      encoding: 'utf8',
      timeout: 30_000,
    });
    const line = run.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    expect(line, run.stderr).toBeDefined();
    const response = JSON.parse(line!.slice('RESULT '.length));
    expect(response.statusCode).toBe(200);
    const body = JSON.parse(response.body);
    expect(body).toMatchObject({ issuer: 'https://issuer.example.com', keyId: 'bundle-test', algorithm: 'RS256' });
    // The published key is the key pair's public half.
    expect(body.publicKey).toBe(publicKeyPemOf(privateKey));
  });
});
