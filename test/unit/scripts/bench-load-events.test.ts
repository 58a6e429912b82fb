/**
 * The events the benchmark and `npm run load -- --mode handler` hand to `POST /qlik/jwt` must be events the
 * real handler answers with a token: a refused event (401 since the handler binds the caller to the token in
 * `Authorization`) would make the cold start and the load time a refusal instead of a first token.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createHandler } from '../../../functions/qlik-jwt/handler.js';
import { routes } from '../../../functions/routes.js';
import { parseConfig } from '../../../functions/runtime/config.js';
import { createRuntime } from '../../../functions/runtime/wiring.js';
import { signingKeyFromSecret } from '../../../functions/signing/signing-key.js';
import { benchCallerClaims, sampleEvent } from '../../../scripts/bench/cold-start.js';
import { callerEvent } from '../../../scripts/dev/caller-event.js';
import { handlerLoadCallers } from '../../../scripts/load/handler-load.js';
import { loadUsers } from '../../../scripts/load/vend-load.js';
import { lambdaContext } from '../../support/events.js';
import { capturingLogger } from '../../support/logs.js';

const pem = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ format: 'pem', type: 'pkcs8' })
  .toString();

async function qlikJwtHandler() {
  const key = await signingKeyFromSecret(pem, { fallbackKid: 'bench' });
  const runtime = createRuntime(
    parseConfig({ qlik: { issuer: 'https://qtv.example' }, signing: { backend: 'file', privateKeyPath: 'x' } }),
    { logger: capturingLogger().logger, signers: { current: async () => key } },
  );
  const handler = createHandler(runtime);
  return async (event: unknown) =>
    (await handler(event as APIGatewayProxyEventV2, lambdaContext())) as APIGatewayProxyStructuredResultV2;
}

function payloadOf(response: APIGatewayProxyStructuredResultV2): Record<string, unknown> {
  const { token } = JSON.parse(response.body ?? '{}') as { token: string };
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
}

describe('Benchmark and load events', () => {
  it("the cold-start bench's POST /qlik/jwt event gets a token for the bench's caller from the real handler", async () => {
    // Prepare
    const handle = await qlikJwtHandler();
    const entry = routes.find((r) => r.id === 'QlikJwt')!.entry;

    // Act
    const response = await handle(sampleEvent(entry));

    // Assess
    expect(response.body).toContain('token');
    expect(response.statusCode).toBe(200);
    expect(payloadOf(response)).toMatchObject({
      sub: benchCallerClaims().sub,
      email: 'cold@example.com',
      groups: ['Sales'],
    });
  });

  it("the handler load's events get a token for the user each names from the real handler", async () => {
    // Prepare
    const handle = await qlikJwtHandler();
    const users = loadUsers(6);
    const callers = handlerLoadCallers(users, Math.floor(Date.now() / 1000));

    // Act
    const responses = await Promise.all(
      callers.map((caller) => handle(callerEvent({ method: 'POST', path: '/qlik/jwt', caller, body: '' }))),
    );

    // Assess
    expect(responses.map((r) => r.statusCode)).toEqual(users.map(() => 200));
    expect(responses.map((r) => payloadOf(r).sub)).toEqual(users.map((u) => u.sub));
    expect(responses.map((r) => payloadOf(r).groups)).toEqual(users.map((u) => u.groups));
  });

  it('an event with the authorizer claims but no caller token (the shape before the binding) is refused with 401', async () => {
    // Prepare
    const handle = await qlikJwtHandler();
    const [caller] = handlerLoadCallers(loadUsers(1), Math.floor(Date.now() / 1000));
    const event = callerEvent({ method: 'POST', path: '/qlik/jwt', caller: caller! }) as unknown as {
      headers: Record<string, string>;
    };
    delete event.headers.authorization;

    // Act
    const response = await handle(event);

    // Assess
    expect(response.statusCode).toBe(401);
  });
});
