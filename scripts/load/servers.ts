/**
 * The three servers of `npm run load -- --mode handler` (scripts/load/handler-load.ts), each run in its
 * own process so none shares an event loop with the others or with the load client:
 *
 * - `handler`: node:http in front of the bundled `POST /qlik/jwt` Lambda (as synth bundles it). Each
 *   request becomes a payload-2.0 event for the user named by the `x-load-user` header as API Gateway's
 *   JWT authorizer hands it over after verifying the caller token (in AWS that is API Gateway's work, not
 *   the function's): the token in `Authorization`, its claims flattened in
 *   `requestContext.authorizer.jwt.claims` (scripts/dev/caller-event.ts).
 * - `bare-sign`: node:http answering each request with one bare `crypto.sign` (RS256) over a signing
 *   input as long as a real token's, key parsed once: the floor of any token server.
 * - `boilerplate`: node:http with the boilerplate call, `jsonwebtoken.sign(payload, pemString, …)` per
 *   request (qlik-auth.md, the qlik-cloud-jwt sample), the payload mapped from the same user.
 *
 *   node --import tsx scripts/load/servers.ts <kind> <settings file (JSON, 0600: it holds a throwaway key)>
 *
 * Prints `LISTENING <port>` when ready; stops on SIGTERM.
 */
import { createPrivateKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import jsonwebtoken from 'jsonwebtoken';
import { type AuthenticatedCaller, callerEvent } from '../dev/caller-event.js';

/** What the orchestrator hands a server. */
export interface ServerSettings {
  /** PEM private key (bare-sign and boilerplate). */
  readonly privateKeyPem?: string;
  /** The signing input the bare-sign server signs (a real token's header.payload). */
  readonly signingInput?: string;
  /** The bundled qlik-jwt Lambda (handler). */
  readonly bundlePath?: string;
  /** Each user as API Gateway hands it to the function: its token in `Authorization`, its claims flattened. */
  readonly callers: readonly AuthenticatedCaller[];
  readonly issuer: string;
  readonly keyId: string;
}

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

const context = {
  callbackWaitsForEmptyEventLoop: false,
  functionName: 'load',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:load',
  memoryLimitInMB: '512',
  awsRequestId: 'load',
  logGroupName: '/aws/lambda/load',
  logStreamName: 'load',
  getRemainingTimeInMillis: () => 10_000,
  done: () => {},
  fail: () => {},
  succeed: () => {},
} as Context;

async function readBody(request: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of request) body += (chunk as Buffer).toString('utf8');
  return body;
}

function userOf(request: IncomingMessage, settings: ServerSettings): number {
  const index = Number(request.headers['x-load-user'] ?? 0);
  return Number.isInteger(index) && index >= 0 && index < settings.callers.length ? index : 0;
}

async function listener(kind: string, settings: ServerSettings) {
  if (kind === 'handler') {
    const { handler } = (await import(pathToFileURL(settings.bundlePath!).href)) as { handler: Handler };
    let counter = 0;
    return async (request: IncomingMessage, response: ServerResponse) => {
      const body = await readBody(request);
      // The caller token in Authorization and its claims in the authorizer context, as API Gateway passes both.
      const event = callerEvent({
        method: 'POST',
        path: '/qlik/jwt',
        caller: settings.callers[userOf(request, settings)]!,
        body,
        contentType: request.headers['content-type'] ?? 'application/json',
        host: 'load.local',
        requestId: `load-${counter++}`,
      });
      const result = await handler(event, context);
      response.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>);
      response.end(result.body ?? '');
    };
  }
  const key = createPrivateKey(settings.privateKeyPem!);
  if (kind === 'bare-sign') {
    const input = Buffer.from(settings.signingInput!);
    return async (request: IncomingMessage, response: ServerResponse) => {
      await readBody(request);
      const token = `${settings.signingInput}.${sign('sha256', input, key).toString('base64url')}`;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ token }));
    };
  }
  if (kind === 'boilerplate') {
    const pem = settings.privateKeyPem!;
    return async (request: IncomingMessage, response: ServerResponse) => {
      await readBody(request);
      const claims = settings.callers[userOf(request, settings)]!.authorizerClaims;
      const groups = claims.groups
        ?.replace(/^\[|\]$/g, '')
        .split(' ')
        .filter(Boolean);
      const payload = {
        sub: claims.sub,
        subType: 'user',
        name: claims.name,
        email: claims.email,
        email_verified: true,
        ...(groups !== undefined && groups.length > 0 ? { groups } : {}),
      };
      // The boilerplate's call: the PEM string handed to jsonwebtoken on every request.
      const token = jsonwebtoken.sign(payload, pem, {
        keyid: settings.keyId,
        algorithm: 'RS256',
        issuer: settings.issuer,
        expiresIn: '30s',
        notBefore: '1s',
        audience: 'qlik.api/login/jwt-session',
      });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ token }));
    };
  }
  throw new Error(`unknown server kind ${kind}: use handler, bare-sign or boilerplate`);
}

async function main(): Promise<void> {
  const [kind, file] = process.argv.slice(2);
  const settings = JSON.parse(readFileSync(file ?? '', 'utf8')) as ServerSettings;
  const listen = await listener(kind ?? '', settings);
  const server = createServer((request, response) => {
    listen(request, response).catch(() => {
      response.writeHead(500);
      response.end();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`LISTENING ${typeof address === 'object' && address ? address.port : 0}\n`);
  });
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
}

main().catch((error: unknown) => {
  console.error(`load server: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
