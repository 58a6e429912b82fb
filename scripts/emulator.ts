/**
 * `npm run emulator`: a Qlik Cloud tenant emulator on http://127.0.0.1:8788 with a seeded demo user,
 * clients and web integration, so the OAuth and JWT flows can be run by hand. Settings come from
 * loadEmulatorSettings (EMULATOR_PORT, EMULATOR_HOST, EMULATOR_REDIRECT_URIS, EMULATOR_ORIGINS,
 * EMULATOR_ADMIN_API_KEY). Test-only tool: never point a real app's secrets at it.
 */

import { ConfigError } from '../functions/errors.js';
import { loadEmulatorSettings } from '../functions/runtime/config.js';
import { ADMIN_SCOPE, startTenantEmulator } from '../test/support/tenant-emulator/index.js';

/** The seeded demo fixtures (fixed, so a hand-run flow can be copied from the docs). */
export const EMULATOR_DEMO = {
  user: { subject: 'demo-user', name: 'Demo User', email: 'demo@example.com', roles: ['TenantAdmin'] },
  webClient: { clientId: 'demo-web-client', secret: 'demo-web-secret' },
  impersonationClient: { clientId: 'demo-m2m-client', secret: 'demo-m2m-secret' },
  adminClient: { clientId: 'demo-admin-client', secret: 'demo-admin-secret' },
  webIntegrationId: 'demo-web-integration',
} as const;

async function main() {
  const settings = loadEmulatorSettings();
  const tenant = await startTenantEmulator({
    host: settings.host,
    port: settings.port,
    ...(settings.adminApiKey ? { adminApiKey: settings.adminApiKey } : {}),
    users: [EMULATOR_DEMO.user],
    clients: [
      {
        clientId: EMULATOR_DEMO.webClient.clientId,
        name: 'Demo web app',
        secrets: [EMULATOR_DEMO.webClient.secret],
        redirectUris: settings.redirectUris,
      },
      {
        clientId: EMULATOR_DEMO.impersonationClient.clientId,
        name: 'Demo impersonation backend',
        secrets: [EMULATOR_DEMO.impersonationClient.secret],
        impersonation: true,
        // Qlik's M2M impersonation guide: the browser app's origin goes in the client's Allowed origins.
        allowedOrigins: [...settings.origins],
      },
      {
        clientId: EMULATOR_DEMO.adminClient.clientId,
        name: 'Demo admin',
        secrets: [EMULATOR_DEMO.adminClient.secret],
        admin: true,
      },
    ],
    webIntegrations: [{ id: EMULATOR_DEMO.webIntegrationId, validOrigins: [...settings.origins] }],
  });
  const lines = [
    `Qlik tenant emulator on ${tenant.url}  (tenant host ${tenant.tenantHost}, tenant id ${tenant.tenantId})`,
    `  demo user           subject=${EMULATOR_DEMO.user.subject}`,
    `  web client          ${EMULATOR_DEMO.webClient.clientId} / ${EMULATOR_DEMO.webClient.secret}  redirect URIs: ${settings.redirectUris.join(', ')}`,
    `  impersonation M2M   ${EMULATOR_DEMO.impersonationClient.clientId} / ${EMULATOR_DEMO.impersonationClient.secret}`,
    `  admin M2M           ${EMULATOR_DEMO.adminClient.clientId} / ${EMULATOR_DEMO.adminClient.secret}  (scope ${ADMIN_SCOPE})`,
    `  admin API key       ${tenant.adminApiKey}`,
    `  web integration     ${EMULATOR_DEMO.webIntegrationId}  origins: ${settings.origins.join(', ')}`,
    '',
    'Try:',
    `  curl -s ${tenant.url}/oauth/token -H 'content-type: application/json' -d '{"grant_type":"urn:qlik:oauth:user-impersonation","client_id":"${EMULATOR_DEMO.impersonationClient.clientId}","client_secret":"${EMULATOR_DEMO.impersonationClient.secret}","scope":"user_default","user_lookup":{"field":"subject","value":"${EMULATOR_DEMO.user.subject}"}}'`,
    `  curl -s ${tenant.url}/api/v1/identity-providers -H 'authorization: Bearer ${tenant.adminApiKey}'`,
    `  open ${tenant.url}/oauth/authorize?response_type=code&client_id=${EMULATOR_DEMO.webClient.clientId}&redirect_uri=${encodeURIComponent(settings.redirectUris[0] ?? '')}&scope=user_default&code_challenge=<S256>&code_challenge_method=S256`,
    'Ctrl-C stops it.',
  ];
  console.log(lines.join('\n'));
  const stop = () => {
    tenant.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : `emulator failed to start: ${(error as Error).message}`);
  process.exit(1);
});
