/**
 * Deploy rehearsal: each shipped example configuration is synthesized with bundling, its template's secrets and
 * keys are created in a moto server that enforces IAM, and every Lambda bundle runs in its own Node process with
 * its template environment and its own role's credentials (test/support/rehearsal explains each departure from
 * AWS). API functions answer their happy path through API Gateway payload-2.0 events; the rotation function runs
 * its four steps against the tenant emulator behind TLS.
 */
import { createPublicKey, type KeyObject, randomBytes, randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListTablesCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DescribeSecretCommand, GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../functions/runtime/config.js';
import { createSelfSignedCertificate } from '../../functions/signing/certificates.js';
import {
  parsePublicMaterial,
  publicKeyMaterial,
  serializePublicMaterial,
} from '../../functions/signing/public-material.js';
import { PROJECT_ROOT } from '../../infra/constructs/token-function.js';
import { runQtv } from '../support/cli.js';
import { httpEvent } from '../support/events.js';
import { pkcs8Pem, rsaKeyPair, verifyWithJsonwebtoken } from '../support/keys.js';
import { type Rehearsal, type RehearsalOptions, startRehearsal } from '../support/rehearsal/index.js';
import { type SynthesizedStack, synthesizeBundled } from '../support/rehearsal/synth.js';
import { outputRef } from '../support/rehearsal/template.js';
import { startTlsFront, type TlsFront } from '../support/rehearsal/tls-front.js';
import { CookieJar, completeAuthorization, pkcePair } from '../support/tenant-emulator/browser.js';
import { startTenantEmulator, type TenantEmulator } from '../support/tenant-emulator/index.js';

const EXAMPLES = {
  'secrets-manager': 'config/example.json',
  kms: 'config/example-kms.json',
  oauth: 'config/example-oauth.json',
  rotation: 'config/example-rotation.json',
} as const;
const SIGNING_SECRET = 'qlik-token-vending/prod/signing-key';
const ISSUER = 'https://token-vending.example.com';
const APP = 'https://app.example.com';

const outdir = mkdtempSync(join(tmpdir(), 'qtv-rehearsal-'));
let stacks: Record<keyof typeof EXAMPLES, SynthesizedStack>;
beforeAll(() => {
  stacks = synthesizeBundled(
    outdir,
    Object.fromEntries(
      Object.entries(EXAMPLES).map(([name, file]) => [name, loadConfigFile(join(PROJECT_ROOT, file))]),
    ),
  ) as typeof stacks;
}, 240_000);
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

/** The signing key an operator puts into the created secret after deploying (`qtv secret put`). */
const signingKey = rsaKeyPair(2048);
const signingSecretValue = JSON.stringify({ privateKey: pkcs8Pem(signingKey.privateKey), kid: 'qtv-2026-11' });

/**
 * The public-material secret has no `Name` in the template (CloudFormation names it), so the rehearsal knows it by
 * its logical ID: the one the stack output SigningPublicSecretArn refers to.
 */
const publicSecretOf = (stack: SynthesizedStack) => outputRef(stack.template, 'SigningPublicSecretArn');

/** What `qtv secret put --public-secret-id` writes for a Secrets Manager key: kid, issuer, public key, certificate. */
async function publicMaterialValue(privateKey: KeyObject, kid: string, certificate?: string): Promise<string> {
  const cert = certificate ?? (await createSelfSignedCertificate({ privateKey, commonName: ISSUER }));
  return serializePublicMaterial({
    current: publicKeyMaterial({ kid, issuer: ISSUER, publicKey: createPublicKey(privateKey), certificate: cert }),
  });
}

/** Claims as API Gateway's JWT authorizer passes them (strings; arrays flattened as `[a b]`). */
const oktaClaims = {
  sub: '00u1abcd',
  name: 'Alice Example',
  email: 'alice@example.com',
  email_verified: 'true',
  groups: '[Sales Analysts]',
};

const body = (result: APIGatewayProxyStructuredResultV2) => JSON.parse(result.body ?? '{}') as Record<string, unknown>;
/** `name=value` of a Set-Cookie line, as a browser sends it back (payload 2.0 `cookies`). */
const cookiePair = (setCookie: string) => setCookie.split(';')[0] ?? '';
const cookieNamed = (result: APIGatewayProxyStructuredResultV2, name: string) =>
  (result.cookies ?? []).map(cookiePair).find((c) => c.startsWith(`${name}=`) && c.length > name.length + 1);

/** GET /qlik/idp-config, then POST /qlik/jwt; the token verifies (jsonwebtoken) with the certificate Qlik gets. */
async function vendAndVerify(r: Rehearsal, claims: Record<string, string>, expectedSub: string) {
  const idp = await r.fn('GET /qlik/idp-config').invoke(httpEvent({ method: 'GET', path: '/qlik/idp-config' }));
  expect(idp.statusCode, idp.body).toBe(200);
  const settings = body(idp) as { issuer: string; keyId: string; certificate: string };
  expect(settings.issuer).toBe(ISSUER);
  const vend = await r.fn('POST /qlik/jwt').invoke(httpEvent({ claims, body: '{}' }));
  expect(vend.statusCode, vend.body).toBe(200);
  const { token, keyId } = body(vend) as { token: string; keyId: string };
  expect(keyId).toBe(settings.keyId);
  const publicKey = new X509Certificate(settings.certificate).publicKey.export({ format: 'pem', type: 'spki' });
  const { header, payload } = verifyWithJsonwebtoken(token, publicKey.toString(), {
    audience: 'qlik.api/login/jwt-session',
  });
  expect(header.kid).toBe(keyId);
  expect(payload).toMatchObject({ iss: ISSUER, sub: expectedSub });
}

/** Powertools log lines at ERROR level, per function (a happy path logs none). */
function errorLogs(r: Rehearsal): Record<string, string[]> {
  const found: Record<string, string[]> = {};
  for (const [description, fn] of r.functions) {
    const lines = fn
      .output()
      .split('\n')
      .filter((line) => line.includes('"level":"ERROR"'));
    if (lines.length > 0) found[description] = lines;
  }
  return found;
}

/** Starts a rehearsal and stops it after the describe block. */
function rehearsal(make: () => Promise<RehearsalOptions>) {
  const holder: { r?: Rehearsal } = {};
  beforeAll(async () => {
    holder.r = await startRehearsal(await make());
  }, 120_000);
  afterAll(async () => {
    await holder.r?.stop();
  });
  return () => {
    if (holder.r === undefined) throw new Error('the rehearsal did not start');
    return holder.r;
  };
}

describe('Deploy rehearsal: config/example.json (secrets-manager, customer-managed key on the secret)', () => {
  const r = rehearsal(async () => ({
    ...stacks['secrets-manager'],
    secretValues: {
      [SIGNING_SECRET]: signingSecretValue,
      [publicSecretOf(stacks['secrets-manager'])]: await publicMaterialValue(signingKey.privateKey, 'qtv-2026-11'),
    },
  }));

  it('every function answers its happy path with its own role under IAM enforcement', async () => {
    await vendAndVerify(r(), oktaClaims, oktaClaims.sub);
    expect(r().unexercised()).toEqual([]);
    expect(errorLogs(r())).toEqual({});
  });

  it('/qlik/idp-config answers from the public material alone: its role cannot decrypt the private key secret (customer-managed key) or sign', () => {
    // Actions only: the rehearsal widens resources to "*" (test/infra/least-privilege.test.ts pins the ARNs).
    const idpActions = r().grantedActions.get('GET /qlik/idp-config') ?? [];
    expect(idpActions).toContain('secretsmanager:GetSecretValue');
    expect(idpActions).not.toContain('kms:Decrypt');
    expect(idpActions).not.toContain('kms:Sign');
    expect(r().grantedActions.get('POST /qlik/jwt')).toContain('kms:Decrypt');
  });
});

describe('Deploy rehearsal: a needed action removed from a role', () => {
  const r = rehearsal(async () => ({
    ...stacks['secrets-manager'],
    secretValues: {
      [SIGNING_SECRET]: signingSecretValue,
      [publicSecretOf(stacks['secrets-manager'])]: await publicMaterialValue(signingKey.privateKey, 'qtv-2026-11'),
    },
    // The token function's role loses secretsmanager:GetSecretValue; the idp-config role keeps it.
    editStatements: (fn, statements) =>
      stacks['secrets-manager'].template.Resources[fn.logicalId]?.Properties?.Description === 'POST /qlik/jwt'
        ? statements.map((s) => ({
            ...s,
            Action: [s.Action].flat().filter((a) => a !== 'secretsmanager:GetSecretValue'),
          }))
        : statements,
  }));

  it('fails the function that needs it: POST /qlik/jwt answers 5xx with a SIGNING_KEY_ code, while idp-config (its own role, untouched) still answers 200', async () => {
    // Act
    const vend = await r()
      .fn('POST /qlik/jwt')
      .invoke(httpEvent({ claims: oktaClaims, body: '{}' }));
    const idp = await r()
      .fn('GET /qlik/idp-config')
      .invoke(httpEvent({ method: 'GET', path: '/qlik/idp-config' }));
    // Assess
    expect(r().grantedActions.get('POST /qlik/jwt')).not.toContain('secretsmanager:GetSecretValue');
    expect(vend.statusCode).toBeGreaterThanOrEqual(500);
    expect(body(vend).code).toMatch(/^SIGNING_KEY_/);
    expect(idp.statusCode).toBe(200);
    expect(Object.keys(errorLogs(r()))).toEqual(['POST /qlik/jwt']);
  });
});

describe('Deploy rehearsal: config/example-kms.json (KMS key created with an alias)', () => {
  const r = rehearsal(async () => ({
    ...stacks.kms,
    // CloudFormation fills the created secret with a generated string; the operator replaces it (below).
    secretValues: { [publicSecretOf(stacks.kms)]: randomBytes(24).toString('base64url') },
  }));

  it('every function answers its happy path with its own role under IAM enforcement', async () => {
    // The operator's step after deploying (docs/deploy.md): one KMS Sign makes the certificate, stored as public material.
    const cert = await runQtv(
      ['keys', 'cert', '--kms', 'alias/qlik-token-vending', '--subject', ISSUER, '--out'].concat(
        [join(outdir, 'kms-publickey.cer'), '--public-secret-id', r().secretArn(publicSecretOf(stacks.kms))],
        ['--issuer', ISSUER],
      ),
      { env: { ...r().operatorEnvironment } },
    );
    expect(cert.code, cert.stderr).toBe(0);
    // /qlik/idp-config may read the public key, never sign.
    expect(r().grantedActions.get('GET /qlik/idp-config')).toContain('kms:GetPublicKey');
    expect(r().grantedActions.get('GET /qlik/idp-config')).not.toContain('kms:Sign');
    // Entra ID: the Qlik subject is the object ID (oid), never the pairwise sub.
    await vendAndVerify(
      r(),
      { sub: 'pairwise-sub', oid: '5f0e-object-id', name: 'Alice Example', email: 'alice@example.com' },
      '5f0e-object-id',
    );
    expect(r().unexercised()).toEqual([]);
    expect(errorLogs(r())).toEqual({});
  });
});

describe('Deploy rehearsal: config/example-oauth.json (OAuth proxy, impersonation with user provisioning)', () => {
  const WEB_SECRET = `web-${randomBytes(12).toString('hex')}`;
  const ADMIN_SECRET = `adm-${randomBytes(12).toString('hex')}`;
  const CALLBACK = 'https://api.example.com/oauth/callback';
  let tenant: TenantEmulator;
  const r = rehearsal(async () => {
    tenant = await startTenantEmulator({ users: [{ subject: 'alice', name: 'Alice', email: 'alice@example.com' }] });
    // The clients the example names, as a tenant admin would create them.
    tenant.addClient({
      clientId: 'qlik-web-client-id',
      secrets: [WEB_SECRET],
      redirectUris: [CALLBACK],
      impersonation: true,
    });
    tenant.addClient({ clientId: 'qlik-admin-client-id', secrets: [ADMIN_SECRET], admin: true });
    return {
      ...stacks.oauth,
      secretValues: {
        [SIGNING_SECRET]: signingSecretValue,
        [publicSecretOf(stacks.oauth)]: await publicMaterialValue(signingKey.privateKey, 'qtv-2026-11'),
      },
      external: [
        { kind: 'secret', name: 'qlik-token-vending/prod/qlik-oauth-client', value: WEB_SECRET },
        {
          kind: 'secret',
          name: 'qlik-token-vending/prod/qlik-admin-client',
          value: JSON.stringify({ clientSecret: ADMIN_SECRET }),
          configuredAs:
            'arn:aws:secretsmanager:eu-west-1:111122223333:secret:qlik-token-vending/prod/qlik-admin-client-AbCdEf',
        },
      ],
      // Stand-in: the tenant emulator instead of https://example.eu.qlikcloud.com (the schema allows http on loopback).
      // Only the functions whose bundle holds the OAuth wiring get `oauth` in QTV_CONFIG (functionConfigFor).
      configPatch: (config) => {
        if (config.oauth !== undefined) (config.oauth as Record<string, unknown>).tenantUrl = tenant.url;
      },
    };
  });
  afterAll(async () => {
    await tenant?.close();
  });

  const usersMe = async (accessToken: string) => {
    const response = await fetch(`${tenant.url}/api/v1/users/me`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    return (await response.json()) as { subject?: string };
  };

  it('every function answers its happy path with its own role under IAM enforcement', async () => {
    await vendAndVerify(r(), oktaClaims, oktaClaims.sub);

    // Login -> the emulator's sign-in -> callback: a sealed session cookie, then back to the app.
    const login = await r()
      .fn('GET /oauth/login')
      .invoke(httpEvent({ method: 'GET', path: '/oauth/login' }));
    expect(login.statusCode, login.body).toBe(302);
    const stateCookie = cookieNamed(login, '__Host-qtv-oauth-state');
    expect(stateCookie).toBeDefined();
    const callbackUrl = await completeAuthorization({
      authorizeUrl: String(login.headers?.location),
      subject: 'alice',
      redirectUriPrefix: CALLBACK,
    });
    const query = Object.fromEntries(callbackUrl.searchParams);
    const callback = await r()
      .fn('GET /oauth/callback')
      .invoke({ ...httpEvent({ method: 'GET', path: '/oauth/callback', query }), cookies: [stateCookie!] });
    expect(callback.statusCode, callback.body).toBe(302);
    expect(callback.headers?.location).toBe(`${APP}/`);
    const session = cookieNamed(callback, '__Host-qtv-oauth-session');
    expect(session).toBeDefined();

    // Refresh from the session cookie: an access token Qlik accepts.
    const refresh = await r()
      .fn('POST /oauth/refresh')
      .invoke({ ...httpEvent({ path: '/oauth/refresh', headers: { origin: APP } }), cookies: [session!] });
    expect(refresh.statusCode, refresh.body).toBe(200);
    expect(await usersMe(String(body(refresh).accessToken))).toMatchObject({ subject: 'alice' });

    // An SPA's own PKCE code, exchanged through the proxy (which adds the client secret).
    const pkce = pkcePair();
    const spa = await completeAuthorization({
      authorizeUrl: `${tenant.url}/oauth/authorize?${new URLSearchParams({
        response_type: 'code',
        client_id: 'qlik-web-client-id',
        redirect_uri: CALLBACK,
        scope: 'user_default offline_access',
        state: randomUUID(),
        code_challenge: pkce.challenge,
        code_challenge_method: 'S256',
      })}`,
      subject: 'alice',
      jar: new CookieJar(),
      redirectUriPrefix: CALLBACK,
    });
    const exchange = await r()
      .fn('POST /oauth/code-exchange')
      .invoke(
        httpEvent({
          path: '/oauth/code-exchange',
          headers: { origin: APP },
          body: JSON.stringify({
            code: spa.searchParams.get('code'),
            redirect_uri: CALLBACK,
            code_verifier: pkce.verifier,
          }),
        }),
      );
    expect(exchange.statusCode, exchange.body).toBe(200);
    expect(await usersMe(String(body(exchange).accessToken))).toMatchObject({ subject: 'alice' });

    // Revoke the first session: 204, and its cookie can no longer refresh.
    const revoke = await r()
      .fn('POST /oauth/revoke')
      .invoke({ ...httpEvent({ path: '/oauth/revoke', headers: { origin: APP } }), cookies: [session!] });
    expect(revoke.statusCode, revoke.body).toBe(204);
    // The refresh grace table the template creates took the logout record (the revoke role's dynamodb:PutItem).
    const { TableNames } = await r().admin.dynamodb.send(new ListTablesCommand({}));
    expect(TableNames).toHaveLength(1);
    const grace = await r().admin.dynamodb.send(new ScanCommand({ TableName: TableNames![0] }));
    expect(grace.Count).toBeGreaterThan(0);

    // Impersonation for a caller Qlik does not know yet: the admin client provisions the user first.
    const impersonated = await r()
      .fn('POST /qlik/access-token')
      .invoke(httpEvent({ path: '/qlik/access-token', claims: oktaClaims, body: '{}' }));
    expect(impersonated.statusCode, impersonated.body).toBe(200);
    expect(await usersMe(String(body(impersonated).accessToken))).toMatchObject({ subject: oktaClaims.sub });

    expect(r().unexercised()).toEqual([]);
    expect(errorLogs(r())).toEqual({});
  });
});

describe('Deploy rehearsal: config/example-rotation.json (register mode against the tenant emulator)', () => {
  const ADMIN = { clientId: 'qtv-rotation-admin', clientSecret: `adm-${randomBytes(12).toString('hex')}` };
  const WEB_INTEGRATION_ID = 'REPLACE-with-your-web-integration-id';
  let tenant: TenantEmulator;
  let front: TlsFront;
  const r = rehearsal(async () => {
    tenant = await startTenantEmulator({
      clients: [{ clientId: ADMIN.clientId, secrets: [ADMIN.clientSecret], admin: true }],
      webIntegrations: [{ id: WEB_INTEGRATION_ID, validOrigins: [APP] }],
    });
    front = await startTlsFront(tenant.url);
    // The first key, made by hand with its certificate and registered in Qlik, as docs/rotation.md asks.
    const certificate = await createSelfSignedCertificate({ privateKey: signingKey.privateKey, commonName: ISSUER });
    tenant.addJwtIdentityProvider({ kid: 'qtv-initial', issuer: ISSUER, pem: certificate });
    return {
      ...stacks.rotation,
      secretValues: {
        [SIGNING_SECRET]: JSON.stringify({
          privateKey: pkcs8Pem(signingKey.privateKey),
          kid: 'qtv-initial',
          issuer: ISSUER,
          certificate,
        }),
        [publicSecretOf(stacks.rotation)]: await publicMaterialValue(signingKey.privateKey, 'qtv-initial', certificate),
      },
      external: [
        { kind: 'secret', name: 'qlik-token-vending/prod/qlik-admin-client', value: JSON.stringify(ADMIN) },
        {
          kind: 'topic',
          name: 'qlik-token-vending-rotation',
          configuredAs: 'arn:aws:sns:eu-west-1:111122223333:qlik-token-vending-rotation',
        },
      ],
      // Stand-in: the tenant emulator behind TLS instead of example.eu.qlikcloud.com.
      configPatch: (config) => {
        (config.qlik as Record<string, unknown>).tenantHost = front.host;
      },
      extraEnvironment: { NODE_EXTRA_CA_CERTS: front.caFile },
    };
  });
  afterAll(async () => {
    await front?.close();
    await tenant?.close();
  });

  it('the API functions answer, and the rotation function promotes a new key through its four steps with its own role', async () => {
    await vendAndVerify(r(), oktaClaims, oktaClaims.sub);
    const rotate = r().fn('Rotates the Qlik JWT signing key secret');
    const secretId = r().secretArn(SIGNING_SECRET);
    const token = randomUUID();

    // Act: Secrets Manager's part, one invocation per step.
    const outcomes: string[] = [];
    for (const step of ['createSecret', 'setSecret', 'testSecret', 'finishSecret'])
      outcomes.push(
        `${step}:${((await rotate.invoke({ SecretId: secretId, ClientRequestToken: token, Step: step })) as { outcome?: string }).outcome}`,
      );

    // Assess
    expect(outcomes, rotate.output().slice(-3000)).toEqual([
      'createSecret:done',
      'setSecret:done',
      'testSecret:done',
      'finishSecret:done',
    ]);
    const described = await r().admin.secretsManager.send(new DescribeSecretCommand({ SecretId: secretId }));
    expect(described.VersionIdsToStages?.[token], JSON.stringify(described.VersionIdsToStages)).toContain('AWSCURRENT');
    const current = JSON.parse(
      (
        await r().admin.secretsManager.send(
          new GetSecretValueCommand({ SecretId: secretId, VersionStage: 'AWSCURRENT' }),
        )
      ).SecretString ?? '{}',
    ) as { kid: string };
    expect(current.kid).toMatch(/^qtv-\d{4}-\d{2}-\d{2}-[0-9a-f]{4}$/);
    // finishSecret published the promoted key's public half (and no longer a pending one) for /qlik/idp-config.
    const published = parsePublicMaterial(
      (
        await r().admin.secretsManager.send(
          new GetSecretValueCommand({ SecretId: r().secretArn(publicSecretOf(stacks.rotation)) }),
        )
      ).SecretString ?? '',
    );
    expect(published.current.kid).toBe(current.kid);
    expect(published.pending).toBeUndefined();
    // The new key's IdP was registered at the tenant through the admin client, beside the initial one.
    expect(tenant.identityProviders.list().map((idp) => idp.options.staticKeys[0]?.kid)).toContain(current.kid);
    expect(r().unexercised()).toEqual([]);
    expect(errorLogs(r())).toEqual({});
  });
});
