/**
 * The tenant's user directory and the user endpoints:
 * - `GET /api/v1/users/me` (bearer access token or session cookie) returns the signed-in user
 *   (qlik-auth.md: "GET /api/v1/users/me returns the user (id, tenantId, subject, name, email, roles, groups …)").
 * - `GET /api/v1/users?filter=…` and `POST /api/v1/users` (admin scope), which Qlik's impersonation
 *   reference backend uses to look a user up and create it before impersonating it. The filter follows
 *   https://qlik.dev/apis/rest/users: RFC 7644 §3.4.2.2 syntax; `eq` on id, subject, name, email, status;
 *   `co` on name, email, subject; `and`, `or`, `not` and parentheses; "All conditional statements within this
 *   query parameter are case insensitive". Other attributes and operators answer 400 here (Qlik documents
 *   more eq attributes, e.g. assignedRoles.name, that the emulator does not model).
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

/** A parsed filter: a predicate over a user. */
type UserPredicate = (user: EmulatedUser) => boolean;

const EQ_ATTRIBUTES = new Set(['id', 'subject', 'name', 'email', 'status']);
const CO_ATTRIBUTES = new Set(['name', 'email', 'subject']);

/** The filter could not be parsed or uses what the emulator does not support. */
export class FilterError extends Error {}

/**
 * Parses an RFC 7644 filter over the attributes Qlik documents for `/api/v1/users`. Comparisons are case
 * insensitive, as Qlik documents (RFC 7644 leaves it to the attribute's `caseExact`).
 */
export function parseUserFilter(filter: string): UserPredicate {
  const tokens = tokenize(filter);
  let position = 0;
  const peek = () => tokens[position];
  const next = () => tokens[position++];
  const keyword = (word: string) => {
    const token = peek();
    if (token?.kind === 'word' && token.value.toLowerCase() === word) {
      position += 1;
      return true;
    }
    return false;
  };
  function orExpression(): UserPredicate {
    let left = andExpression();
    while (keyword('or')) {
      const l = left;
      const r = andExpression();
      left = (user) => l(user) || r(user);
    }
    return left;
  }
  function andExpression(): UserPredicate {
    let left = unary();
    while (keyword('and')) {
      const l = left;
      const r = unary();
      left = (user) => l(user) && r(user);
    }
    return left;
  }
  function unary(): UserPredicate {
    if (keyword('not')) {
      const inner = group();
      return (user) => !inner(user);
    }
    return peek()?.kind === '(' ? group() : comparison();
  }
  function group(): UserPredicate {
    if (next()?.kind !== '(') throw new FilterError('expected "("');
    const inner = orExpression();
    if (next()?.kind !== ')') throw new FilterError('expected ")"');
    return inner;
  }
  function comparison(): UserPredicate {
    const attribute = next();
    const operator = next();
    const value = next();
    if (attribute?.kind !== 'word' || operator?.kind !== 'word' || value?.kind !== 'string')
      throw new FilterError('expected <attribute> <operator> "<value>"');
    const name = attribute.value;
    const op = operator.value.toLowerCase();
    const allowed = op === 'eq' ? EQ_ATTRIBUTES : op === 'co' ? CO_ATTRIBUTES : undefined;
    if (allowed === undefined) throw new FilterError(`operator ${operator.value} is not supported`);
    if (!allowed.has(name)) throw new FilterError(`${name} does not support ${op}`);
    const wanted = value.value.toLowerCase();
    return (user) => {
      const actual = String(user[name as keyof EmulatedUser] ?? '').toLowerCase();
      return op === 'eq' ? actual === wanted : actual.includes(wanted);
    };
  }
  const predicate = orExpression();
  if (position !== tokens.length) throw new FilterError('unexpected text after the filter');
  return predicate;
}

type Token = { kind: '(' | ')' } | { kind: 'word'; value: string } | { kind: 'string'; value: string };

function tokenize(filter: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < filter.length) {
    const c = filter[i]!;
    if (/\s/.test(c)) i += 1;
    else if (c === '(' || c === ')') {
      tokens.push({ kind: c });
      i += 1;
    } else if (c === '"') {
      let value = '';
      i += 1;
      while (i < filter.length && filter[i] !== '"') {
        if (filter[i] === '\\') i += 1;
        value += filter[i] ?? '';
        i += 1;
      }
      if (filter[i] !== '"') throw new FilterError('unterminated string');
      i += 1;
      tokens.push({ kind: 'string', value });
    } else {
      const match = /^[A-Za-z][A-Za-z0-9_.]*/.exec(filter.slice(i));
      if (!match) throw new FilterError(`unexpected character ${c}`);
      tokens.push({ kind: 'word', value: match[0] });
      i += match[0].length;
    }
  }
  return tokens;
}

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
      let predicate: UserPredicate;
      try {
        predicate = parseUserFilter(filter);
      } catch (error) {
        sendQlikError(response, 400, 'HTTP-400', 'Bad Request', `Invalid filter: ${(error as Error).message}.`);
        return true;
      }
      users = users.filter(predicate);
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
