/**
 * A tiny stand-in for the parts of a Qlik Cloud tenant the CLI talks to, until the tenant emulator
 * (test/support/tenant-emulator/) is merged: `POST /oauth/token` (client_credentials),
 * `GET`/`POST /api/v1/identity-providers` (admin bearer), and `POST /login/jwt-session`, which judges the
 * token with the shared Qlik rules and the registered key. Shapes follow qlik.dev (see docs/qlik-auth.md).
 */
import { randomUUID, verify, X509Certificate } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkQlikToken, qlikRejections } from '../../functions/shared/qlik-claims.js';

/** A registered JWT identity provider, as the stub stores it. */
export interface StubIdentityProvider {
  id: string;
  protocol: string;
  options: { issuer: string; staticKeys: { kid: string; pem: string }[] };
  [field: string]: unknown;
}

/** Settings of a stub tenant. */
export interface TenantStubOptions {
  readonly apiKey?: string;
  readonly client?: { id: string; secret: string };
  readonly webIntegrationId?: string;
}

const errors = (status: number, code: string, title: string) => ({ errors: [{ code, title, status: String(status) }] });

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts a stub tenant on a free loopback port. */
export async function startTenantStub(options: TenantStubOptions = {}) {
  const identityProviders: StubIdentityProvider[] = [];
  const requests: { method: string; path: string; body: string }[] = [];
  const accessTokens = new Set<string>();
  const adminTokens = () => new Set([...(options.apiKey ? [options.apiKey] : []), ...accessTokens]);

  const server = createServer(async (request, response) => {
    const body = await readBody(request);
    const path = new URL(request.url ?? '/', 'http://stub').pathname;
    requests.push({ method: request.method ?? '', path, body });
    const send = (status: number, value: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(value));
    };
    const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];

    if (request.method === 'POST' && path === '/oauth/token') {
      const form = JSON.parse(body || '{}') as Record<string, string>;
      if (
        form.grant_type !== 'client_credentials' ||
        form.client_id !== options.client?.id ||
        form.client_secret !== options.client?.secret
      )
        return send(401, errors(401, 'OAUTH-1', 'invalid_client'));
      const token = randomUUID();
      accessTokens.add(token);
      return send(200, { access_token: token, token_type: 'Bearer', expires_in: 21600 });
    }
    if (path === '/api/v1/identity-providers') {
      if (bearer === undefined || !adminTokens().has(bearer))
        return send(401, errors(401, 'IDENTITY-PROVIDERS-1', 'Unauthorized'));
      if (request.method === 'GET') return send(200, { data: identityProviders });
      if (request.method === 'POST') {
        const idp = JSON.parse(body) as StubIdentityProvider;
        if (idp.protocol !== 'jwtAuth' || idp.options?.staticKeys?.length !== 1)
          return send(400, errors(400, 'IDENTITY-PROVIDERS-2', 'Invalid request'));
        const created = { ...idp, id: randomUUID() };
        identityProviders.push(created);
        return send(201, created);
      }
    }
    if (request.method === 'POST' && path === '/login/jwt-session') {
      if (request.headers['qlik-web-integration-id'] !== options.webIntegrationId)
        return send(400, errors(400, 'LOGIN-WI-1', 'Invalid web integration ID'));
      const [h, p, s] = (bearer ?? '').split('.');
      const decode = (part: string | undefined) => {
        try {
          return JSON.parse(Buffer.from(part ?? '', 'base64url').toString()) as Record<string, unknown>;
        } catch {
          return {};
        }
      };
      const header = decode(h);
      const payload = decode(p);
      const idp = identityProviders.find(
        (i) => i.options.issuer === payload.iss && i.options.staticKeys[0]?.kid === header.kid,
      );
      const rejections = qlikRejections(checkQlikToken(header, payload, { nowSeconds: Math.floor(Date.now() / 1000) }));
      const signed =
        idp !== undefined &&
        verify(
          'sha256',
          Buffer.from(`${h}.${p}`),
          new X509Certificate(idp.options.staticKeys[0]!.pem).publicKey,
          Buffer.from(s ?? '', 'base64url'),
        );
      if (rejections.length > 0 || !signed) return send(401, errors(401, 'INTERNAL-TOKEN-1', 'Invalid token request'));
      response.writeHead(200, { 'set-cookie': 'eas.sid=stub; Path=/; HttpOnly; Secure' });
      return response.end();
    }
    return send(404, errors(404, 'HTTP-404', 'Not found'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    identityProviders,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
