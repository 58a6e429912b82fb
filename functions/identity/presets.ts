/**
 * Claim-mapping presets for common caller identity providers. A preset only supplies defaults:
 * any field set in `identity` config wins. Sources for the claim names are each vendor's ID token
 * reference; notes on what each provider does NOT send are in docs/identity-mapping.md.
 */

/** Names of the supported presets. */
export const IDENTITY_PRESETS = ['generic', 'cognito', 'entra-id', 'okta', 'auth0', 'keycloak', 'onelogin'] as const;
export type IdentityPresetName = (typeof IDENTITY_PRESETS)[number];

/** Where each Qlik identity field comes from, before per-deployment overrides. */
export interface IdentityPreset {
  /** Claims tried in order for the Qlik `sub`. */
  readonly subClaims: readonly string[];
  readonly nameClaims: readonly string[];
  readonly emailClaims: readonly string[];
  /** Claim holding email_verified, or undefined when the provider never sends one. */
  readonly emailVerifiedClaim: string | undefined;
  readonly groupClaims: readonly string[];
}

export const identityPresets: Readonly<Record<IdentityPresetName, IdentityPreset>> = {
  generic: {
    subClaims: ['sub'],
    nameClaims: ['name', 'preferred_username', 'email'],
    emailClaims: ['email'],
    emailVerifiedClaim: 'email_verified',
    groupClaims: ['groups'],
  },
  // Cognito user pools: `sub` is a stable UUID; groups arrive as `cognito:groups`.
  cognito: {
    subClaims: ['sub'],
    nameClaims: ['name', 'preferred_username', 'cognito:username', 'email'],
    emailClaims: ['email'],
    emailVerifiedClaim: 'email_verified',
    groupClaims: ['cognito:groups'],
  },
  // Entra ID: `oid` is stable across applications (`sub` is pairwise per app); email often only in
  // `upn`/`preferred_username`; never an `email_verified`; groups are object IDs (map them to names).
  'entra-id': {
    subClaims: ['oid', 'sub'],
    nameClaims: ['name', 'preferred_username'],
    emailClaims: ['email', 'upn', 'preferred_username'],
    emailVerifiedClaim: undefined,
    groupClaims: ['groups'],
  },
  okta: {
    subClaims: ['sub'],
    nameClaims: ['name', 'preferred_username'],
    emailClaims: ['email'],
    emailVerifiedClaim: 'email_verified',
    groupClaims: ['groups'],
  },
  // Auth0: custom claims must be namespaced (e.g. "https://example.com/groups"): set identity.groups.claims.
  auth0: {
    subClaims: ['sub'],
    nameClaims: ['name', 'nickname', 'email'],
    emailClaims: ['email'],
    emailVerifiedClaim: 'email_verified',
    groupClaims: ['groups'],
  },
  // Keycloak: needs a "Group Membership" mapper to emit `groups`.
  keycloak: {
    subClaims: ['sub'],
    nameClaims: ['name', 'preferred_username'],
    emailClaims: ['email'],
    emailVerifiedClaim: 'email_verified',
    groupClaims: ['groups'],
  },
  // OneLogin: email_verified needs a custom claim; groups need the "Groups" parameter on the app.
  onelogin: {
    subClaims: ['sub'],
    nameClaims: ['name', 'preferred_username'],
    emailClaims: ['email'],
    emailVerifiedClaim: undefined,
    groupClaims: ['groups'],
  },
};
