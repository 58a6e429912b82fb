/**
 * The embedded dev identity provider: it stands in for the team's real sign-in (Cognito, Entra ID,
 * Okta...) so a frontend developer can get a caller token with one request. Dev server only.
 */
import { generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { exportJWK, type JWK, SignJWT } from 'jose';
import * as z from 'zod';

/**
 * Body of `POST /dev/identity/token`. Values are put into the token exactly as sent, never trimmed: the
 * dev identity provider must be able to mint the hostile identities (" demo-user", "demo-user\u00a0") the
 * token API has to refuse, as a real provider could.
 */
export const devTokenRequestSchema = z.strictObject({
  sub: z.string().min(1, 'sub is required').max(1024),
  name: z.string().min(1).max(1024).optional(),
  email: z.string().min(3).max(1024).optional(),
  email_verified: z.boolean().optional(),
  groups: z.array(z.string().max(1024)).max(500).optional(),
});
export type DevTokenRequest = z.infer<typeof devTokenRequestSchema>;

/** The audience of dev caller tokens (what the local JWT authorizer expects). */
export const DEV_AUDIENCE = 'qtv-dev-app';

/** An in-memory OIDC-ish provider: discovery, JWKS, and a token endpoint with no password. */
export class DevIdentityProvider {
  readonly kid = `dev-idp-${randomUUID().slice(0, 8)}`;
  private readonly privateKey: KeyObject;
  readonly publicJwk: Promise<JWK>;

  constructor(readonly issuer: string) {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = pair.privateKey;
    this.publicJwk = exportJWK(pair.publicKey).then((jwk) => ({ ...jwk, kid: this.kid, alg: 'RS256', use: 'sig' }));
  }

  /** Mints an ID token for the given person, valid for one hour. */
  async mint(request: DevTokenRequest): Promise<string> {
    const { sub, name, email, groups } = request;
    return new SignJWT({
      name: name ?? sub,
      email: email ?? `${sub.replace(/[^A-Za-z0-9._-]/g, '') || 'user'}@example.com`,
      email_verified: request.email_verified ?? true,
      ...(groups !== undefined ? { groups } : {}),
    })
      .setProtectedHeader({ alg: 'RS256', kid: this.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(DEV_AUDIENCE)
      .setSubject(sub)
      .setIssuedAt()
      .setExpirationTime('1h')
      .setJti(randomUUID())
      .sign(this.privateKey);
  }

  /** JWKS document. */
  async jwks(): Promise<{ keys: JWK[] }> {
    return { keys: [await this.publicJwk] };
  }

  /** OIDC discovery document. */
  discovery(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      jwks_uri: `${this.issuer}/jwks.json`,
      token_endpoint: `${this.issuer}/token`,
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
    };
  }
}
