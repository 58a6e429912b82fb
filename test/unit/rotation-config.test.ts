import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../functions/errors.js';
import { parseConfig } from '../../functions/runtime/config.js';

const base = {
  qlik: { issuer: 'https://token-vending.example.com', tenantHost: 'tenant.example.com' },
  signing: { backend: 'secrets-manager', secretId: 'qtv/signing-key' },
};

function problemsOf(input: unknown): readonly string[] {
  try {
    parseConfig(input);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('Function: parseConfig (rotation section)', () => {
  it('defaults to no deployed rotation, 2048-bit keys every 30 days, manual Qlik registration and a one-hour grace period', () => {
    const config = parseConfig(base);
    expect(config.rotation).toEqual({
      enabled: false,
      keySize: 2048,
      kidPrefix: 'qtv',
      scheduleDays: 30,
      certificateValidityDays: 397,
      gracePeriodSeconds: 3600,
      qlik: {
        mode: 'manual',
        probeIdentity: {
          sub: 'qtv-rotation-probe',
          name: 'Key rotation probe',
          email: 'qtv-rotation-probe@invalid.example',
        },
        requestTimeoutMs: 10_000,
      },
    });
  });

  it('accepts 4096-bit keys, register mode with an admin client, and a notice topic', () => {
    const config = parseConfig({
      ...base,
      rotation: {
        keySize: 4096,
        notifyTopicArn: 'arn:aws:sns:eu-west-1:123456789012:notices',
        qlik: { mode: 'register', adminCredentialsSecretId: 'qtv/qlik-admin' },
      },
    });
    expect(config.rotation.keySize).toBe(4096);
    expect(config.rotation.qlik.mode).toBe('register');
  });

  it.each([
    ['a key size Qlik guides do not use', { keySize: 1024 }, 'rotation.keySize'],
    ['an unknown Qlik mode', { qlik: { mode: 'auto' } }, 'rotation.qlik.mode'],
    ['register mode without an admin client', { qlik: { mode: 'register' } }, 'rotation.qlik.adminCredentialsSecretId'],
    ['a grace period shorter than cache TTL + token life', { gracePeriodSeconds: 600 }, 'must be at least 930'],
    [
      'a grace period longer than the interval',
      { scheduleDays: 1, gracePeriodSeconds: 90_000 },
      'shorter than the rotation interval',
    ],
    ['an interval beyond what Secrets Manager allows', { scheduleDays: 1001 }, 'rotation.scheduleDays'],
    ['a topic that is not an SNS ARN', { notifyTopicArn: 'notices' }, 'rotation.notifyTopicArn'],
    ['an unknown field', { keySizeBits: 2048 }, 'rotation'],
  ])('refuses %s', (_name, rotation, expected) => {
    expect(problemsOf({ ...base, rotation }).join('\n')).toContain(expected);
  });

  it.each([
    [
      'kms',
      { backend: 'kms', keyId: 'alias/qtv' },
      'rotation.enabled: rotation.enabled rotates a key kept in Secrets Manager, but signing.backend is "kms": a KMS private key never leaves KMS and this rotation cannot replace it (docs/kms.md). Set rotation.enabled to false, or use signing.backend "secrets-manager"',
    ],
    [
      'file',
      { backend: 'file', privateKeyPath: 'key.pem' },
      'rotation.enabled: rotation.enabled rotates a key kept in Secrets Manager, but signing.backend is "file". Set rotation.enabled to false, or use signing.backend "secrets-manager"',
    ],
  ])('refuses rotation.enabled with the %s signing backend, in one plain sentence', (_backend, signing, sentence) => {
    expect(problemsOf({ ...base, signing, rotation: { enabled: true } })).toEqual([sentence]);
  });

  it('accepts rotation.enabled with the secrets-manager backend, and a disabled rotation section with kms', () => {
    expect(parseConfig({ ...base, rotation: { enabled: true } }).rotation.enabled).toBe(true);
    expect(problemsOf({ ...base, signing: { backend: 'kms', keyId: 'alias/qtv' } })).toEqual([]);
  });

  it('refuses register mode without a tenant host', () => {
    const problems = problemsOf({
      qlik: { issuer: 'https://x' },
      signing: base.signing,
      rotation: { qlik: { mode: 'register', adminCredentialsSecretId: 'a' } },
    });
    expect(problems.join('\n')).toContain('qlik.tenantHost');
  });
});
