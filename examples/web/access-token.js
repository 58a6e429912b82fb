// OAuth impersonation with Qlik's own client: @qlik/api (the library qlik-embed takes its auth from) is given
// authType "oauth2" and the name of window.getAccessToken. It calls that function when it needs a Qlik
// access token, attaches the token to its requests, and after a 401 drops the token and calls it again
// (@qlik/api 2.19: auth module "oauth2", getOAuthTokensForBrowser / handleAuthenticationError; docs/frontend.md).
// @qlik/api loads its auth code from the tenant (<tenant>/qlik-embed/main.js); the import map in
// access-token.html says where the @qlik/api package itself comes from.
import { getMyUser } from '@qlik/api/users.js';
import { call, onSubmit, qlikStep, reason, SERVICES, showUser, signIn, step } from './common.js';

const form = document.getElementById('sign-in');
let callerToken;
let apiUrl;
let hostConfig;
let calls = 0;
/** When the last token this page handed out expires (ms since epoch). */
let lastExpiresAtMs;

/**
 * The qlik-embed / @qlik/api callback (data-get-access-token="getAccessToken"): resolves to the raw
 * Qlik access token. Qlik's clients keep the token they got and call this again only when they need a
 * new one, i.e. after Qlik answered 401. So a call while the last token should still be valid means Qlik
 * refused it (revoked, user changed): then `Cache-Control: no-cache` tells the token vending not to
 * answer from its cache.
 */
window.getAccessToken = async () => {
  calls += 1;
  const refused = lastExpiresAtMs !== undefined && Date.now() < lastExpiresAtMs;
  const response = await call(
    'getAccessToken()',
    `${apiUrl}/qlik/access-token`,
    {
      method: 'POST',
      headers: {
        authorization: `Bearer ${callerToken}`,
        accept: 'application/json',
        ...(refused ? { 'cache-control': 'no-cache' } : {}),
      },
    },
    SERVICES.api,
  );
  if (!response.ok) step('getAccessToken()', false, await reason(response));
  const { accessToken, expiresAt } = await response.json();
  lastExpiresAtMs = Date.parse(expiresAt);
  step(
    'getAccessToken()',
    true,
    refused
      ? `call ${calls}: the last token was refused while still valid, so a fresh one was asked for (Cache-Control: no-cache)`
      : `call ${calls}: Qlik access token received (opaque: not parsed)`,
  );
  return accessToken;
};

/** users/me through @qlik/api (which calls window.getAccessToken() when it needs a token). */
async function usersMe(stepName) {
  const url = `${hostConfig.host}/api/v1/users/me`;
  // @qlik/api's oauth2 requests carry these two headers (its auth module's Authorization, and
  // qlik-api-version on every call): named if the tenant's preflight refuses them.
  const response = await qlikStep(
    stepName,
    hostConfig.host,
    url,
    SERVICES.tenantOAuth,
    ['authorization', 'qlik-api-version'],
    () => getMyUser({ hostConfig, noCache: true }),
  );
  return response.data;
}

onSubmit(form, async ({ api, tenant, clientId }) => {
  apiUrl = api;
  calls = 0;
  lastExpiresAtMs = undefined;
  callerToken = await signIn(api, form);
  hostConfig = { host: tenant, authType: 'oauth2', clientId, getAccessToken: 'getAccessToken' };
  const user = await usersMe('users/me');
  step('users/me', true, `Qlik answers as ${user.subject}`);
  showUser(user);
});

// "Ask Qlik again": what any later qlik-embed / @qlik/api request does, with the token it holds.
document.getElementById('again').addEventListener('click', async () => {
  document.body.dataset.state = 'running';
  try {
    const user = await usersMe('users/me again');
    step('users/me again', true, `Qlik answers as ${user.subject}`);
    showUser(user);
  } catch (error) {
    document.body.dataset.state = 'failed';
    document.getElementById('error').textContent = String(error?.message ?? error);
  }
});
