/** Reads the admin Qlik OAuth client's credentials from Secrets Manager, once per container. */
import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError } from '../errors.js';
import type { QlikClientCredentials } from '../qlik/identity-providers.js';

/** Returns a loader that fetches `{"clientId","clientSecret"}` on first use and keeps it. */
export function adminCredentialsLoader(
  client: SecretsManagerClient,
  secretId: string,
): () => Promise<QlikClientCredentials> {
  let loaded: Promise<QlikClientCredentials> | undefined;
  return () => {
    loaded ??= (async () => {
      const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
      let parsed: unknown;
      try {
        parsed = JSON.parse(out.SecretString ?? '');
      } catch {
        parsed = undefined;
      }
      const record = (parsed ?? {}) as Record<string, unknown>;
      if (typeof record.clientId !== 'string' || typeof record.clientSecret !== 'string')
        throw new ConfigError(
          [`secret ${secretId} must be JSON {"clientId": "...", "clientSecret": "..."}`],
          'Qlik admin credentials',
        );
      return { clientId: record.clientId, clientSecret: record.clientSecret };
    })().catch((error: unknown) => {
      loaded = undefined; // retry on the next call
      throw error;
    });
    return loaded;
  };
}
