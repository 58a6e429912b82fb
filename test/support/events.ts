/** Builders for API Gateway payload-2.0 events and a Lambda context, for handler tests. */
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { apiGatewayClaims } from '../../scripts/dev/local-api-gateway.js';

/** How the caller token is put in `Authorization`: the forms API Gateway's JWT authorizer accepts. */
export type AuthorizationForm = 'Bearer' | 'bearer' | 'BEARER' | 'bare';

/** Every `Authorization` form the handlers must read (AWS documents bare and `Bearer`; other cases: guessed). */
export const AUTHORIZATION_FORMS: readonly AuthorizationForm[] = ['Bearer', 'bare', 'bearer', 'BEARER'];

/**
 * A compact JWS carrying `payload`, as the caller's identity provider would send it. The signature is not
 * a real one: API Gateway verified it before the function runs, and the function never re-verifies.
 */
export function callerToken(payload: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
  return `${part({ alg: 'RS256', kid: 'test-kid', typ: 'JWT' })}.${part(payload)}.c2lnbmF0dXJl`;
}

/** The `Authorization` value for `token` in `form`. */
export function authorizationValue(token: string, form: AuthorizationForm = 'Bearer'): string {
  return form === 'bare' ? token : `${form} ${token}`;
}

/** Options for {@link httpEvent}. */
export interface HttpEventOptions {
  method?: string;
  path?: string;
  body?: string;
  isBase64Encoded?: boolean;
  headers?: Record<string, string>;
  /**
   * The verified caller token's claims, with their JSON types. The event gets them as API Gateway passes
   * them (strings, arrays flattened) and, unless `headers.authorization` is given, the token itself in
   * `Authorization` (in `authorization` form). Omit for an unauthenticated event.
   */
  claims?: Record<string, unknown>;
  /** @default 'Bearer' */
  authorization?: AuthorizationForm;
  query?: Record<string, string>;
}

/** A payload-format-2.0 event as API Gateway HTTP API sends it. */
export function httpEvent(options: HttpEventOptions = {}): APIGatewayProxyEventV2 {
  const method = options.method ?? 'POST';
  const path = options.path ?? '/qlik/jwt';
  return {
    version: '2.0',
    routeKey: `${method} ${path}`,
    rawPath: path,
    rawQueryString: options.query ? new URLSearchParams(options.query).toString() : '',
    headers: {
      'content-type': 'application/json',
      ...(options.claims !== undefined
        ? { authorization: authorizationValue(callerToken(options.claims), options.authorization) }
        : {}),
      ...options.headers,
    },
    ...(options.query ? { queryStringParameters: options.query } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'test',
      domainName: 'test.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'test',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: 'req-1',
      routeKey: `${method} ${path}`,
      stage: '$default',
      time: '21/Nov/2026:12:00:00 +0000',
      timeEpoch: 1795262400000,
      ...(options.claims ? { authorizer: { jwt: { claims: apiGatewayClaims(options.claims), scopes: null } } } : {}),
    },
    ...(options.body !== undefined ? { body: options.body } : {}),
    isBase64Encoded: options.isBase64Encoded ?? false,
  } as APIGatewayProxyEventV2;
}

/** A minimal Lambda context. */
export function lambdaContext(): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'test',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:test',
    memoryLimitInMB: '512',
    awsRequestId: 'req-1',
    logGroupName: '/aws/lambda/test',
    logStreamName: 'test',
    getRemainingTimeInMillis: () => 10_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
