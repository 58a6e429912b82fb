/**
 * The verified caller's claims, with their JSON types, from an API Gateway HTTP API event (JWT authorizer).
 *
 * API Gateway hands a Lambda the claims as strings and flattens an array claim to `"[a b c]"`, which
 * cannot be split back (a group may be called `Finance Admins`). The function therefore never reads
 * identity from those strings: it reads the claims from the very token the authorizer verified, taken
 * from the identity source (`Authorization`), and binds it to what the authorizer passed (same `iss`,
 * `sub`, `iat`, `exp`, and `jti` where present). Anything else is refused (401), never guessed.
 *
 * Identity source forms: AWS documents that "the identitySource can include only the token, or the token
 * prefixed with Bearer" (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html,
 * "Authorizing API requests with a JWT authorizer", step 1). AWS does not say whether the scheme's case
 * matters; RFC 9110 §11.1 makes auth schemes case-insensitive, so every case of `Bearer` is read here, and
 * the dev server's stand-in can be switched between both answers (docs/security.md).
 */
import { isUtf8 } from 'node:buffer';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { UnauthenticatedCallerError } from '../errors.js';
import { headerValue } from '../http/lambda-http.js';
import type { CallerClaims } from './mapping.js';

type MaybeJwtAuthorizer = { jwt?: { claims?: Record<string, unknown> } };

/**
 * `Authorization` as API Gateway's JWT authorizer accepts it: a compact JWS, optionally after `Bearer` and
 * whitespace (RFC 9110 §11.4: the scheme, then 1*SP; tabs and extra spaces are tolerated here because
 * reading is harmless: the binding below decides). Surrounding OWS is not part of a field value (RFC 9110 §5.5).
 */
const IDENTITY_SOURCE =
  /^[ \t]*(?:[Bb][Ee][Aa][Rr][Ee][Rr][ \t]+)?([A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)\.[A-Za-z0-9_-]*)[ \t]*$/;

/** The claims the authorizer verified that bind the header's token to it. */
const BINDING_CLAIMS = ['iss', 'sub', 'iat', 'exp', 'jti'] as const;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The compact JWS in an `Authorization` value, in any form API Gateway accepts; undefined otherwise. */
export function tokenFromAuthorization(authorization: string | undefined): string | undefined {
  // Group 1 is the token itself: the regex leaves no whitespace inside it, only around it and after `Bearer`.
  return authorization === undefined ? undefined : IDENTITY_SOURCE.exec(authorization)?.[1];
}

/**
 * Decodes a JWS payload segment with its JSON types. Bytes that are not UTF-8 are refused rather than
 * replaced with U+FFFD, which would make different claim values equal.
 */
function decodePayload(payload: string): Record<string, unknown> | undefined {
  const bytes = Buffer.from(payload, 'base64url');
  // `isUtf8` + `toString` is the fatal decoder's answer at half its cost per token; a payload that starts
  // with a byte-order mark still goes through the decoder, which drops the mark as it always did.
  let text: string | undefined;
  if (bytes[0] !== 0xef) {
    if (!isUtf8(bytes)) return undefined;
    text = bytes.toString('utf8');
  }
  try {
    const value: unknown = JSON.parse(text ?? utf8.decode(bytes));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** True when `record` has an own enumerable key (as `Object.keys(record).length > 0`, without the array). */
function hasOwnKey(record: object): boolean {
  for (const key in record) if (Object.hasOwn(record, key)) return true;
  return false;
}

/** How API Gateway passes a string or number claim: as its text. */
function asPassed(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/**
 * The caller's verified claims with their JSON types.
 * @throws UnauthenticatedCallerError (401) when the event carries no authorizer claims, the identity source
 *   holds no token in a form API Gateway accepts, or that token is not the one the authorizer verified.
 */
export function callerClaimsFrom(event: APIGatewayProxyEventV2): CallerClaims {
  const verified = (event.requestContext as { authorizer?: MaybeJwtAuthorizer }).authorizer?.jwt?.claims;
  if (verified === undefined || verified === null || !hasOwnKey(verified)) throw new UnauthenticatedCallerError();
  const authorization = headerValue(event, 'authorization');
  const match = authorization === undefined ? null : IDENTITY_SOURCE.exec(authorization);
  if (match === null)
    throw new UnauthenticatedCallerError(
      'The Authorization header holds no caller token in a form the JWT authorizer accepts ("Bearer <token>" or the bare token).',
    );
  // Group 2 is the token's payload segment: read in place, without splitting the token again.
  const claims = decodePayload(match[2]!);
  if (claims === undefined)
    throw new UnauthenticatedCallerError('The caller token payload is not a UTF-8 JSON object.');
  for (const name of BINDING_CLAIMS) {
    const raw = Object.hasOwn(claims, name) ? claims[name] : undefined;
    // A claim of another JSON type (object, array, boolean) has a flattened form AWS does not document, so
    // only its presence is compared; the identity rules refuse it if it is used (403, json-string).
    const comparable = raw === undefined || asPassed(raw) !== undefined;
    const inToken = comparable ? asPassed(raw) : 'present';
    const inAuthorizer = Object.hasOwn(verified, name)
      ? comparable
        ? asPassed(verified[name])
        : 'present'
      : undefined;
    if (inToken !== inAuthorizer)
      throw new UnauthenticatedCallerError(
        `The caller token in the Authorization header is not the token the authorizer verified (claim ${name} differs).`,
      );
  }
  return claims;
}
