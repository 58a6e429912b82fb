/**
 * API Gateway HTTP API payload-2.0 events for an authenticated caller, as the benchmark and the load tool
 * hand them to a token function without the dev server's local authorizer.
 *
 * Since the function binds the caller to the very token API Gateway verified (functions/identity/caller.ts
 * reads the claims from `Authorization` and compares `iss`, `sub`, `iat`, `exp`, `jti` with
 * `requestContext.authorizer.jwt.claims`), an event must carry both, as API Gateway sends them: the caller's
 * compact JWS in `Authorization` ("Bearer <token>", one of the two forms AWS documents for the identity
 * source) and the same claims flattened to strings in the authorizer context
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html). The token's
 * signature is a placeholder: API Gateway verified it before the function runs, and the function never
 * verifies it again.
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { apiGatewayClaims } from './local-api-gateway.js';

/** The caller as API Gateway hands it to the function, computed once per caller (the load server reuses it). */
export interface AuthenticatedCaller {
  /** The `Authorization` header value: `Bearer <compact JWS carrying the claims>`. */
  readonly authorization: string;
  /** `requestContext.authorizer.jwt.claims`: every claim of that token as API Gateway passes it (strings). */
  readonly authorizerClaims: Readonly<Record<string, string>>;
}

/**
 * A compact JWS carrying `claims` with their JSON types, as the caller's identity provider would issue it,
 * with a placeholder signature (see the module comment).
 */
export function unverifiedCallerToken(claims: Readonly<Record<string, unknown>>, kid = 'caller-idp-key'): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
  return `${part({ alg: 'RS256', kid, typ: 'JWT' })}.${part(claims)}.${Buffer.from('not verified here').toString('base64url')}`;
}

/** The header value and authorizer claims API Gateway would pass for a caller token carrying `claims`. */
export function authenticatedCaller(claims: Readonly<Record<string, unknown>>): AuthenticatedCaller {
  return { authorization: `Bearer ${unverifiedCallerToken(claims)}`, authorizerClaims: apiGatewayClaims(claims) };
}

/** What {@link callerEvent} builds. */
export interface CallerEventOptions {
  readonly method: string;
  readonly path: string;
  /** The authenticated caller; omit for a public route (no `Authorization`, no authorizer context). */
  readonly caller?: AuthenticatedCaller;
  readonly body?: string;
  /** @default 'application/json' */
  readonly contentType?: string;
  /** @default 'local.example' */
  readonly host?: string;
  /** @default 'req-1' */
  readonly requestId?: string;
  /** @default Date.now() */
  readonly nowMs?: number;
}

/** A payload-2.0 event as API Gateway HTTP API sends it after its JWT authorizer accepted the caller. */
export function callerEvent(options: CallerEventOptions): APIGatewayProxyEventV2 {
  const { method, path, caller } = options;
  const host = options.host ?? 'local.example';
  const now = options.nowMs ?? Date.now();
  return {
    version: '2.0',
    routeKey: `${method} ${path}`,
    rawPath: path,
    rawQueryString: '',
    headers: {
      'content-type': options.contentType ?? 'application/json',
      host,
      ...(caller !== undefined ? { authorization: caller.authorization } : {}),
    },
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: host,
      domainPrefix: host.split('.')[0]!,
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'qtv-bench' },
      requestId: options.requestId ?? 'req-1',
      routeKey: `${method} ${path}`,
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
      ...(caller !== undefined ? { authorizer: { jwt: { claims: caller.authorizerClaims, scopes: null } } } : {}),
    },
    ...(options.body !== undefined && options.body !== '' ? { body: options.body } : {}),
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}
