/**
 * `openid-client` 6.9 (panva; pinned dev dependency, runs on Node 20) against the tenant emulator's
 * OAuth endpoints, as any standards client would use a Qlik tenant: RFC 8414 discovery at Qlik's
 * documented path (`GET /.well-known/oauth-authorization-server`, https://qlik.dev/apis/rest/.well-known),
 * authorization code + PKCE S256 (Qlik: S256 only, `state` required), refresh, and RFC 7009 revocation
 * (`POST /oauth/revoke`, https://qlik.dev/apis/rest/oauth). The client authenticates with
 * `client_secret_post` (Qlik reads `client_id` and `client_secret` from the body, qlik-auth.md).
 * None of the protocol code here is ours: openid-client builds every request and checks every answer.
 */
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeAuthorization } from '../support/tenant-emulator/browser.js';
import { startTenantEmulator, type TenantEmulator } from '../support/tenant-emulator/index.js';

const REDIRECT_URI = 'http://127.0.0.1:9/openid-client/callback';
const CLIENT = { clientId: 'openid-client-web', secret: 'openid-client-secret' };
let tenant: TenantEmulator;
let config: client.Configuration;

beforeAll(async () => {
  tenant = await startTenantEmulator({
    users: [{ subject: 'alice', name: 'Alice Example', email: 'alice@example.com' }],
    clients: [{ clientId: CLIENT.clientId, secrets: [CLIENT.secret], redirectUris: [REDIRECT_URI] }],
  });
  // algorithm "oauth2": RFC 8414 metadata (Qlik's documented path), not OpenID Connect discovery.
  config = await client.discovery(
    new URL(tenant.url),
    CLIENT.clientId,
    undefined,
    client.ClientSecretPost(CLIENT.secret),
    {
      algorithm: 'oauth2',
      execute: [client.allowInsecureRequests],
    },
  );
});
afterAll(async () => tenant?.close());

/** users/me with a bearer token: the status and, on 200, the subject. */
async function usersMe(accessToken: string): Promise<{ status: number; subject?: string }> {
  const response = await fetch(`${tenant.url}/api/v1/users/me`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  if (response.status !== 200) return { status: response.status };
  return { status: 200, subject: ((await response.json()) as { subject: string }).subject };
}

/** A full authorization code + PKCE flow for `subject`, driven through the emulator's sign-in form. */
async function signIn(subject: string) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const authorizeUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'user_default offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  });
  const callback = await completeAuthorization({
    authorizeUrl: authorizeUrl.href,
    subject,
    redirectUriPrefix: REDIRECT_URI,
  });
  return client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state });
}

describe('openid-client against the emulator’s OAuth endpoints', () => {
  it('discovers the endpoints from /.well-known/oauth-authorization-server', () => {
    // Assess: the metadata openid-client accepted (it checks that issuer equals the discovery URL).
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(tenant.url);
    expect(metadata.authorization_endpoint).toBe(`${tenant.url}/oauth/authorize`);
    expect(metadata.token_endpoint).toBe(`${tenant.url}/oauth/token`);
    expect(metadata.revocation_endpoint).toBe(`${tenant.url}/oauth/revoke`);
    expect(metadata.code_challenge_methods_supported).toContain('S256');
    expect(tenant.requests.map((r) => r.path)).toContain('/.well-known/oauth-authorization-server');
  });

  it('signs a user in with authorization code + PKCE S256, and the access token reads users/me as that user', async () => {
    // Act
    const tokens = await signIn('alice');
    // Assess
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect(tokens.refresh_token).toEqual(expect.any(String));
    expect(await usersMe(tokens.access_token)).toEqual({ status: 200, subject: 'alice' });
  });

  it('refreshes: the refresh token gives a new access token for the same user', async () => {
    // Prepare
    const first = await signIn('alice');
    // Act
    const refreshed = await client.refreshTokenGrant(config, first.refresh_token as string);
    // Assess
    expect(refreshed.access_token).not.toBe(first.access_token);
    expect(await usersMe(refreshed.access_token)).toEqual({ status: 200, subject: 'alice' });
  });

  it('revokes: a revoked access token reads nothing, and a revoked refresh token refreshes nothing', async () => {
    // Prepare
    const tokens = await signIn('alice');
    expect((await usersMe(tokens.access_token)).status).toBe(200);
    // Act
    await client.tokenRevocation(config, tokens.access_token, { token_type_hint: 'access_token' });
    await client.tokenRevocation(config, tokens.refresh_token as string, { token_type_hint: 'refresh_token' });
    // Assess
    expect((await usersMe(tokens.access_token)).status).toBe(401);
    await expect(client.refreshTokenGrant(config, tokens.refresh_token as string)).rejects.toThrow();
  });
});
