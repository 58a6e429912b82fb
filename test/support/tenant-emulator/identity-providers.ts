/**
 * The tenant's identity providers (`/api/v1/identity-providers`), JWT ones only: what `qtv idp push`
 * and key rotation talk to. Rules from qlik-auth.md ("JWT identity provider", citing qlik.dev
 * https://qlik.dev/apis/rest/identity-providers/):
 * - body shape `{tenantIds, provider: "external", protocol: "jwtAuth", interactive: false, active,
 *   description, clockToleranceSec, options: {jwtLoginEnabled, issuer, staticKeys: [{kid, pem}]}}`;
 * - "Limited to 1 key per identity provider";
 * - PATCH cannot change the key or the issuer;
 * - `pem` may be a certificate (console example) or a `BEGIN PUBLIC KEY` PEM (a Qlik sample).
 * Assumption (undocumented by Qlik): several JWT IdPs may be active at once, so rotation can overlap.
 */
import { createPublicKey, type KeyObject, randomBytes, X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { parseJson, readBody, sendJson, sendQlikError } from './http.js';
import { type Principal, requireAdmin } from './users.js';

/** A JWT identity provider as the API returns it. */
export interface JwtIdentityProvider {
  readonly id: string;
  readonly tenantIds: string[];
  readonly provider: 'external';
  readonly protocol: 'jwtAuth';
  readonly interactive: false;
  active: boolean;
  description: string;
  clockToleranceSec: number;
  readonly options: {
    jwtLoginEnabled: boolean;
    readonly issuer: string;
    readonly staticKeys: { kid: string; pem: string }[];
  };
  readonly created: string;
  lastUpdated: string;
}

/** What a test gives to add a JWT IdP directly (bypassing the API). */
export interface JwtIdpSeed {
  readonly issuer: string;
  readonly kid: string;
  /** Certificate PEM or `BEGIN PUBLIC KEY` PEM (RSA). */
  readonly pem: string;
  readonly clockToleranceSec?: number;
  readonly active?: boolean;
  readonly description?: string;
}

const ONE_LINE_PEM = /^-----BEGIN ([A-Z ]+)-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END \1-----\s*$/;

/**
 * Parses an RSA public key from a certificate or public-key PEM. Qlik's console asks to paste the
 * PEM "with no stray line breaks", and API bodies often carry it on one line: re-wrap before parsing.
 * @throws Error with a plain message when the PEM is not an RSA certificate or public key.
 */
export function publicKeyFromPem(pem: string): KeyObject {
  const match = ONE_LINE_PEM.exec(pem.trim());
  if (!match) throw new Error('pem must be a PEM certificate or public key');
  const label = match[1];
  if (label !== 'CERTIFICATE' && label !== 'PUBLIC KEY') throw new Error(`pem must not be a ${label}`);
  const base64 = (match[2] ?? '').replace(/\s+/g, '');
  const wrapped = `-----BEGIN ${label}-----\n${base64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
  const key = label === 'CERTIFICATE' ? new X509Certificate(wrapped).publicKey : createPublicKey(wrapped);
  // Qlik's JWT IdP verifies RS256 only (qlik.dev "Create signed tokens for JWT authorization").
  if (key.asymmetricKeyType !== 'rsa') throw new Error('pem must hold an RSA key: Qlik verifies RS256 only');
  return key;
}

const createSchema = z.strictObject({
  tenantIds: z.array(z.string()).optional(),
  provider: z.literal('external'),
  protocol: z.literal('jwtAuth'),
  interactive: z.literal(false).optional(),
  active: z.boolean().default(true),
  description: z.string().default(''),
  clockToleranceSec: z.number().int().min(0).max(3600).default(0),
  options: z.strictObject({
    jwtLoginEnabled: z.boolean().default(true),
    issuer: z.string().min(1),
    // "Limited to 1 key per identity provider" (qlik-auth.md).
    staticKeys: z
      .array(z.strictObject({ kid: z.string().min(1), pem: z.string().min(1) }))
      .length(1, 'Limited to 1 key per identity provider'),
  }),
});

/** The tenant's JWT identity providers, with parsed keys for `/login/jwt-session`. */
export class IdentityProviderRegistry {
  readonly #idps = new Map<string, JwtIdentityProvider>();
  readonly #keys = new Map<string, KeyObject>();

  constructor(
    private readonly tenantId: string,
    private readonly now: () => Date,
  ) {}

  /** Adds a JWT IdP; throws Error (plain message) on a bad key. */
  add(seed: JwtIdpSeed): JwtIdentityProvider {
    const key = publicKeyFromPem(seed.pem);
    const at = this.now().toISOString();
    const idp: JwtIdentityProvider = {
      id: randomBytes(12).toString('hex'),
      tenantIds: [this.tenantId],
      provider: 'external',
      protocol: 'jwtAuth',
      interactive: false,
      active: seed.active ?? true,
      description: seed.description ?? '',
      clockToleranceSec: seed.clockToleranceSec ?? 0,
      options: { jwtLoginEnabled: true, issuer: seed.issuer, staticKeys: [{ kid: seed.kid, pem: seed.pem }] },
      created: at,
      lastUpdated: at,
    };
    this.#idps.set(idp.id, idp);
    this.#keys.set(idp.id, key);
    return idp;
  }

  get(id: string): JwtIdentityProvider | undefined {
    return this.#idps.get(id);
  }

  list(): JwtIdentityProvider[] {
    return [...this.#idps.values()];
  }

  delete(id: string): boolean {
    this.#keys.delete(id);
    return this.#idps.delete(id);
  }

  /** Active, JWT-login-enabled IdPs whose key has this kid, with their parsed keys. */
  forKid(kid: string): { idp: JwtIdentityProvider; key: KeyObject }[] {
    const found: { idp: JwtIdentityProvider; key: KeyObject }[] = [];
    for (const idp of this.#idps.values()) {
      const key = this.#keys.get(idp.id);
      if (idp.active && idp.options.jwtLoginEnabled && key && idp.options.staticKeys[0]?.kid === kid)
        found.push({ idp, key });
    }
    return found;
  }
}

// Fields PATCH may change: https://qlik.dev/apis/rest/identity-providers documents `op: replace` on
// `/description` only (qlik-auth.md, "Documented vs. guessed"); key and issuer are refused with a message of
// their own ("PATCH cannot change key or issuer"), every other path as unsupported.
const PATCHABLE = new Set(['/description']);
const IMMUTABLE = new Set(['/options/issuer', '/options/staticKeys', '/protocol', '/provider', '/id', '/tenantIds']);

/** Normalises a PATCH body (JSON Patch array, as Qlik's APIs use, or a merge object) to JSON Patch ops. */
function patchOperations(body: unknown): { op: string; path: string; value: unknown }[] | undefined {
  if (Array.isArray(body)) {
    return body.every((op) => op && typeof op.op === 'string' && typeof op.path === 'string') ? body : undefined;
  }
  if (body === null || typeof body !== 'object') return undefined;
  const ops: { op: string; path: string; value: unknown }[] = [];
  for (const [key, value] of Object.entries(body)) {
    if (key === 'options' && value && typeof value === 'object') {
      for (const [sub, subValue] of Object.entries(value))
        ops.push({ op: 'replace', path: `/options/${sub}`, value: subValue });
    } else ops.push({ op: 'replace', path: `/${key}`, value });
  }
  return ops;
}

const PATCH_VALUE_OK: Record<string, (value: unknown) => boolean> = {
  '/description': (v) => typeof v === 'string',
};

const PATH = /^\/api\/v1\/identity-providers(?:\/([^/]+))?$/;

/** Serves `/api/v1/identity-providers[/{id}]`; returns false for other paths. */
export async function identityProviderRoutes(
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
  registry: IdentityProviderRegistry,
  principal: Principal | undefined,
  now: () => Date,
): Promise<boolean> {
  const match = PATH.exec(url.pathname);
  if (!match) return false;
  if (!requireAdmin(response, principal)) return true;
  const id = match[1];
  const bad = (detail: string) => sendQlikError(response, 400, 'IDENTITY-PROVIDERS-400', 'Bad Request', detail);
  if (id === undefined) {
    if (request.method === 'GET') {
      sendJson(response, 200, { data: registry.list() });
      return true;
    }
    if (request.method === 'POST') {
      const parsed = createSchema.safeParse(parseJson(await readBody(request)));
      if (!parsed.success) {
        bad(parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
        return true;
      }
      const { options, ...rest } = parsed.data;
      const key = options.staticKeys[0]!;
      // Qlik's automation example "identity-provider-create": the pem must be on a single line.
      if (/[\r\n]/.test(key.pem)) {
        bad('options.staticKeys.0.pem: the pem must be on a single line.');
        return true;
      }
      try {
        const idp = registry.add({
          issuer: options.issuer,
          kid: key.kid,
          pem: key.pem,
          active: rest.active,
          description: rest.description,
          clockToleranceSec: rest.clockToleranceSec,
        });
        idp.options.jwtLoginEnabled = options.jwtLoginEnabled;
        sendJson(response, 201, idp);
      } catch (error) {
        bad(`options.staticKeys.0.pem: ${(error as Error).message}`);
      }
      return true;
    }
    sendQlikError(response, 405, 'HTTP-405', 'Method Not Allowed', 'Use GET or POST.');
    return true;
  }
  const idp = registry.get(id);
  if (!idp) {
    sendQlikError(response, 404, 'IDENTITY-PROVIDERS-404', 'Not Found', 'No identity provider with this id.');
    return true;
  }
  if (request.method === 'GET') {
    sendJson(response, 200, idp);
    return true;
  }
  if (request.method === 'DELETE') {
    registry.delete(id);
    response.writeHead(204).end();
    return true;
  }
  if (request.method === 'PATCH') {
    const ops = patchOperations(parseJson(await readBody(request)));
    if (!ops) {
      bad('Send a JSON Patch array, e.g. [{"op":"replace","path":"/active","value":false}].');
      return true;
    }
    for (const op of ops) {
      if (IMMUTABLE.has(op.path) || op.path.startsWith('/options/staticKeys')) {
        bad(`${op.path} cannot be changed: create a new identity provider for a new key or issuer.`);
        return true;
      }
      if (op.op !== 'replace' || !PATCHABLE.has(op.path) || !PATCH_VALUE_OK[op.path]?.(op.value)) {
        bad(`Unsupported patch: ${op.op} ${op.path}.`);
        return true;
      }
    }
    for (const op of ops) if (op.path === '/description') idp.description = op.value as string;
    idp.lastUpdated = now().toISOString();
    sendJson(response, 200, idp);
    return true;
  }
  sendQlikError(response, 405, 'HTTP-405', 'Method Not Allowed', 'Use GET, PATCH or DELETE.');
  return true;
}
