/**
 * Extracts the verified caller's claims from an API Gateway HTTP API event (JWT authorizer).
 */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { UnauthenticatedCallerError } from '../errors.js';
import { headerValue } from '../http/lambda-http.js';
import type { CallerClaims } from './mapping.js';

type MaybeJwtAuthorizer = { jwt?: { claims?: Record<string, unknown> } };

function decodeBearerPayload(authorization: string | undefined): Record<string, unknown> | undefined {
  const match = authorization?.match(/^Bearer\s+([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]*$/);
  if (!match?.[2]) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(match[2], 'base64url').toString('utf8'));
    return typeof payload === 'object' && payload !== null && !Array.isArray(payload)
      ? (payload as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The caller's verified claims. API Gateway flattens array claims to `"[a b]"`, which loses group
 * names containing spaces; when the bearer token in the request is the very token the authorizer
 * verified (same iss, sub, iat and exp), its array claims are taken from it instead.
 * @throws UnauthenticatedCallerError when the event carries no authorizer claims.
 */
export function callerClaimsFrom(event: APIGatewayProxyEventV2): CallerClaims {
  const claims = (event.requestContext as { authorizer?: MaybeJwtAuthorizer }).authorizer?.jwt?.claims;
  if (claims === undefined || claims === null || Object.keys(claims).length === 0)
    throw new UnauthenticatedCallerError();
  const token = decodeBearerPayload(headerValue(event, 'authorization'));
  if (token === undefined) return claims;
  const same = (name: string) => token[name] !== undefined && String(token[name]) === String(claims[name]);
  if (!(same('iss') && same('sub') && same('iat') && same('exp'))) return claims;
  const merged: Record<string, unknown> = { ...claims };
  for (const [name, value] of Object.entries(token)) if (Array.isArray(value) && name in claims) merged[name] = value;
  return merged;
}
