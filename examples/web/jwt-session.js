// JWT session: caller token -> Qlik JWT from the token vending -> Qlik session cookie -> CSRF token -> users/me.
// Qlik's steps (qlik.dev "Implement JWT Authorization"): POST /login/jwt-session with the JWT as a bearer,
// the web integration ID header and credentials; then GET /api/v1/csrf-token before content requests.
import { onSubmit, reason, showUser, signIn, step } from './common.js';

const form = document.getElementById('sign-in');

onSubmit(form, async ({ api, tenant, webIntegrationId }) => {
  const callerToken = await signIn(api, form);

  // 1. A short-lived Qlik JWT for the signed-in caller (the token vending maps the identity).
  const vended = await fetch(`${api}/qlik/jwt`, {
    method: 'POST',
    headers: { authorization: `Bearer ${callerToken}` },
  });
  if (!vended.ok) step('get Qlik JWT', false, await reason(vended));
  const { token, expiresAt } = await vended.json();
  step('get Qlik JWT', true, `valid until ${expiresAt}`);

  // 2. Trade it for a Qlik session cookie. credentials: 'include' lets the browser keep the cookie.
  const qlikHeaders = { 'qlik-web-integration-id': webIntegrationId };
  const login = await fetch(`${tenant}/login/jwt-session`, {
    method: 'POST',
    credentials: 'include',
    headers: { ...qlikHeaders, authorization: `Bearer ${token}` },
  });
  if (!login.ok) step('Qlik session', false, await reason(login));
  step('Qlik session', true, 'session cookie set by the tenant');

  // 3. The CSRF token comes back in a response header; send it on content requests.
  const csrf = await fetch(`${tenant}/api/v1/csrf-token`, { credentials: 'include', headers: qlikHeaders });
  if (!csrf.ok) step('CSRF token', false, await reason(csrf));
  const csrfToken = csrf.headers.get('qlik-csrf-token');
  step('CSRF token', csrfToken !== null, csrfToken === null ? 'no qlik-csrf-token header' : 'received');

  // 4. Who does Qlik think we are?
  const me = await fetch(`${tenant}/api/v1/users/me`, {
    credentials: 'include',
    headers: { ...qlikHeaders, 'qlik-csrf-token': csrfToken },
  });
  if (!me.ok) step('users/me', false, await reason(me));
  const user = await me.json();
  step('users/me', true, `signed in to Qlik as ${user.subject}`);
  showUser(user);
});
