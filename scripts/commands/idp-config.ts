/**
 * `qtv idp config`: the values for Qlik's JWT identity provider (console fields, or the JSON body of
 * `POST /api/v1/identity-providers`), built by the idp-config handler's core, never duplicated here.
 * API shape: https://qlik.dev/apis/rest/identity-providers/
 */
import { idpSourceOptions, resolveIdpConfig } from '../cli/idp-source.js';
import { type Command, EXIT, jsonText, parseCommandArgs } from '../cli/support.js';

const help = `qtv idp config: print what to enter in Qlik's JWT identity provider

usage: qtv idp config (--api-url URL | --key-file FILE --issuer ISS [--keyid KID] [--cert-file FILE] | --secret-id S | --kms KEY-ID --issuer ISS)
                      [--tenant-id ID] [--clock-tolerance SECONDS] [--json]

  --api-url URL        ask a running token API (GET /qlik/idp-config)
  --key-file FILE      or use a local key (also --key, --secret-id, --kms, env QTV_PRIVATE_KEY) with --issuer
  --cert-file FILE     the certificate to register (default: stored with the key, else a self-signed one is made)
  --tenant-id ID       add tenantIds to the JSON body
  --clock-tolerance S  add clockToleranceSec to the JSON body
  --json               print the JSON body for POST https://<tenant>/api/v1/identity-providers

Console: Management Console > Identity providers > Create new > Type: JWT; paste Issuer, Key ID, Certificate.

examples:
  qtv idp config --key-file privatekey.pem --cert-file publickey.cer --issuer https://qtv.example.com --keyid qtv-2026-11
  qtv idp config --api-url https://abc123.execute-api.eu-west-1.amazonaws.com --json > idp.json
`;

/** `qtv idp config`. */
export const idpConfigCommand: Command = {
  name: 'idp config',
  summary: 'print the Qlik JWT IdP settings (console values, or the REST API body with --json)',
  help,
  async run(argv, io) {
    const { values } = parseCommandArgs('idp config', argv, {
      ...idpSourceOptions,
      json: { type: 'boolean', default: false },
    });
    const config = await resolveIdpConfig(values, io);
    if (values.json) io.stdout(jsonText(config.identityProviderRequest));
    else
      io.stdout(
        [
          'Qlik Management Console > Identity providers > Create new > Type: JWT',
          `Issuer:      ${config.issuer}`,
          `Key ID:      ${config.keyId}`,
          `Certificate (${config.certificateSource}):`,
          config.certificate.trim(),
          '',
        ].join('\n'),
      );
    return EXIT.ok;
  },
};
