// Shared by the two example pages: settings, the dev sign-in and a step log on the page.
// Plain ES module, no build step: copy it and replace signIn() with your identity provider's login.

/**
 * Where things are. Each value comes from the page's query string first (?api=…&tenant=…&webIntegrationId=…),
 * then from the form fields, so the same files work against the dev server, the tenant emulator and a real tenant.
 */
export function settings(form) {
  const query = new URLSearchParams(location.search);
  for (const name of ['api', 'tenant', 'webIntegrationId']) {
    const value = query.get(name);
    if (value !== null && form.elements[name]) form.elements[name].value = value;
  }
  const trim = (name) => (form.elements[name]?.value ?? '').trim().replace(/\/+$/, '');
  return { api: trim('api'), tenant: trim('tenant'), webIntegrationId: trim('webIntegrationId') };
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
  const response = await fetch(`${api}/dev/identity/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
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
