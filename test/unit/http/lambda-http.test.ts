import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../../functions/errors.js';
import { describeErrorForLog, MAX_LOGGED_MESSAGE_CHARS, quoteForLog } from '../../../functions/http/lambda-http.js';
import { createHandler } from '../../../functions/qlik-jwt/handler.js';
import { FixedClock } from '../../../functions/runtime/clock.js';
import { parseConfig } from '../../../functions/runtime/config.js';
import { createRuntime } from '../../../functions/runtime/wiring.js';
import { httpEvent, lambdaContext } from '../../support/events.js';
import { capturingLogger } from '../../support/logs.js';

const CALLER = { iss: 'https://idp.example', sub: 'u', email: 'u@example.com', email_verified: true };

function handlerWithLog() {
  const log = capturingLogger('DEBUG');
  const runtime = createRuntime(
    parseConfig({ qlik: { issuer: 'https://qtv.example' }, signing: { backend: 'file', privateKeyPath: 'unused' } }),
    {
      clock: new FixedClock(Date.UTC(2026, 10, 26)),
      logger: log.logger,
      signers: { current: () => Promise.reject(new Error('not reached')) },
    },
  );
  return { log, handler: createHandler(runtime) };
}

describe('Function: problemJsonErrors (log lines)', () => {
  // Regression (issue 12, finding 4): one request of invented field names made a 9,532-character WARN line.
  it('keeps the log line of a body full of invented field names short, however many and long they are', async () => {
    const { log, handler } = handlerWithLog();
    const body = JSON.stringify(
      Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`${'k'.repeat(120)}${i}`, 1])),
    );
    expect(body.length).toBeGreaterThan(7_000);
    const result = await handler(httpEvent({ claims: CALLER, body }), lambdaContext());
    expect(result.statusCode).toBe(400);
    const warn = log.lines.find((line) => line.includes('request refused'));
    expect(warn).toBeDefined();
    expect(warn!.length).toBeLessThan(1_500);
    expect(JSON.parse(result.body ?? '{}').detail).toMatch(/and 55 more/);
  });

  it('escapes control, bidi and line-separator characters of a caller-chosen field name', async () => {
    const { log, handler } = handlerWithLog();
    const body = JSON.stringify({ 'evil\u2028\u202e\u001b[31mname': 1 });
    await handler(httpEvent({ claims: CALLER, body }), lambdaContext());
    const text = log.text();
    expect(text).toContain('\\\\u2028\\\\u202e\\\\u001b[31mname');
    for (const raw of ['\u2028', '\u202e', '\u001b']) expect(text).not.toContain(raw);
  });
});

describe('Function: quoteForLog', () => {
  it.each([
    ['plain', '"plain"'],
    ['a"b\\c', '"a\\"b\\\\c"'],
    ['\u0000\u00e9😀', '"\\u0000\\u00e9\\ud83d\\ude00"'],
    ['x'.repeat(70), `"${'x'.repeat(64)}"…(+6 chars)`],
  ])('quotes %j as %s', (value, quoted) => {
    expect(quoteForLog(value)).toBe(quoted);
  });
});

describe('Function: describeErrorForLog', () => {
  it(`caps an error message at ${MAX_LOGGED_MESSAGE_CHARS} characters and escapes what is not printable ASCII`, () => {
    const summary = describeErrorForLog(new InvalidRequestError(`line\nbreak ${'y'.repeat(2_000)}`));
    const message = summary.errorMessage as string;
    expect(message.startsWith('line\\u000abreak')).toBe(true);
    expect(message).toMatch(/…\(\+\d+ chars\)$/);
    expect(message.length).toBeLessThan(MAX_LOGGED_MESSAGE_CHARS * 2);
  });
});
