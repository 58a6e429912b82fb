/**
 * Hostile identity claims: claim values of every shape (strings, "[a b]" strings, arrays, numbers,
 * objects, Object.prototype names) against the identity mapping and the /qlik/jwt handler.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdentityNotMappableError } from '../../../functions/errors.js';
import {
  type CallerClaims,
  mapCallerIdentity,
  type ResolvedIdentityMapping,
  resolveIdentityMapping,
} from '../../../functions/identity/mapping.js';
import { buildQlikClaims, checkQlikToken, qlikRejections } from '../../../functions/qlik/claims.js';
import { createHandler } from '../../../functions/qlik-jwt/handler.js';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { type ConfigInput, parseConfig } from '../../../functions/runtime/config.js';
import { createRuntime } from '../../../functions/runtime/wiring.js';
import { signingKeyFromSecret } from '../../../functions/signing/signing-key.js';
import { httpEvent, lambdaContext } from '../../support/events.js';
import { callerClaims, PROTOTYPE_NAMES, plausibleCallerClaims, RUNS } from '../../support/hostile.js';
import { pkcs8Pem, rsaKeyPair, verifyWithJsonwebtoken } from '../../support/keys.js';
import { capturingLogger } from '../../support/logs.js';

const NOW_MS = Date.UTC(2026, 10, 21, 12, 0, 0);
const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function mappingFor(identity: ConfigInput['identity']): ResolvedIdentityMapping {
  return resolveIdentityMapping(
    parseConfig({
      qlik: { issuer: 'https://qtv.example' },
      signing: { backend: 'file', privateKeyPath: 'k' },
      identity,
    }).identity,
  );
}

const MAPPINGS: Array<[string, ResolvedIdentityMapping]> = [
  ['generic preset', mappingFor({ preset: 'generic' })],
  [
    'prefix filter, group map, cap and per-user overrides',
    mappingFor({
      preset: 'generic',
      groups: { requirePrefix: 'qlik-', stripPrefix: true, map: { 'g-1': 'qlik-Sales' }, max: 3 },
      overrides: { alice: { name: 'Alice Override', groups: ['Override'] }, bob: { sub: 'robert' } },
    }),
  ],
  [
    'Entra ID, only mapped groups, email always verified',
    mappingFor({
      preset: 'entra-id',
      emailVerified: 'always-true',
      groups: { onlyMapped: true, map: { 'g-1': 'Sales', 'g-2': 'Finance' }, allow: ['Sales'] },
    }),
  ],
  ['Cognito preset', mappingFor({ preset: 'cognito' })],
];

/** An independent model of the identity rules (docs/identity-mapping.md, "Exact or refused"). */
const BROKEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]|^\s|\s$/u;
const REFUSED = Symbol('refused');

/** A scalar identity claim: undefined when absent, REFUSED when present but not usable exactly. */
function exact(value: unknown): string | undefined | typeof REFUSED {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || BROKEN.test(value)) return REFUSED;
  return value;
}

/** The generic preset's groups, modelled: an array of strings or one string, exactly; de-duplicated; capped. */
function exactGroups(value: unknown, max: number): string[] | typeof REFUSED {
  if (value === undefined || value === null || value === '') return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.some((g) => typeof g !== 'string')) return REFUSED;
  const kept = [...new Set((list as string[]).filter((g) => g !== ''))];
  if (kept.some((g) => BROKEN.test(g))) return REFUSED;
  return kept.slice(0, max);
}

function mapOrRefuse(claims: CallerClaims, mapping: ResolvedIdentityMapping) {
  try {
    return mapCallerIdentity(claims, mapping);
  } catch (error) {
    // The only acceptable failure is the typed 403; anything else would be a 500.
    if (!(error instanceof IdentityNotMappableError)) throw error;
    return undefined;
  }
}

describe('Function: mapCallerIdentity (hostile claims)', () => {
  it.each(MAPPINGS)(
    'with the %s, either refuses with IdentityNotMappableError or gives an identity Qlik accepts',
    (_name, mapping) => {
      fc.assert(
        fc.property(callerClaims, (claims) => {
          const identity = mapOrRefuse(claims, mapping);
          if (identity === undefined) return;
          expect(typeof identity.sub).toBe('string');
          expect(identity.groups.every((g) => typeof g === 'string' && g.trim() !== '')).toBe(true);
          expect(new Set(identity.groups).size).toBe(identity.groups.length);
          expect(identity.groups.length).toBeLessThanOrEqual(mapping.groups.max);
          const payload = buildQlikClaims(identity, {
            issuer: 'https://qtv.example',
            issuedAtSeconds: NOW_MS / 1000,
            ttlSeconds: 300,
            notBeforeSkewSeconds: 30,
          });
          // A token for this identity would pass every Qlik rule: no function, null or empty value slipped in.
          const roundTripped = JSON.parse(JSON.stringify(payload)) as Record<string, unknown>;
          expect(qlikRejections(checkQlikToken({ alg: 'RS256', kid: 'k', typ: 'JWT' }, roundTripped))).toEqual([]);
        }),
        { numRuns: RUNS.cheap },
      );
    },
  );

  it('with the generic preset, takes sub, email and name from the claims of the same names, never elsewhere', () => {
    const mapping = mappingFor({ preset: 'generic' });
    fc.assert(
      fc.property(fc.oneof(callerClaims, plausibleCallerClaims), (claims) => {
        const identity = mapOrRefuse(claims, mapping);
        const sub = exact(claims.sub);
        const email = exact(claims.email);
        const flag = claims.email_verified;
        const verified = flag === true || (typeof flag === 'string' && flag.trim().toLowerCase() === 'true');
        const nameClaim = exact(claims.name);
        const preferred = exact(claims.preferred_username);
        const name = nameClaim !== undefined ? nameClaim : preferred !== undefined ? preferred : email;
        const groups = exactGroups(claims.groups, mapping.groups.max);
        if (
          sub === undefined ||
          sub === REFUSED ||
          email === undefined ||
          email === REFUSED ||
          !EMAIL_SHAPE.test(email) ||
          !verified ||
          name === REFUSED ||
          groups === REFUSED
        ) {
          expect(identity).toBeUndefined();
          return;
        }
        expect(identity).toEqual({ sub, email, name, emailVerified: true, groups });
      }),
      { numRuns: RUNS.cheap },
    );
  });

  // Regression: a plain-object lookup of overrides[sub] or groups.map[group] found Object.prototype's
  // members, so sub "constructor" got the name "Object" and group "constructor" became a function
  // (serialised as null; with requirePrefix set, a TypeError and a 500).
  it.each(PROTOTYPE_NAMES)('treats the name %j as an ordinary sub and group, not as a configured override', (name) => {
    for (const [, mapping] of [
      ['plain', mappingFor({ preset: 'generic', overrides: { alice: { name: 'Alice' } } })],
      ['prefix', mappingFor({ preset: 'generic', groups: { requirePrefix: 'q' } })],
    ] as const) {
      const identity = mapCallerIdentity(
        {
          sub: name,
          name: 'Real Name',
          email: 'real@example.com',
          email_verified: 'true',
          groups: [name, 'qSales'],
        },
        mapping,
      );
      expect(identity.sub).toBe(name);
      expect(identity.name).toBe('Real Name');
      expect(identity.groups.every((g) => typeof g === 'string')).toBe(true);
    }
  });
});

describe('Handler: POST /qlik/jwt (hostile claims)', () => {
  it('answers every claim set with 200 or 4xx, and any token it issues asserts exactly the mapping of the verified claims', async () => {
    // Prepare
    const { privateKey, publicKey } = rsaKeyPair(2048);
    const publicPem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const key = await signingKeyFromSecret(pkcs8Pem(privateKey), { fallbackKid: 'qtv-test' });
    const config = parseConfig({
      qlik: { issuer: 'https://qtv.example' },
      signing: { backend: 'file', privateKeyPath: 'unused' },
      identity: { groups: { max: 5 } },
    });
    const log = capturingLogger('DEBUG');
    const runtime = createRuntime(config, {
      clock: new FixedClock(NOW_MS),
      logger: log.logger,
      signers: { current: async () => key },
    });
    const handler = createHandler(runtime);
    const issued: string[] = [];
    let refused = 0;
    // Act + Assess
    await fc.assert(
      fc.asyncProperty(fc.oneof(callerClaims, plausibleCallerClaims), async (raw) => {
        // httpEvent hands the function what API Gateway does: the token in Authorization, its claims flattened.
        const result = await handler(httpEvent({ claims: raw }), lambdaContext());
        const status = result.statusCode ?? 0;
        expect(status === 200 || (status >= 400 && status < 500)).toBe(true);
        const expected = mapOrRefuse(raw, runtime.identity);
        if (status !== 200) {
          refused++;
          expect(expected).toBeUndefined();
          return;
        }
        const token = (JSON.parse(result.body ?? '{}') as { token: string }).token;
        issued.push(token);
        const { payload } = verifyWithJsonwebtoken(token, publicPem, { clockTimestamp: NOW_MS / 1000 });
        expect(expected).toBeDefined();
        expect({ sub: payload.sub, name: payload.name, email: payload.email, groups: payload.groups ?? [] }).toEqual({
          sub: expected?.sub,
          name: expected?.name,
          email: expected?.email,
          groups: expected?.groups,
        });
      }),
      { numRuns: RUNS.signing },
    );
    // Both outcomes were exercised, and no token reached a log line.
    expect(issued.length).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(10);
    const logText = log.text();
    for (const token of issued) expect(logText).not.toContain(token.split('.')[2]);
  });
});
