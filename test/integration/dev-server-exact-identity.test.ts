/**
 * Issue 12's property over HTTP: the dev identity provider mints each generated identity exactly as asked,
 * the dev server's stand-in for API Gateway's JWT authorizer verifies it (OIDC discovery, kid, RS256), and
 * POST /qlik/jwt answers with exactly those values or a 4xx problem+json. Run against both answers to the
 * guessed question of how API Gateway reads the `Bearer` prefix (scripts/dev/jwt-authorizer.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BearerPrefixMode } from '../../scripts/dev/jwt-authorizer.js';
import { type DevServer, startDevServer } from '../../scripts/dev-server.js';
import { AUTHORIZATION_FORMS, type AuthorizationForm, authorizationValue } from '../support/events.js';
import { expectedIdentity, generatedIdentity } from '../support/identities.js';

/** A smaller count than the in-process property: each run is two HTTP round trips and two RSA signatures. */
const HTTP_RUNS = 400;

/** Identities small enough for one request header (Node's 16 KiB limit answers 431 beyond it). */
const httpIdentity = generatedIdentity.filter(
  (i) => i.groups.length <= 60 && JSON.stringify(i).length < 4_000 && i.sub.length <= 1024 && i.name.length <= 1024,
);

describe.each<BearerPrefixMode>(['lenient', 'strict'])(
  'Dev server (bearer prefix %s): exact or refused over HTTP',
  (mode) => {
    let dev: DevServer;
    let localDir: string;
    const maxGroups = 50;

    beforeAll(async () => {
      localDir = mkdtempSync(join(tmpdir(), 'qtv-exact-'));
      dev = await startDevServer({ port: 0, localDir, logLevel: 'SILENT', authorizer: { bearerPrefix: mode } });
    });
    afterAll(async () => {
      await dev?.close();
      rmSync(localDir, { recursive: true, force: true });
    });

    /** Whether the stand-in reads this form in this mode (docs/security.md, the authorizer table). */
    const accepted = (form: AuthorizationForm) => mode === 'lenient' || form === 'Bearer' || form === 'bare';

    it(`answers ${HTTP_RUNS} generated identities with exactly their values or a 4xx problem, 0 altered`, async () => {
      const counts = { issued: 0, refused: 0, unauthenticated: 0, altered: 0 };
      await fc.assert(
        fc.asyncProperty(httpIdentity, fc.constantFrom(...AUTHORIZATION_FORMS), async (identity, form) => {
          const minted = await fetch(`${dev.url}/dev/identity/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(identity),
          });
          // The dev identity provider refuses only what its schema bounds (empty sub, empty name): never reshapes.
          if (minted.status !== 200) {
            expect(minted.status).toBe(400);
            return;
          }
          const { id_token } = (await minted.json()) as { id_token: string };
          expect(decodeJwt(id_token)).toMatchObject({ sub: identity.sub, name: identity.name, email: identity.email });
          const response = await fetch(`${dev.url}/qlik/jwt`, {
            method: 'POST',
            headers: { authorization: authorizationValue(id_token, form) },
          });
          const expected = expectedIdentity(identity, maxGroups);
          if (!accepted(form)) {
            expect(response.status).toBe(401);
            counts.unauthenticated++;
            return;
          }
          if (response.status !== 200) {
            counts.refused++;
            expect(response.status).toBeGreaterThanOrEqual(400);
            expect(response.status).toBeLessThan(500);
            expect(response.headers.get('content-type')).toBe('application/problem+json');
            expect(expected).toBeUndefined();
            return;
          }
          counts.issued++;
          const payload = decodeJwt(((await response.json()) as { token: string }).token);
          const asserted = { sub: payload.sub, name: payload.name, email: payload.email, groups: payload.groups ?? [] };
          if (JSON.stringify(asserted) !== JSON.stringify(expected)) counts.altered++;
          expect(asserted).toEqual(expected);
        }),
        { numRuns: HTTP_RUNS },
      );
      console.log(`[exact-identity] dev server (${mode}) runs=${HTTP_RUNS} ${JSON.stringify(counts)}`);
      expect(counts.altered).toBe(0);
      expect(counts.issued).toBeGreaterThan(0);
      expect(counts.refused).toBeGreaterThan(0);
    }, 300_000);
  },
);
