/**
 * Cold-start anchor (issue #15): the smallest Lambda that vends a signed JWT with its key in Secrets
 * Manager, the way a hand-written function would: a SecretsManagerClient made at init, the key fetched
 * (GetSecretValue) and parsed on the first request and kept, then one RS256 signature. No validation,
 * no logging, no tracing. Bundled and run by scripts/bench/cold-start.ts exactly like our functions
 * (the whole SDK client bundled, as the TokenFunction construct does). It reads its environment directly
 * because it stands for code outside this project (the one-config-loader rule is ours).
 */
import { createPrivateKey, type KeyObject, sign } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

const client = new SecretsManagerClient({});
const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'anchor' })).toString('base64url');
let key: KeyObject | undefined;

export const handler = async (event: { requestContext?: { authorizer?: { jwt?: { claims?: { sub?: string } } } } }) => {
  if (key === undefined) {
    const secret = await client.send(new GetSecretValueCommand({ SecretId: process.env.ANCHOR_SECRET_ID }));
    key = createPrivateKey(secret.SecretString ?? '');
  }
  const now = Math.floor(Date.now() / 1000);
  const sub = event.requestContext?.authorizer?.jwt?.claims?.sub ?? 'anonymous';
  const input = `${header}.${Buffer.from(JSON.stringify({ sub, iat: now, exp: now + 300 })).toString('base64url')}`;
  const token = `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) };
};
