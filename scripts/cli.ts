/**
 * `qtv`: keys, certificates, Qlik JWTs, diagnosis and tenant setup for qlik-token-vending.
 * `npx qtv <command>` or `npm run cli -- <command>`; one subcommand per file under scripts/commands/.
 * Errors are one line on stderr (`qtv: ... : <fix>`); exit codes are in scripts/cli/support.ts and docs/cli.md.
 */

import { CliError, type CliIo, type Command, EXIT, type ExitCode } from './cli/support.js';
import { doctorCommand } from './commands/doctor.js';
import { idpConfigCommand } from './commands/idp-config.js';
import { idpPushCommand } from './commands/idp-push.js';
import { inspectCommand } from './commands/inspect.js';
import { keysConvertCommand } from './commands/keys-convert.js';
import { keysCreateCommand } from './commands/keys-create.js';
import { secretPutCommand } from './commands/secret-put.js';
import { secretShowCommand } from './commands/secret-show.js';
import { tokenCommand } from './commands/token.js';

/** Every command, in the order `qtv --help` lists them. */
export const commands: readonly Command[] = [
  keysCreateCommand,
  keysConvertCommand,
  tokenCommand,
  inspectCommand,
  secretPutCommand,
  secretShowCommand,
  idpConfigCommand,
  idpPushCommand,
  doctorCommand,
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
  const command = commands.find((c) => c.name === `${argv[0]} ${argv[1]}`) ?? commands.find((c) => c.name === argv[0]);
  if (command === undefined) {
    const group = commands.filter((c) => c.name.startsWith(`${argv[0]} `)).map((c) => `qtv ${c.name}`);
    io.stderr(
      group.length > 0
        ? `qtv: ${argv[0]} needs a subcommand: ${group.join(', ')}\n`
        : `qtv: unknown command ${JSON.stringify(argv[0])}: run qtv --help for the list\n`,
    );
    return EXIT.usage;
  }
  const rest = argv.slice(command.name.split(' ').length);
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

const entry = process.argv[1] ?? '';
if (/(^|[\\/])(cli\.ts|qtv\.mjs|qtv)$/.test(entry)) {
  process.exitCode = await runCli(process.argv.slice(2), processIo);
}
