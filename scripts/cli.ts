/**
 * `qtv`: keys, certificates, Qlik JWTs, diagnosis and tenant setup for qlik-token-vending.
 * `npx qtv <command>` or `npm run cli -- <command>`; one subcommand per file under scripts/commands/.
 * Errors are one line on stderr (`qtv: ... : <fix>`); exit codes are in scripts/cli/support.ts and docs/cli.md.
 */

import { CliError, type CliIo, type Command, closestName, EXIT, type ExitCode } from './cli/support.js';

/** A command's name and summary, with its module loaded only when it runs (keeps startup short). */
interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  readonly load: () => Promise<Command>;
}

/** Every command, in the order `qtv --help` lists them. */
export const commands: readonly CommandEntry[] = [
  {
    name: 'keys create',
    summary: 'make an RSA key, public key and self-signed certificate (files as qs-jwt names them)',
    load: async () => (await import('./commands/keys-create.js')).keysCreateCommand,
  },
  {
    name: 'keys convert',
    summary: 'PKCS#1 <-> PKCS#8, PEM <-> JWK; RFC 7638 thumbprint and certificate SHA-256',
    load: async () => (await import('./commands/keys-convert.js')).keysConvertCommand,
  },
  {
    name: 'keys cert',
    summary: 'make a self-signed certificate for an AWS KMS key (signed by KMS, for the Qlik IdP)',
    load: async () => (await import('./commands/keys-cert.js')).keysCertCommand,
  },
  {
    name: 'token',
    summary: 'mint a Qlik JWT (qs-jwt-compatible flags, without its traps)',
    load: async () => (await import('./commands/token.js')).tokenCommand,
  },
  {
    name: 'create-qscloud',
    summary: "qs-jwt's create-qscloud: key (with --cert-create true) and a Qlik Cloud JWT in one go",
    load: async () => (await import('./commands/create-qscloud.js')).createQsCloudCommand,
  },
  {
    name: 'inspect',
    summary: 'check a JWT against every Qlik rule, with fixes; verify its signature',
    load: async () => (await import('./commands/inspect.js')).inspectCommand,
  },
  {
    name: 'secret put',
    summary: 'store a key (+ kid, issuer, certificate) in Secrets Manager as the token API reads it',
    load: async () => (await import('./commands/secret-put.js')).secretPutCommand,
  },
  {
    name: 'secret show',
    summary: 'describe a key secret: ARN, versions, kid, issuer, key size, certificate expiry (never the key)',
    load: async () => (await import('./commands/secret-show.js')).secretShowCommand,
  },
  {
    name: 'idp config',
    summary: 'print the Qlik JWT IdP settings (console values, or the REST API body with --json)',
    load: async () => (await import('./commands/idp-config.js')).idpConfigCommand,
  },
  {
    name: 'idp push',
    summary: 'create the JWT identity provider on a Qlik tenant (REST API, admin credential)',
    load: async () => (await import('./commands/idp-push.js')).idpPushCommand,
  },
  {
    name: 'tenant add',
    summary: 'onboard a tenant: its key, its Qlik JWT IdP (REST API) and its registry item; --dry-run',
    load: async () => (await import('./commands/tenant-add.js')).tenantAddCommand,
  },
  {
    name: 'tenant list',
    summary: 'list the tenants in the registry (id, status, validity, key, Qlik host)',
    load: async () => (await import('./commands/tenant-admin.js')).tenantListCommand,
  },
  {
    name: 'tenant show',
    summary: "print one tenant's registry item and whether the token functions accept it",
    load: async () => (await import('./commands/tenant-admin.js')).tenantShowCommand,
  },
  {
    name: 'tenant suspend',
    summary: 'suspend a tenant (403 TENANT_SUSPENDED within one cache TTL); --resume to undo',
    load: async () => (await import('./commands/tenant-admin.js')).tenantSuspendCommand,
  },
  {
    name: 'tenant rotation',
    summary: "rotate a tenant's key secret with the deployment's rotation function (RotateSecret)",
    load: async () => (await import('./commands/tenant-rotation.js')).tenantRotationCommand,
  },
  {
    name: 'tenant remove',
    summary: "delete a tenant's registry item (its key and Qlik IdP are left for you to delete)",
    load: async () => (await import('./commands/tenant-admin.js')).tenantRemoveCommand,
  },
  {
    name: 'caller-token',
    summary: "sign in to the stack's Cognito pool (SRP + TOTP MFA) and print the ID token (smoke test, doctor)",
    load: async () => (await import('./commands/caller-token.js')).callerTokenCommand,
  },
  {
    name: 'doctor',
    summary: 'diagnose a stack end to end: API, caller token, Qlik JWT, rules, IdP settings, Qlik session',
    load: async () => (await import('./commands/doctor.js')).doctorCommand,
  },
];

const overview = () =>
  [
    'qtv: keys, certificates, Qlik JWTs, diagnosis and tenant setup for qlik-token-vending',
    '',
    'usage: qtv <command> [options]     (qtv <command> --help for options and an example)',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(14)} ${c.summary}`),
    '',
    'exit codes: 0 ok, 1 a check failed, 2 usage or input error, 3 upstream (AWS, Qlik, token API) error',
    '',
  ].join('\n');

/** Runs one command line; returns the exit code. Never throws. */
export async function runCli(argv: string[], io: CliIo): Promise<ExitCode> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.stdout(overview());
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
  }
  const entry = commands.find((c) => c.name === `${argv[0]} ${argv[1]}`) ?? commands.find((c) => c.name === argv[0]);
  if (entry === undefined) {
    const group = commands.filter((c) => c.name.startsWith(`${argv[0]} `)).map((c) => `qtv ${c.name}`);
    const typed = argv[1] !== undefined && !argv[1].startsWith('-') ? `${argv[0]} ${argv[1]}` : (argv[0] ?? '');
    const guess =
      closestName(
        typed,
        commands.map((c) => c.name),
      ) ??
      closestName(
        argv[0] ?? '',
        commands.map((c) => c.name),
      );
    io.stderr(
      group.length > 0
        ? `qtv: ${argv[0]} needs a subcommand: ${group.join(', ')}\n`
        : `qtv: unknown command ${JSON.stringify(argv[0])}: ${guess === undefined ? '' : `did you mean qtv ${guess}? `}run qtv --help for the list\n`,
    );
    return EXIT.usage;
  }
  const rest = argv.slice(entry.name.split(' ').length);
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(command.help.endsWith('\n') ? command.help : `${command.help}\n`);
    return EXIT.ok;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof CliError) {
      io.stderr(`qtv: ${error.message}\n`);
      return error.exitCode;
    }
    // An unexpected fault: still one line, with the error's name and message but never a stack or a value.
    io.stderr(
      `qtv: unexpected ${(error as Error)?.name ?? 'error'} in ${command.name}: ${String((error as Error)?.message ?? error).split('\n')[0]} (please report it)\n`,
    );
    return EXIT.upstream;
  }
}

const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  fetch: (...args) => fetch(...args),
};

const mainScript = process.argv[1] ?? '';
if (/(^|[\\/])(cli\.ts|qtv\.mjs|qtv)$/.test(mainScript)) {
  // Errors are one line; so are warnings. The AWS SDK's multi-line notice that future releases need
  // Node 22 says nothing about this run, so it is dropped; any other warning is kept, on one line.
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (!warning.message.startsWith('NodeVersionSupportWarning'))
      process.stderr.write(`qtv: warning: ${warning.message.split('\n')[0]}\n`);
  });
  process.exitCode = await runCli(process.argv.slice(2), processIo);
}
