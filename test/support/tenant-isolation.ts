/**
 * The multi-tenant isolation property: generated callers (each bound by its verified claim to one or more
 * tenants), generated tenant choices (their own, another tenant's, look-alikes of either: case, spaces,
 * zero-width and control characters, flattened lists, prototype names), and the oracle every answer is
 * checked against. Shared by the core-level test and the HTTP-level one.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { MemorySecretStore } from '../../functions/secrets/secret-source.js';
import { MemoryTenantStore } from '../../functions/tenancy/store.js';
import type { TenantItem } from '../../functions/tenancy/tenant.js';
import { httpEvent } from './events.js';
import { decodeJwt, pkcs8Pem, verifyWithJsonwebtoken } from './keys.js';
import { tenantItem } from './tenants.js';

/** The claim that names a caller's tenants in these tests. */
export const TENANT_CLAIM = 'custom:tenants';

/** One tenant of the fixture. */
export interface FixtureTenant {
  readonly id: string;
  readonly item: TenantItem;
  /** Public key its tokens must verify with (the shared key for tenants on it). */
  readonly publicKeyPem: string;
  readonly ownKey: boolean;
}

/** Five tenants with their own keys, two on the shared key, one suspended. */
export function isolationFixture() {
  const pair = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
  const spki = (key: KeyObject) => key.export({ format: 'pem', type: 'spki' }).toString();
  const shared = pair();
  const secrets = new MemorySecretStore();
  const tenants: FixtureTenant[] = [];
  for (const id of ['acme', 'Acme', 'globex', 'initech', 'umbrella-1']) {
    const keys = pair();
    secrets.set(`qtv/tenants/${id}`, JSON.stringify({ privateKey: pkcs8Pem(keys.privateKey), kid: `${id}-kid` }));
    tenants.push({ id, item: tenantItem(id), publicKeyPem: spki(keys.publicKey), ownKey: true });
  }
  for (const id of ['hooli', 'piedpiper']) {
    tenants.push({
      id,
      item: tenantItem(id, { signing: { backend: 'shared' } }),
      publicKeyPem: spki(shared.publicKey),
      ownKey: false,
    });
  }
  const suspended = tenantItem('stark', { status: 'suspended' });
  const store = new MemoryTenantStore([...tenants.map((t) => t.item), suspended]);
  return {
    tenants,
    secrets,
    store,
    sharedPrivateKeyPem: pkcs8Pem(shared.privateKey),
    registered: [...tenants.map((t) => t.id), 'stark'],
  };
}

/** Look-alikes of a tenant ID: each must be a different tenant (or none), never the original. */
function lookAlikes(id: string): string[] {
  return [
    id.toUpperCase(),
    id.toLowerCase(),
    ` ${id}`,
    `${id} `,
    `${id}\u200b`,
    `\ufeff${id}`,
    `${id}\u0000`,
    `${id}\u00a0`,
    `${id}/`,
    `${id},globex`,
    `[${id}]`,
    `[${id} globex]`,
    id.normalize('NFKD'),
  ].filter((v) => v !== id);
}

/** A generated request: the caller's claims and what it tries in body, query and headers. */
export interface IsolationRequest {
  readonly claim: unknown;
  readonly sub: string;
  /** `tenant` in the body (absent when undefined). */
  readonly bodyTenant: string | undefined;
  /** Tenant names smuggled where the service must not look. */
  readonly queryTenant: string;
  readonly headerTenant: string;
}

/** Arbitrary requests over `ids` (registered tenant IDs) plus unknown ones. */
export function isolationRequests(ids: readonly string[]) {
  const known = fc.constantFrom(...ids);
  const tricky = fc.oneof(
    known,
    known.chain((id) => fc.constantFrom(...lookAlikes(id))),
    fc.constantFrom('nobody', '__proto__', 'constructor', 'toString', '', '*', '%', 'stark'),
    fc.string({ maxLength: 12 }),
  );
  const claim = fc.oneof(
    { weight: 5, arbitrary: known },
    { weight: 3, arbitrary: fc.uniqueArray(known, { minLength: 1, maxLength: 4 }) },
    { weight: 2, arbitrary: tricky },
    { weight: 1, arbitrary: fc.uniqueArray(tricky, { minLength: 0, maxLength: 3 }) },
    { weight: 1, arbitrary: fc.constantFrom(undefined, null, 42, true, { id: 'acme' }, ['acme', 7]) },
  );
  return claim.chain((claimValue) => {
    const granted = grantedBy(claimValue);
    // The body's choice: often none or one of the caller's own tenants (so many tokens are issued), often a trick.
    const bodyTenant = fc.oneof(
      { weight: 4, arbitrary: fc.constant(undefined) },
      {
        weight: granted.length > 0 ? 3 : 0,
        arbitrary: granted.length > 0 ? fc.constantFrom(...granted) : fc.constant(undefined),
      },
      { weight: 3, arbitrary: tricky },
    );
    return fc.record({
      claim: fc.constant(claimValue),
      sub: fc.constantFrom('alice', 'bob', 'carol', 'admin', 'demo-user'),
      bodyTenant,
      queryTenant: tricky,
      headerTenant: tricky,
    });
  }) as fc.Arbitrary<IsolationRequest>;
}

/** Tenants the caller's verified claim grants (what the oracle allows), exactly as the service must read it. */
export function grantedBy(claim: unknown): string[] {
  if (typeof claim === 'string') return claim === '' ? [] : [claim];
  if (Array.isArray(claim) && claim.length > 0 && claim.every((c) => typeof c === 'string' && c !== '')) return claim;
  return [];
}

/** Tallies of a run, reported by the tests. */
export interface IsolationTally {
  requests: number;
  tokens: number;
  refused: Record<string, number>;
  /** Tokens that verified with another tenant's key, carried another tenant's issuer, or went to a tenant outside the claim. */
  violations: string[];
}

export const newTally = (): IsolationTally => ({ requests: 0, tokens: 0, refused: {}, violations: [] });

/**
 * Checks one issued token against the oracle: the tenant it is for must be in the caller's claim (and be
 * the body's choice when one was made), its issuer and kid must be that tenant's, it must verify with that
 * tenant's key and with no other own-key tenant's key.
 */
export function checkToken(
  token: string,
  request: IsolationRequest,
  tenants: readonly FixtureTenant[],
  tally: IsolationTally,
): void {
  tally.tokens++;
  const { header, payload } = decodeJwt(token);
  const owner = tenants.find((t) => t.item.qlik.issuer === payload.iss);
  const granted = grantedBy(request.claim);
  const where = JSON.stringify(request);
  if (owner === undefined) return void tally.violations.push(`unknown issuer ${String(payload.iss)} for ${where}`);
  if (!granted.includes(owner.id)) tally.violations.push(`token for ${owner.id} outside the claim: ${where}`);
  if (request.bodyTenant !== undefined && request.bodyTenant !== owner.id)
    tally.violations.push(
      `token for ${owner.id} though the body chose ${JSON.stringify(request.bodyTenant)}: ${where}`,
    );
  if (request.bodyTenant === undefined && granted.length !== 1)
    tally.violations.push(`token without a choice among ${granted.length} tenants: ${where}`);
  const expectedKid = owner.ownKey ? `${owner.id}-kid` : owner.item.qlik.keyId;
  if (header.kid !== expectedKid) tally.violations.push(`kid ${String(header.kid)} on ${owner.id}'s token: ${where}`);
  try {
    verifyWithJsonwebtoken(token, owner.publicKeyPem);
  } catch {
    tally.violations.push(`${owner.id}'s token does not verify with its key: ${where}`);
  }
  for (const other of tenants) {
    if (other.id === owner.id || !other.ownKey || !owner.ownKey) continue;
    try {
      verifyWithJsonwebtoken(token, other.publicKeyPem);
      tally.violations.push(`${owner.id}'s token verifies with ${other.id}'s key: ${where}`);
    } catch {
      // expected: another tenant's key
    }
  }
}

/**
 * An API Gateway payload-2.0 event for a caller whose verified token carries `payload`: the authorizer's
 * claims as API Gateway passes them (strings; arrays flattened to `"[a b]"`, which cannot be split back) and
 * the token itself in `Authorization`, from which the function reads the claims with their JSON types.
 * The token's signature part is a placeholder: API Gateway verified it before the function runs.
 */
export function apiGatewayEvent(
  payload: Record<string, unknown>,
  options: { body?: unknown; query?: Record<string, string>; headers?: Record<string, string>; path?: string } = {},
) {
  const flattened: Record<string, string> = {};
  for (const [name, value] of Object.entries(payload)) {
    if (value === undefined) continue;
    flattened[name] = Array.isArray(value)
      ? `[${value.join(' ')}]`
      : typeof value === 'string'
        ? value
        : JSON.stringify(value);
  }
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const token = `${encode({ alg: 'RS256', kid: 'caller-idp', typ: 'JWT' })}.${encode(payload)}.c2lnbmF0dXJl`;
  return httpEvent({
    ...(options.path !== undefined ? { path: options.path } : {}),
    claims: flattened,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    ...(options.query !== undefined ? { query: options.query } : {}),
    headers: { ...options.headers, authorization: `Bearer ${token}` },
  });
}
