import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkVendResponse, runVendLoad } from '../../scripts/load/vend-load.js';

describe('Function: runVendLoad', () => {
  it('answers 2,000 requests from 32 connections and 4 callers with 2,000 unique, valid tokens, each for its caller', async () => {
    // Act
    const report = await runVendLoad({ requests: 2000, connections: 32, users: 4, signOps: 200, warmupRequests: 100 });
    // Assess: every token was verified (node:crypto against the dev certificate, every Qlik rule, the
    // caller's identity) inside runVendLoad; these counts say none failed.
    expect(report.problems).toEqual([]);
    expect({
      responses: report.responses,
      ok: report.ok,
      non2xx: report.non2xx,
      errors: report.errors,
      timeouts: report.timeouts,
      invalid: report.invalid,
      duplicateJti: report.duplicateJti,
    }).toEqual({ responses: 2000, ok: 2000, non2xx: 0, errors: 0, timeouts: 0, invalid: 0, duplicateJti: 0 });
    expect(report.passed).toBe(true);
  });
});

describe('Function: checkVendResponse', () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const nowSeconds = 1_795_262_400;
  const expected = { sub: 'u1', name: 'User One', email: 'u1@example.com', groups: ['Sales'] };
  const mint = async (claims: Record<string, unknown>, key = privateKey) => {
    const { sign } = await import('node:crypto');
    const h = Buffer.from(JSON.stringify({ alg: 'RS256', kid: 'qtv-dev', typ: 'JWT' })).toString('base64url');
    const p = Buffer.from(JSON.stringify(claims)).toString('base64url');
    const s = sign('sha256', Buffer.from(`${h}.${p}`), key).toString('base64url');
    return JSON.stringify({ token: `${h}.${p}.${s}`, keyId: 'qtv-dev' });
  };
  const good = {
    iss: 'https://qlik-token-vending.local/dev',
    aud: 'qlik.api/login/jwt-session',
    sub: 'u1',
    subType: 'user',
    name: 'User One',
    email: 'u1@example.com',
    email_verified: true,
    groups: ['Sales'],
    jti: 'j1',
    iat: nowSeconds,
    nbf: nowSeconds - 30,
    exp: nowSeconds + 300,
  };

  it('accepts a valid token for the expected caller and returns its jti', async () => {
    expect(checkVendResponse(await mint(good), expected, publicKey, nowSeconds)).toEqual({ jti: 'j1' });
  });

  it.each([
    ['a token for another user', { ...good, sub: 'u2' }, undefined, /identity mismatch/],
    ['a token with other groups', { ...good, groups: ['Admins'] }, undefined, /identity mismatch/],
    ['a token without nbf', { ...good, nbf: undefined }, undefined, /claim\.nbf\.present/],
    [
      'a token signed by another key',
      good,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
      /signature/,
    ],
  ])('reports %s', async (_case, claims, key, reason) => {
    expect(checkVendResponse(await mint(claims, key), expected, publicKey, nowSeconds).problem).toMatch(reason);
  });
});
