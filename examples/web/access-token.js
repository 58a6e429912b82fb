// OAuth impersonation with Qlik's own client: @qlik/api (the same code qlik-embed runs) is given
// authType "oauth2" and the name of window.getAccessToken. It calls that function when it needs a Qlik
// access token, attaches the token to its requests, and after a 401 drops the token and calls it again
// (@qlik/api 2.19: auth module "oauth2", getOAuthTokensForBrowser / handleAuthenticationError; docs/frontend.md).
// @qlik/api loads its auth code from the tenant (<tenant>/qlik-embed/main.js); the import map in
// access-token.html says where the @qlik/api package itself comes from.
import { getMyUser } from '@qlik/api/users.js';
import { call, describe, diagnose, onSubmit, reason, SERVICES, showUser, signIn, step } from './common.js';

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

/** @qlik/api's users/me, with the page's own account of a failure that has no HTTP status. */
async function usersMe() {
  const mainJs = `${hostConfig.host}/qlik-embed/main.js`;
  const usersMeUrl = `${hostConfig.host}/api/v1/users/me`;
  // @qlik/api waits forever when the tenant's main.js does not load (it only logs "Qlik runtime system
  // not found"): watch the script element it adds and fail the step instead.
  const runtimeMissing = new Promise((_, reject) => {
    const onError = (event) => {
      if (event.target?.src === mainJs) reject(Object.assign(new Error('main.js did not load'), { status: 0 }));
    };
    window.addEventListener('error', onError, true);
  });
  try {
    const response = await Promise.race([getMyUser({ hostConfig, noCache: true }), runtimeMissing]);
    return response.data;
  } catch (error) {
    // InvokeFetchError: status 0 = no HTTP answer reached the page ("Failed to fetch").
    // @qlik/api's oauth2 requests carry these two headers (invoke-fetch: Authorization from the auth
    // module, qlik-api-version on every call): name them if the tenant's preflight refuses them.
    if (error?.status === 0)
      return step(
        'users/me',
        false,
        await diagnose(usersMeUrl, SERVICES.tenantOAuth, ['authorization', 'qlik-api-version']),
      );
    return step('users/me', false, describe(error));
  }
}

onSubmit(form, async ({ api, tenant, clientId }) => {
  apiUrl = api;
  calls = 0;
  lastExpiresAtMs = undefined;
  callerToken = await signIn(api, form);
  hostConfig = { host: tenant, authType: 'oauth2', clientId, getAccessToken: 'getAccessToken' };
  const user = await usersMe();
  step('users/me', true, `Qlik answers as ${user.subject}`);
  showUser(user);
});

// "Ask Qlik again": what any later qlik-embed / @qlik/api request does, with the token it holds.
document.getElementById('again').addEventListener('click', async () => {
  document.body.dataset.state = 'running';
  try {
    const user = await usersMe();
    step('users/me again', true, `Qlik answers as ${user.subject}`);
    showUser(user);
  } catch (error) {
    document.body.dataset.state = 'failed';
    document.getElementById('error').textContent = String(error?.message ?? error);
  }
});
