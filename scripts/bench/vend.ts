/**
 * Cost of one Qlik token: our full vend path (identity mapping + claims + JWS + RSA signature over
 * a cached key object) against a bare `crypto.sign` of the same bytes with the same key, and against
 * the boilerplate style `jsonwebtoken.sign(payload, pemString, …)` that parses the PEM on every call,
 * and jose's `SignJWT` with the key imported per request or cached.
 */
import { createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { importPKCS8, SignJWT } from 'jose';
import jsonwebtoken from 'jsonwebtoken';
import { resolveIdentityMapping } from '../../functions/identity/mapping.js';
import { vendQlikJwt } from '../../functions/qlik-jwt/core.js';
import { systemClock } from '../../functions/runtime/clock.js';
import { parseConfig } from '../../functions/runtime/config.js';
import { secretSignerSource } from '../../functions/runtime/wiring.js';
import type { SecretStore } from '../../functions/secrets/secret-source.js';
import { parseRsaPrivateKey } from '../../functions/signing/signing-key.js';
import { measureInterleaved, median, pairedRatio } from './stats.js';

/** One row of the vend benchmark. */
export interface VendBenchRow {
  readonly bits: number;
  readonly case: string;
  /** Median time of one operation, in the rounds this case shared with bare crypto.sign alone. */
  readonly medianMs: number;
  /**
   * Median over rounds of this case's time divided by bare crypto.sign's in the same round, the two run
   * alone together, in a shuffled order (the figure the per-token target is judged on).
   */
  readonly ratioToBareSign: number;
  /**
   * The same ratio with every case of the section in each round (shuffled): every case then also runs
   * right after jose, jsonwebtoken or a PEM parse, whose allocations and cache traffic land on it. Printed
   * for comparison; in production no other library signs between two of our tokens.
   */
  readonly ratioToBareSignInMix: number;
  /** This case's ratio ÷ the full vend path's: the boilerplate row reads "how many times slower than ours". */
  readonly ratioToVendPath: number;
  readonly samples: number;
}

const CALLER = {
  sub: 'user-1',
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  email_verified: 'true',
  groups: '[Sales Finance]',
};

/** Runs the vend benchmark at the given RSA sizes. */
export async function benchVend(options: { sizes?: readonly number[]; rounds?: number } = {}): Promise<VendBenchRow[]> {
  const rows: VendBenchRow[] = [];
  for (const bits of options.sizes ?? [2048, 4096]) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const config = parseConfig({
      qlik: { issuer: 'https://qtv.example', keyId: 'bench' },
      signing: { backend: 'file', privateKeyPath: 'x' },
    });
    // The production path: the signer source the functions build (runtime/wiring.ts), the key in its
    // secret cache, parsed once.
    const store: SecretStore = { description: 'memory', fetch: async () => ({ value: pem, versionId: '1' }) };
    const signers = secretSignerSource({
      store,
      secretId: 'k',
      ttlMs: 3_600_000,
      clock: systemClock,
      logger: new Logger({ serviceName: 'bench', logLevel: 'SILENT' }),
      fallbackKid: 'bench',
    });
    await signers.current();
    const deps = {
      signers,
      clock: systemClock,
      identity: resolveIdentityMapping(config.identity),
      qlik: config.qlik,
    };
    const sample = await vendQlikJwt(CALLER, {}, deps);
    // The same path with the RSA operation taken out: what our own code adds to one signature. Its stub
    // `sign` is not a key-object signer and its source holds no ready key, so the path awaits both
    // (signer.ts, core.ts): two promises more than the real path, which takes neither. An upper bound, then.
    const realKey = await signers.current();
    const fixedSignature = await realKey.sign(Buffer.from('x'));
    const stubbedDeps = {
      ...deps,
      signers: { current: async () => ({ ...realKey, sign: async () => fixedSignature }) },
    };
    const signingInput = Buffer.from(sample.token.split('.').slice(0, 2).join('.'));
    const payload = JSON.parse(Buffer.from(sample.token.split('.')[1]!, 'base64url').toString());
    const boilerplatePayload = {
      sub: payload.sub,
      subType: 'user',
      name: payload.name,
      email: payload.email,
      email_verified: true,
      groups: payload.groups,
    };
    // Parsed by the same function the secret cache uses, so the baseline signs with a key object
    // made exactly like ours (a freshly generated key object signs at a slightly different speed).
    const bareKey = parseRsaPrivateKey(pem);
    // jose as its README shows it: a WebCrypto key from the PEM, then SignJWT. Per request (the key
    // imported on every call, as a handler that reads the PEM per request would) and with the key cached.
    const joseSign = (key: CryptoKey) =>
      new SignJWT(boilerplatePayload)
        .setProtectedHeader({ alg: 'RS256', kid: 'bench', typ: 'JWT' })
        .setIssuer('https://qtv.example')
        .setAudience('qlik.api/login/jwt-session')
        .setIssuedAt()
        .setNotBefore('1s')
        .setExpirationTime('30s')
        .setJti(crypto.randomUUID())
        .sign(key);
    const joseKey = await importPKCS8(pem, 'RS256');
    const rounds = options.rounds ?? (bits >= 4096 ? 200 : 2000);
    const cases = [
      { name: 'bare crypto.sign (same bytes, key parsed once)', run: () => sign('sha256', signingInput, bareKey) },
      { name: 'full vend path (map + claims + JWS + sign)', run: () => vendQlikJwt(CALLER, {}, deps) },
      { name: 'vend path without the RSA operation', run: () => vendQlikJwt(CALLER, {}, stubbedDeps) },
      // What the boilerplate pays on top of a signature, in part: the PEM parse alone.
      { name: 'PEM parse alone (createPrivateKey(pemString))', run: () => createPrivateKey(pem) },
      {
        name: 'boilerplate jsonwebtoken.sign(payload, pemString)',
        run: () =>
          jsonwebtoken.sign(boilerplatePayload, pem, {
            keyid: 'bench',
            algorithm: 'RS256',
            issuer: 'https://qtv.example',
            expiresIn: '30s',
            notBefore: '1s',
            audience: 'qlik.api/login/jwt-session',
          }),
      },
      {
        name: 'jose per request (importPKCS8 + SignJWT)',
        run: async () => joseSign(await importPKCS8(pem, 'RS256')),
      },
      { name: 'jose with a cached key (SignJWT)', run: () => joseSign(joseKey) },
    ];
    const [bareCase] = cases;
    // Each case against bare crypto.sign alone: a ratio compares two cases run in the same conditions, and
    // no third library's garbage or cache misses land on one side only (issue #15, docs/performance.md).
    const pairs = new Map<string, { ratio: number; medianMs: number; samples: number }>();
    for (const c of cases) {
      if (c === bareCase) continue;
      const pair = await measureInterleaved([bareCase!, c], { rounds });
      const list = pair.get(c.name)!;
      const bareList = pair.get(bareCase!.name)!;
      pairs.set(c.name, { ratio: pairedRatio(list, bareList), medianMs: median(list), samples: list.length });
      if (!pairs.has(bareCase!.name))
        pairs.set(bareCase!.name, { ratio: 1, medianMs: median(bareList), samples: bareList.length });
    }
    const mix = await measureInterleaved(cases, { rounds });
    const bareInMix = mix.get(bareCase!.name)!;
    const vendRatio = pairs.get('full vend path (map + claims + JWS + sign)')!.ratio;
    for (const c of cases) {
      const pair = pairs.get(c.name)!;
      rows.push({
        bits,
        case: c.name,
        medianMs: pair.medianMs,
        ratioToBareSign: pair.ratio,
        ratioToBareSignInMix: pairedRatio(mix.get(c.name)!, bareInMix),
        ratioToVendPath: pair.ratio / vendRatio,
        samples: pair.samples,
      });
    }
  }
  return rows;
}
