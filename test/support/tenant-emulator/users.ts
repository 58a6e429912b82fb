/**
 * The tenant's user directory and the user endpoints:
 * - `GET /api/v1/users/me` (bearer access token or session cookie) returns the signed-in user
 *   (qlik-auth.md: "GET /api/v1/users/me returns the user (id, tenantId, subject, name, email, roles, groups …)").
 * - `GET /api/v1/users?filter=subject eq "…"` and `POST /api/v1/users` (admin scope), which Qlik's
 *   impersonation reference backend uses to look a user up and create it before impersonating it.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseJson, readBody, sendJson, sendQlikError } from './http.js';

/** A user as `GET /api/v1/users/me` returns it. */
export interface EmulatedUser {
  readonly id: string;
  readonly tenantId: string;
  /** Qlik's subject: the JWT `sub` for JWT users, the lookup key for impersonation. */
  readonly subject: string;
  name: string;
  email: string;
  roles: string[];
  groups: string[];
  status: 'active' | 'disabled' | 'invited';
}

/** What a test gives to seed a user; id is generated when absent. */
export interface UserSeed {
  readonly id?: string;
  readonly subject: string;
  readonly name?: string;
  readonly email?: string;
  readonly roles?: readonly string[];
  readonly groups?: readonly string[];
  readonly status?: EmulatedUser['status'];
}

/** In-memory users of one tenant. */
export class UserDirectory {
  readonly #byId = new Map<string, EmulatedUser>();

  constructor(readonly tenantId: string) {}

  /** Adds (or replaces, same subject) a user and returns it. */
  add(seed: UserSeed): EmulatedUser {
    const existing = this.bySubject(seed.subject);
    if (existing) this.#byId.delete(existing.id);
    const user: EmulatedUser = {
      // Qlik user IDs are 24 hex characters (Mongo-style object IDs).
      id: seed.id ?? randomBytes(12).toString('hex'),
      tenantId: this.tenantId,
      subject: seed.subject,
      name: seed.name ?? seed.subject,
      email: seed.email ?? '',
      roles: [...(seed.roles ?? [])],
      groups: [...(seed.groups ?? [])],
      status: seed.status ?? 'active',
    };
    this.#byId.set(user.id, user);
    return user;
  }

  byId(id: string): EmulatedUser | undefined {
    return this.#byId.get(id);
  }

  bySubject(subject: string): EmulatedUser | undefined {
    for (const user of this.#byId.values()) if (user.subject === subject) return user;
    return undefined;
  }

  /** Every user, in insertion order. */
  list(): EmulatedUser[] {
    return [...this.#byId.values()];
  }
}

/** Who is calling an `/api/v1/*` endpoint. */
export type Principal =
  | { readonly kind: 'user'; readonly user: EmulatedUser; readonly via: 'access-token' | 'session' }
  | { readonly kind: 'client'; readonly clientId: string; readonly scopes: ReadonlySet<string> }
  | { readonly kind: 'api-key' };

/** The scope that makes a client_credentials token an admin token (Qlik's M2M admin scope). */
export const ADMIN_SCOPE = 'admin_classic';

/** True when the principal may call admin endpoints (users create/list, identity providers). */
export function isAdmin(principal: Principal | undefined): boolean {
  if (principal === undefined) return false;
  if (principal.kind === 'api-key') return true;
  if (principal.kind === 'client') return principal.scopes.has(ADMIN_SCOPE);
  return principal.user.roles.includes('TenantAdmin');
}

/** Answers 401/403 for a missing or non-admin principal; returns true when the caller may proceed. */
export function requireAdmin(response: ServerResponse, principal: Principal | undefined): boolean {
  if (principal === undefined) {
    sendQlikError(response, 401, 'HTTP-401', 'Unauthorized', 'A valid bearer token or API key is required.');
    return false;
  }
  if (!isAdmin(principal)) {
    sendQlikError(response, 403, 'HTTP-403', 'Forbidden', `This endpoint needs an admin token (scope ${ADMIN_SCOPE}).`);
    return false;
  }
  return true;
}

const SUBJECT_FILTER = /^\s*subject\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$/;

/** Serves the user endpoints; returns false for other paths. */
export async function userRoutes(
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
  directory: UserDirectory,
  principal: Principal | undefined,
): Promise<boolean> {
  if (url.pathname === '/api/v1/users/me' && request.method === 'GET') {
    if (principal?.kind !== 'user') {
      sendQlikError(response, 401, 'HTTP-401', 'Unauthorized', 'Sign in first (bearer access token or session).');
      return true;
    }
    sendJson(response, 200, principal.user);
    return true;
  }
  if (url.pathname === '/api/v1/users' && request.method === 'GET') {
    if (!requireAdmin(response, principal)) return true;
    const filter = url.searchParams.get('filter');
    let users = directory.list();
    if (filter !== null) {
      const match = SUBJECT_FILTER.exec(filter);
      if (!match) {
        sendQlikError(response, 400, 'HTTP-400', 'Bad Request', 'The emulator understands only filter=subject eq "…".');
        return true;
      }
      const subject = (match[1] ?? '').replace(/\\(.)/g, '$1');
      users = users.filter((user) => user.subject === subject);
    }
    sendJson(response, 200, { data: users, links: { self: { href: url.href } } });
    return true;
  }
  if (url.pathname === '/api/v1/users' && request.method === 'POST') {
    if (!requireAdmin(response, principal)) return true;
    const body = parseJson(await readBody(request)) as Record<string, unknown> | undefined;
    const subject = body?.subject;
    if (typeof subject !== 'string' || subject.trim() === '') {
      sendQlikError(response, 400, 'HTTP-400', 'Bad Request', 'subject is required.');
      return true;
    }
    if (directory.bySubject(subject)) {
      sendQlikError(response, 409, 'HTTP-409', 'Conflict', 'A user with this subject exists.');
      return true;
    }
    const user = directory.add({
      subject,
      ...(typeof body?.name === 'string' ? { name: body.name } : {}),
      ...(typeof body?.email === 'string' ? { email: body.email } : {}),
    });
    sendJson(response, 201, user);
    return true;
  }
  return false;
}
