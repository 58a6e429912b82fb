// OAuth impersonation: qlik-embed and @qlik/api call window.getAccessToken() whenever they need a Qlik
// access token (again after a 401) and want a Promise<string> with the raw token. Here it asks the token
// vending's POST /qlik/access-token as text/plain, with the caller's token as the bearer.
import { onSubmit, reason, showUser, signIn, step } from './common.js';

const form = document.getElementById('sign-in');
let callerToken;
let apiUrl;

/** The qlik-embed callback (data-get-access-token="getAccessToken"). */
window.getAccessToken = async () => {
  const response = await fetch(`${apiUrl}/qlik/access-token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${callerToken}`, accept: 'text/plain' },
  });
  if (!response.ok) throw new Error(`access token: ${await reason(response)}`);
  return response.text();
};

onSubmit(form, async ({ api, tenant }) => {
  apiUrl = api;
  callerToken = await signIn(api, form);

  const accessToken = await window.getAccessToken().catch((error) => step('getAccessToken()', false, error.message));
  step('getAccessToken()', true, 'Qlik access token received (opaque: not parsed)');

  // Bearer tokens need no cookie, web integration ID or CSRF token.
  const me = await fetch(`${tenant}/api/v1/users/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  if (!me.ok) step('users/me', false, await reason(me));
  const user = await me.json();
  step('users/me', true, `Qlik answers as ${user.subject}`);
  showUser(user);
});
