// Shared by the two example pages: settings, the dev sign-in and a step log on the page.
// Plain ES module, no build step: copy it and replace signIn() with your identity provider's login.

/**
 * Where things are. Each value comes from the page's query string first (?api=…&tenant=…&webIntegrationId=…&clientId=…),
 * then from the form fields, so the same files work against the dev server, the tenant emulator and a real tenant.
 */
export function settings(form) {
  const query = new URLSearchParams(location.search);
  for (const name of ['api', 'tenant', 'webIntegrationId', 'clientId']) {
    const value = query.get(name);
    if (value !== null && form.elements[name]) form.elements[name].value = value;
  }
  const trim = (name) => (form.elements[name]?.value ?? '').trim().replace(/\/+$/, '');
  return {
    api: trim('api'),
    tenant: trim('tenant'),
    webIntegrationId: trim('webIntegrationId'),
    clientId: trim('clientId'),
  };
}

/** Appends one step's result to the page's step list; `ok` false marks the step failed. */
export function step(name, ok, detail) {
  const item = document.createElement('li');
  item.dataset.step = name;
  item.dataset.ok = String(ok);
  item.textContent = `${ok ? 'OK' : 'FAILED'} ${name}: ${detail}`;
  document.getElementById('steps').append(item);
  if (!ok) throw new Error(`${name}: ${detail}`);
}

/** Reads a failed response without trusting its shape (problem+json, Qlik's errors[] or text). */
export async function reason(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    return `${response.status} ${body.code ?? body.errors?.[0]?.code ?? body.error ?? ''} ${body.detail ?? body.errors?.[0]?.detail ?? body.error_description ?? ''}`.trim();
  } catch {
    return `${response.status} ${text.slice(0, 200)}`;
  }
}

/**
 * The services a page talks to, with the settings a newcomer gets wrong most often. `fix` names the
 * setting that lets this page's origin in; `start` says how to bring the service up locally.
 */
export const SERVICES = {
  api: {
    name: 'token vending API',
    field: 'Token vending API',
    start: 'npm start (dev server, port 8787 by default)',
    allow: (origin) =>
      `add ${origin} to cors.allowedOrigins in the token vending's config (deployed: redeploy the stack)`,
  },
  tenantCookie: {
    name: 'Qlik tenant',
    field: 'Qlik tenant',
    start: 'npm run emulator (tenant emulator, port 8788 by default)',
    allow: (origin) =>
      `add ${origin} to the web integration's allowed origins (Management Console > Integrations > Web; emulator: EMULATOR_ORIGINS)`,
  },
  tenantOAuth: {
    name: 'Qlik tenant',
    field: 'Qlik tenant',
    start: 'npm run emulator (tenant emulator, port 8788 by default)',
    allow: (origin) =>
      `add ${origin} to the OAuth client's Allowed origins (Management Console > OAuth > your impersonation client; emulator: EMULATOR_ORIGINS)`,
  },
};

/**
 * Why a browser request failed before any HTTP status came back ("Failed to fetch"). The browser hides
 * the reason on purpose; two follow-up requests to the same URL tell the common cases apart:
 * 1. a `no-cors` request fails too when nothing answers at that address (wrong URL or port, service
 *    down), and succeeds with an opaque response when something answered;
 * 2. a plain CORS GET without extra headers is readable when the page's origin is allowed, so then the
 *    original request's extra headers (or method) are what the server's CORS settings refuse.
 * `headerNames` are the original request's header names, to name them in that last case.
 */
export async function diagnose(url, service, headerNames = []) {
  const target = new URL(url);
  const reachable = await fetch(url, { mode: 'no-cors', cache: 'no-store' }).then(
    () => true,
    () => false,
  );
  if (!reachable)
    return `cannot reach the ${service.name} at ${target.origin}: nothing answers there (wrong URL or port, or not running). Fix: check the "${service.field}" field and that it runs (${service.start}).`;
  const originAllowed = await fetch(url, { mode: 'cors', cache: 'no-store' }).then(
    () => true,
    () => false,
  );
  if (originAllowed && headerNames.length > 0)
    return `the ${service.name} at ${target.origin} allows this page's origin, but its CORS preflight refused this request's headers (${headerNames.join(', ')}). Fix: allow those request headers in the ${service.name}'s CORS settings.`;
  return `the ${service.name} at ${target.origin} answered, but the browser blocked the response (CORS): most likely this page's origin ${location.origin} is not allowed there. Fix: ${service.allow(location.origin)}.`;
}

/**
 * Runs one @qlik/api call for a step. @qlik/api loads its runtime from `<tenant>/qlik-embed/main.js` and
 * waits forever when that script does not load (it only logs "Qlik runtime system not found"), so this
 * watches the script element it adds and fails the step instead. A failure with no HTTP answer
 * (`status` 0, "Failed to fetch") is explained by {@link diagnose}; `headerNames` are the headers
 * @qlik/api sends on that call, named if the tenant's preflight refuses them.
 */
export async function qlikStep(stepName, tenant, url, service, headerNames, run) {
  const mainJs = `${tenant}/qlik-embed/main.js`;
  let onError;
  const runtimeMissing = new Promise((_, reject) => {
    onError = (event) => {
      if (event.target?.src === mainJs)
        reject(Object.assign(new Error('Qlik runtime did not load'), { runtime: true }));
    };
    window.addEventListener('error', onError, true);
  });
  try {
    return await Promise.race([run(), runtimeMissing]);
  } catch (error) {
    if (error?.runtime) {
      const reachable = await fetch(mainJs, { mode: 'no-cors', cache: 'no-store' }).then(
        () => true,
        () => false,
      );
      if (!reachable) return step(stepName, false, await diagnose(url, service, headerNames));
      return step(
        stepName,
        false,
        `the ${service.name} at ${new URL(tenant).origin} answered, but Qlik's runtime ${mainJs} did not load as a script. Fix: the "${service.field}" field must be the tenant itself (https://<tenant>.<region>.qlikcloud.com), without a path.`,
      );
    }
    if (error?.status === 0) return step(stepName, false, await diagnose(url, service, headerNames));
    return step(stepName, false, describe(error));
  } finally {
    window.removeEventListener('error', onError, true);
  }
}

/**
 * fetch() for one step: a network-level failure ("Failed to fetch") becomes a failed step that names
 * the likely cause and the fix ({@link diagnose}); any HTTP answer is returned to the caller.
 */
export async function call(stepName, url, init, service) {
  try {
    return await fetch(url, init);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return step(stepName, false, await diagnose(url, service, Object.keys(init?.headers ?? {})));
  }
}

/** One line for an error from @qlik/api: its HTTP status, Qlik's error code and detail when there are some. */
export function describe(error) {
  const first = error?.data?.errors?.[0] ?? error?.errors?.[0];
  const status = error?.status || first?.status || '';
  return `${status} ${first?.code || ''} ${first?.detail || first?.title || error?.message || String(error)}`
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Signs in with the dev server's identity provider (POST /dev/identity/token). In your app this is your
 * own login (Cognito, Entra ID, Okta …): all the token vending needs is that provider's access/ID token.
 */
export async function signIn(api, form) {
  const groups = form.elements.groups.value
    .split(',')
    .map((g) => g.trim())
    .filter(Boolean);
  const body = { sub: form.elements.sub.value.trim() };
  if (form.elements.name.value.trim()) body.name = form.elements.name.value.trim();
  if (form.elements.email.value.trim()) body.email = form.elements.email.value.trim();
  if (groups.length > 0) body.groups = groups;
  const response = await call(
    'sign in',
    `${api}/dev/identity/token`,
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
    SERVICES.api,
  );
  if (!response.ok) step('sign in', false, await reason(response));
  const { id_token: callerToken } = await response.json();
  step('sign in', true, `caller token for ${body.sub}`);
  return callerToken;
}

/** Shows the user Qlik answered for (/api/v1/users/me). */
export function showUser(user) {
  document.getElementById('user-subject').textContent = user.subject;
  document.getElementById('user-name').textContent = user.name;
  document.getElementById('user-email').textContent = user.email ?? '';
  document.getElementById('user-id').textContent = user.id;
  document.body.dataset.state = 'done';
}

/** Runs `flow` on submit; a failure is shown on the page (data-state="failed"), never swallowed. */
export function onSubmit(form, flow) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    document.getElementById('steps').replaceChildren();
    document.body.dataset.state = 'running';
    try {
      await flow(settings(form));
    } catch (error) {
      document.body.dataset.state = 'failed';
      document.getElementById('error').textContent = String(error?.message ?? error);
    }
  });
  settings(form);
}
