/**
 * A small in-memory stand-in for the Qlik tenant behind {@link QlikIdentityProviderPort}: it stores JWT
 * identity providers and accepts a probe login only when a stored IdP's kid, issuer and certificate verify the
 * token (node:crypto, independent of the signer) and the claims pass Qlik's rules.
 * The tenant emulator (test/support/tenant-emulator, another branch) can replace it: tests take any port.
 */
import { verify as cryptoVerify, X509Certificate } from 'node:crypto';
import type {
  NewQlikJwtIdentityProvider,
  QlikIdentityProviderPort,
  QlikJwtIdentityProvider,
  QlikLoginResult,
} from '../../functions/rotate-signing-key/ports.js';
import { checkQlikToken, qlikRejections } from '../../functions/shared/qlik-claims.js';

interface StoredIdp extends QlikJwtIdentityProvider {
  readonly certificate: string;
}

/** The fake tenant. `refuseLogins` / `failCreates` simulate a tenant that does not (yet) trust a key. */
export class FakeQlikIdentityProviders implements QlikIdentityProviderPort {
  readonly idps = new Map<string, StoredIdp>();
  readonly calls: string[] = [];
  refuseLogins = false;
  failCreates = false;
  private next = 1;

  /** Adds an IdP directly, as an admin would in the console. */
  seed(idp: NewQlikJwtIdentityProvider): StoredIdp {
    const stored: StoredIdp = { id: `idp-${this.next++}`, ...idp };
    this.idps.set(stored.id, stored);
    return stored;
  }

  async listJwtIdentityProviders(): Promise<QlikJwtIdentityProvider[]> {
    this.calls.push('list');
    return [...this.idps.values()].map(({ id, kid, issuer, description }) => ({ id, kid, issuer, description }));
  }

  async createJwtIdentityProvider(idp: NewQlikJwtIdentityProvider): Promise<QlikJwtIdentityProvider> {
    this.calls.push(`create ${idp.kid}`);
    if (this.failCreates) throw new Error('tenant refused');
    const { certificate: _certificate, ...rest } = this.seed(idp);
    return rest;
  }

  async deleteIdentityProvider(id: string): Promise<void> {
    this.calls.push(`delete ${this.idps.get(id)?.kid ?? id}`);
    this.idps.delete(id);
  }

  async tryJwtLogin(token: string): Promise<QlikLoginResult> {
    this.calls.push('login');
    if (this.refuseLogins) return { ok: false, status: 401, detail: 'refused by test' };
    return this.verify(token);
  }

  /** What Qlik would decide about `token` with the IdPs stored now. */
  verify(token: string): QlikLoginResult {
    const [h, p, s] = token.split('.');
    if (h === undefined || p === undefined || s === undefined) return { ok: false, status: 400, detail: 'not a JWS' };
    const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const idp = [...this.idps.values()].find((i) => i.kid === header.kid);
    if (idp === undefined) return { ok: false, status: 401, detail: `no IdP for kid ${String(header.kid)}` };
    const publicKey = new X509Certificate(idp.certificate).publicKey;
    if (!cryptoVerify('sha256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(s, 'base64url')))
      return { ok: false, status: 401, detail: 'bad signature' };
    const rejections = qlikRejections(
      checkQlikToken(header, payload, {
        ...(idp.issuer !== undefined ? { issuer: idp.issuer } : {}),
        keyId: idp.kid ?? '',
        nowSeconds: Number(payload.iat),
        clockToleranceSeconds: 5,
      }),
    );
    if (rejections.length > 0) return { ok: false, status: 400, detail: rejections.map((r) => r.rule).join(',') };
    return { ok: true, status: 200 };
  }
}
