/**
 * Plays API Gateway HTTP API for the dev server: route matching from the shared route table, the
 * JWT authorizer as AWS documents it (./jwt-authorizer.ts, a source per rule), and payload-format-2.0
 * events with claims flattened to strings as API Gateway does. It owns no business logic.
 */
import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { problem } from '../../functions/http/lambda-http.js';
import type { RouteDefinition } from '../../functions/routes.js';
import { AuthorizerRejection, authorizeCaller, type LocalAuthorizer } from './jwt-authorizer.js';

export type { LocalAuthorizer } from './jwt-authorizer.js';

/** A Lambda-style handler as the dev server calls it. */
export type LocalHandler = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2 | undefined>;

/** Routes with their handlers. */
export interface LocalRoute {
  readonly route: RouteDefinition;
  readonly handler: LocalHandler;
}

/** Largest body the local gateway reads; the handlers enforce their own, smaller limit. */
const MAX_READ_BYTES = 1024 * 1024;

/** API Gateway passes every claim as a string; arrays become "[a b c]". */
export function flattenClaim(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return `[${value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(' ')}]`;
  if (typeof value === 'object' && value !== null) return JSON.stringify(value);
  return String(value);
}

/** The claims of a verified token as API Gateway puts them in `requestContext.authorizer.jwt.claims`. */
export function apiGatewayClaims(payload: Readonly<Record<string, unknown>>): Record<string, string> {
  return Object.fromEntries(Object.entries(payload).map(([k, v]) => [k, flattenClaim(v)]));
}

function lambdaContext(requestId: string, functionName: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 10_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

async function readBody(request: IncomingMessage): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).byteLength;
    if (size > MAX_READ_BYTES) return 'too-large';
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function send(
  response: ServerResponse,
  result: APIGatewayProxyStructuredResultV2,
  extraHeaders: Record<string, string>,
) {
  const body =
    result.body === undefined ? '' : result.isBase64Encoded ? Buffer.from(result.body, 'base64') : result.body;
  // Payload 2.0 returns cookies in `cookies`; API Gateway turns each into a Set-Cookie header.
  const cookies = result.cookies !== undefined && result.cookies.length > 0 ? { 'set-cookie': result.cookies } : {};
  response.writeHead(result.statusCode ?? 200, {
    ...extraHeaders,
    ...(result.headers as Record<string, string> | undefined),
    ...cookies,
  });
  response.end(body);
}

let requestCounter = 0;

/**
 * Creates the request listener. CORS follows `allowedOrigins` exactly, as the HTTP API's CORS
 * configuration does.
 */
export function createLocalApiGateway(options: {
  readonly routes: readonly LocalRoute[];
  readonly authorizer: LocalAuthorizer;
  readonly allowedOrigins: readonly string[];
  /** Extra routes served before the API (the dev identity provider). */
  readonly extra?: (request: IncomingMessage, response: ServerResponse, body: Buffer) => Promise<boolean>;
}) {
  return async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const url = new URL(request.url ?? '/', 'http://local');
    const origin = request.headers.origin;
    const cors: Record<string, string> =
      origin !== undefined && options.allowedOrigins.includes(origin)
        ? { 'access-control-allow-origin': origin, vary: 'Origin', 'access-control-expose-headers': 'retry-after' }
        : {};
    if (request.method === 'OPTIONS') {
      response.writeHead(204, {
        ...cors,
        ...(cors['access-control-allow-origin']
          ? {
              'access-control-allow-methods': 'GET,POST,OPTIONS',
              // cache-control: the frontend snippet's no-cache retry of /qlik/access-token (docs/frontend.md).
              'access-control-allow-headers': 'authorization,content-type,cache-control',
              'access-control-max-age': '600',
            }
          : {}),
      });
      response.end();
      return;
    }
    const body = await readBody(request);
    if (body === 'too-large') {
      send(response, problem(413, 'PAYLOAD_TOO_LARGE', 'The request body is too large.'), cors);
      request.destroy();
      return;
    }
    if (options.extra) {
      // The extra routes (the dev identity provider) answer browsers on allowed origins too.
      for (const [name, value] of Object.entries(cors)) response.setHeader(name, value);
      if (await options.extra(request, response, body)) return;
      for (const name of Object.keys(cors)) response.removeHeader(name);
    }

    const sameP = options.routes.filter((r) => r.route.path === url.pathname);
    const match = sameP.find((r) => r.route.method === request.method);
    if (match === undefined) {
      const result =
        sameP.length > 0
          ? problem(
              405,
              'METHOD_NOT_ALLOWED',
              `Use ${sameP.map((r) => r.route.method).join(' or ')} for ${url.pathname}.`,
              { allow: sameP.map((r) => r.route.method).join(', ') },
            )
          : problem(404, 'NOT_FOUND', `No route ${request.method} ${url.pathname}.`);
      send(response, result, cors);
      return;
    }

    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
    }
    let authorizer: { jwt: { claims: Record<string, string>; scopes: null } } | undefined;
    if (match.route.auth === 'caller') {
      try {
        const payload = await authorizeCaller(options.authorizer, headers.authorization);
        authorizer = { jwt: { claims: apiGatewayClaims(payload), scopes: null } };
      } catch (error) {
        // API Gateway answers 401 {"message":"Unauthorized"} with the reason only in www-authenticate
        // (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-jwt.html).
        const reason = error instanceof AuthorizerRejection ? error.description : 'the token is invalid';
        send(
          response,
          problem(
            401,
            'UNAUTHENTICATED',
            'The caller token is missing, expired or not from the configured identity provider.',
            {
              'www-authenticate': `Bearer scope="" error="invalid_token" error_description="${reason.replace(/["\\]/g, '')}"`,
            },
          ),
          cors,
        );
        return;
      }
    }

    const requestId = `local-${Date.now().toString(36)}-${(requestCounter++).toString(36)}`;
    // Text bodies arrive as strings, others base64-encoded; bytes that are not UTF-8 stay base64 so the
    // handler can refuse them instead of seeing replacement characters.
    const isText =
      body.byteLength === 0 || (/json|text|x-www-form-urlencoded/i.test(headers['content-type'] ?? '') && isUtf8(body));
    const event = {
      version: '2.0',
      routeKey: `${match.route.method} ${match.route.path}`,
      rawPath: url.pathname,
      rawQueryString: url.search.slice(1),
      headers,
      // Payload 2.0 hands request cookies over as an array as well.
      ...(headers.cookie !== undefined ? { cookies: headers.cookie.split(/;\s*/).filter(Boolean) } : {}),
      queryStringParameters: url.search ? Object.fromEntries(url.searchParams) : undefined,
      requestContext: {
        accountId: '000000000000',
        apiId: 'local',
        domainName: headers.host ?? 'localhost',
        domainPrefix: 'local',
        http: {
          method: request.method ?? 'GET',
          path: url.pathname,
          protocol: 'HTTP/1.1',
          sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
          userAgent: headers['user-agent'] ?? '',
        },
        requestId,
        routeKey: `${match.route.method} ${match.route.path}`,
        stage: '$default',
        time: new Date().toISOString(),
        timeEpoch: Date.now(),
        ...(authorizer ? { authorizer } : {}),
      },
      body: body.byteLength === 0 ? undefined : isText ? body.toString('utf8') : body.toString('base64'),
      isBase64Encoded: !isText,
    } as APIGatewayProxyEventV2;
    try {
      const result = (await match.handler(event, lambdaContext(requestId, match.route.id))) ?? { statusCode: 204 };
      send(response, result, cors);
    } catch {
      // A Lambda that throws past middy: API Gateway answers 500 "Internal Server Error".
      send(response, problem(500, 'INTERNAL', 'The function failed.'), cors);
    }
  };
}
