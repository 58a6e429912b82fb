import { createDecipheriv, hkdfSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveSealingKeys, Sealer } from '../../../functions/http/sealing.js';
import { parseClientSecrets, parseSealingMaterials } from '../../../functions/runtime/oauth-wiring.js';
import { LruCache } from '../../../functions/util/lru.js';

const MATERIAL = 'a-sealing-secret-of-at-least-32-characters';

describe('Function: Sealer', () => {
  it('round-trips a payload, and the sealed text reveals nothing of it', () => {
    const sealer = new Sealer(deriveSealingKeys([MATERIAL]));
    const sealed = sealer.seal('oauth-state', { verifier: 'pkce-verifier-value' });
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('pkce');
    expect(sealer.open('oauth-state', sealed)).toEqual({ verifier: 'pkce-verifier-value' });
  });

  it('is AES-256-GCM under an HKDF-SHA256 key: node:crypto opens it independently', () => {
    // Prepare
    const sealed = new Sealer(deriveSealingKeys([MATERIAL])).seal('oauth-session', { a: 1 });
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    const key = Buffer.from(hkdfSync('sha256', MATERIAL, 'qlik-token-vending/oauth-sealing', 'aes-256-gcm v1', 32));
    // Act
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from('oauth-session'));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    const plain = Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString();
    // Assess
    expect(JSON.parse(plain)).toEqual({ a: 1 });
  });

  it.each([
    ['a flipped byte', (s: string) => `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`],
    ['a truncated value', (s: string) => s.slice(0, 20)],
    ['another version prefix', (s: string) => `v2${s.slice(2)}`],
    ['garbage', () => 'v1.!!!'],
    ['nothing', () => undefined],
  ])('refuses %s', (_name, tamper) => {
    const sealer = new Sealer(deriveSealingKeys([MATERIAL]));
    expect(sealer.open('oauth-state', tamper(sealer.seal('oauth-state', { s: 'x' })) as string)).toBeUndefined();
  });

  it('refuses a value sealed for another purpose (a state cookie is not a session)', () => {
    const sealer = new Sealer(deriveSealingKeys([MATERIAL]));
    expect(sealer.open('oauth-session', sealer.seal('oauth-state', { s: 'x' }))).toBeUndefined();
  });

  it('opens values sealed under a previous key after rotation, and seals with the first key only', () => {
    const old = new Sealer(deriveSealingKeys(['old-material-old-material-old-material']));
    const rotated = new Sealer(deriveSealingKeys([MATERIAL, 'old-material-old-material-old-material']));
    expect(rotated.open('oauth-state', old.seal('oauth-state', { s: 1 }))).toEqual({ s: 1 });
    expect(old.open('oauth-state', rotated.seal('oauth-state', { s: 2 }))).toBeUndefined();
  });
});

describe('Function: parseClientSecrets', () => {
  it.each([
    ['a plain string', 's3cret', ['s3cret']],
    ['a clientSecrets array', '{"clientSecrets":["new","old"]}', ['new', 'old']],
    ['current and previous', '{"clientSecret":"new","previousClientSecret":"old"}', ['new', 'old']],
    ['current only', '{"clientSecret":"new"}', ['new']],
  ])('reads %s', (_name, value, expected) => {
    expect(parseClientSecrets(value)).toEqual(expected);
  });

  it.each([
    ['', 'empty'],
    ['{"nope":1}', 'no secrets'],
    ['{bad json', 'bad JSON'],
  ])('refuses %j (%s) without echoing the value', (value) => {
    expect(() => parseClientSecrets(value)).toThrow(TypeError);
  });
});

describe('Function: parseSealingMaterials', () => {
  it('reads a long string or a sealingKeys array, and refuses short keys', () => {
    expect(parseSealingMaterials(MATERIAL)).toEqual([MATERIAL]);
    expect(parseSealingMaterials(JSON.stringify({ sealingKeys: [MATERIAL, `${MATERIAL}2`] }))).toHaveLength(2);
    expect(() => parseSealingMaterials('short')).toThrow(/at least 32/);
    expect(() => parseSealingMaterials(JSON.stringify({ sealingKeys: [MATERIAL, 'short'] }))).toThrow(/at least 32/);
  });
});

describe('Function: LruCache', () => {
  it('never holds more than maxEntries and drops the least recently used first', () => {
    const cache = new LruCache<string, number>(2);
    cache.set('a', 1);
    cache.set('b', 2);
    cache.get('a');
    cache.set('c', 3);
    expect(cache.size).toBe(2);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    expect(cache.get('c')).toBe(3);
  });
});
