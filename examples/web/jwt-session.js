// JWT session: caller token -> Qlik JWT from the token vending -> Qlik session cookie -> then Qlik's own
// client, @qlik/api with authType "cookie", reads the CSRF token and users/me with that session.
// Qlik's steps (qlik.dev "Implement JWT Authorization"): POST /login/jwt-session with the JWT as a bearer,
// the web integration ID header and credentials; then GET /api/v1/csrf-token before content requests.
// @qlik/api has no "jwt" auth type (its auth types: apikey, cookie, none, noauth, oauth2, anonymous, pfx,
// windowscookie, reference), so the session is opened with a plain fetch and then used as a cookie session.
import { getCsrfToken } from '@qlik/api/csrf-token.js';
import { getMyUser } from '@qlik/api/users.js';
import { call, onSubmit, qlikStep, reason, SERVICES, showUser, signIn, step } from './common.js';

const form = document.getElementById('sign-in');

onSubmit(form, async ({ api, tenant, webIntegrationId }) => {
  const callerToken = await signIn(api, form);

  // 1. A short-lived Qlik JWT for the signed-in caller (the token vending maps the identity).
  const vended = await call(
    'get Qlik JWT',
    `${api}/qlik/jwt`,
    { method: 'POST', headers: { authorization: `Bearer ${callerToken}` } },
    SERVICES.api,
  );
  if (!vended.ok) step('get Qlik JWT', false, await reason(vended));
  const { token, expiresAt } = await vended.json();
  step('get Qlik JWT', true, `valid until ${expiresAt}`);

  // 2. Trade it for a Qlik session cookie. credentials: 'include' lets the browser keep the cookie.
  const login = await call(
    'Qlik session',
    `${tenant}/login/jwt-session`,
    {
      method: 'POST',
      credentials: 'include',
      headers: { 'qlik-web-integration-id': webIntegrationId, authorization: `Bearer ${token}` },
    },
    SERVICES.tenantCookie,
  );
  if (!login.ok) step('Qlik session', false, await reason(login));
  step('Qlik session', true, 'session cookie set by the tenant');

  // 3. From here on Qlik's client uses the session: cookies, the web integration ID, and the CSRF token
  //    (which @qlik/api itself fetches and sends on every modifying request).
  const hostConfig = { host: tenant, authType: 'cookie', webIntegrationId };
  const headerNames = ['qlik-web-integration-id', 'qlik-api-version'];
  const csrf = await qlikStep(
    'CSRF token',
    tenant,
    `${tenant}/api/v1/csrf-token`,
    SERVICES.tenantCookie,
    headerNames,
    () => getCsrfToken({ hostConfig, noCache: true }),
  );
  const csrfToken = csrf.headers.get('qlik-csrf-token');
  step('CSRF token', csrfToken !== null, csrfToken === null ? 'no qlik-csrf-token header' : 'received');

  // 4. Who does Qlik think we are?
  const me = await qlikStep('users/me', tenant, `${tenant}/api/v1/users/me`, SERVICES.tenantCookie, headerNames, () =>
    getMyUser({ hostConfig, noCache: true, headers: { 'qlik-csrf-token': csrfToken } }),
  );
  step('users/me', true, `signed in to Qlik as ${me.data.subject}`);
  showUser(me.data);
});
