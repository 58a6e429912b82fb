/**
 * Cold-start anchor (issue #15): the smallest Lambda that vends a signed JWT with node:crypto alone. The
 * key is a PEM file read and parsed at init; the handler signs `{sub, iat, exp}` with RS256. No SDK, no
 * validation, no logging: what any token function pays at the least. Bundled and run by
 * scripts/bench/cold-start.ts exactly like our functions. It reads its environment directly because it
 * stands for code outside this project (the one-config-loader rule is ours).
 */
import { createPrivateKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';

const key = createPrivateKey(readFileSync(process.env.ANCHOR_KEY_PATH ?? '', 'utf8'));
const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'anchor' })).toString('base64url');

export const handler = async (event: { requestContext?: { authorizer?: { jwt?: { claims?: { sub?: string } } } } }) => {
  const now = Math.floor(Date.now() / 1000);
  const sub = event.requestContext?.authorizer?.jwt?.claims?.sub ?? 'anonymous';
  const input = `${header}.${Buffer.from(JSON.stringify({ sub, iat: now, exp: now + 300 })).toString('base64url')}`;
  const token = `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}`;
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) };
};
