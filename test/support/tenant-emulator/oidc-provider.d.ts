/**
 * The slice of oidc-provider 9's API the emulator uses. The package ships no types and
 * @types/oidc-provider lags behind 9.x; declaring only what we call keeps the emulator type-checked.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export type UnknownObject = Record<string, unknown>;

  export interface OidcClient {
    readonly clientId: string;
    grantTypeAllowed(grantType: string): boolean;
  }

  export interface OidcSession {
    readonly accountId?: string;
    grantIdFor(clientId: string, grantId?: string): string | undefined;
  }

  export interface Grant {
    readonly jti: string;
    addOIDCScope(scope: string): void;
    save(): Promise<string>;
  }

  export interface OidcToken {
    readonly accountId?: string;
    readonly clientId?: string;
    readonly scope?: string;
    readonly grantId?: string;
    readonly expiration: number;
    save(): Promise<string>;
  }

  export interface KoaContextWithOIDC {
    path: string;
    status: number;
    body: unknown;
    type: string;
    oidc: {
      readonly client?: OidcClient;
      readonly session?: OidcSession;
      readonly params?: UnknownObject;
      readonly result?: { consent?: { grantId?: string } };
      readonly provider: Provider;
      entity(name: string, value: unknown): void;
    };
  }

  export interface InteractionDetails {
    readonly uid: string;
    readonly params: UnknownObject;
    readonly prompt: { name: string };
    readonly grantId?: string;
    readonly session?: { accountId?: string };
  }

  export default class Provider {
    constructor(issuer: string, configuration: UnknownObject);
    proxy: boolean;
    readonly Grant: {
      new (init: { clientId: string; accountId: string }): Grant;
      find(id: string): Promise<Grant | undefined>;
    };
    readonly AccessToken: {
      new (init: UnknownObject): OidcToken;
      find(value: string): Promise<OidcToken | undefined>;
    };
    readonly ClientCredentials: { find(value: string): Promise<OidcToken | undefined> };
    readonly RefreshToken: { find(value: string): Promise<(OidcToken & { consumed?: unknown }) | undefined> };
    registerGrantType(name: string, handler: (ctx: KoaContextWithOIDC) => Promise<void>, params?: string[]): void;
    use(middleware: (ctx: KoaContextWithOIDC, next: () => Promise<void>) => Promise<void>): void;
    callback(): (request: IncomingMessage, response: ServerResponse) => Promise<void>;
    interactionDetails(request: IncomingMessage, response: ServerResponse): Promise<InteractionDetails>;
    interactionFinished(
      request: IncomingMessage,
      response: ServerResponse,
      result: UnknownObject,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<void>;
  }

  type OidcErrorClass = new (description?: string, detail?: string) => Error;
  export const errors: { InvalidGrant: OidcErrorClass; InvalidRequest: OidcErrorClass; InvalidScope: OidcErrorClass };
}
