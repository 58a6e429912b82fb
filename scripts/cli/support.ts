/**
 * What every `qtv` command shares: exit codes, the one-line error type, argv parsing with
 * usage errors that name the fix, and small readers for files and durations.
 */
import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { TokenVendingError } from '../../functions/errors.js';

/**
 * Exit codes, documented in docs/cli.md:
 * 0 ok; 1 a check failed (inspect, doctor); 2 usage or input error (bad flag, unreadable file, wrong key);
 * 3 upstream error (AWS, Qlik tenant, token API unreachable or refusing).
 */
export const EXIT = { ok: 0, checkFailed: 1, usage: 2, upstream: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the CLI reports as one line (`qtv: <message>`) and an exit code; the message says the fix. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  constructor(exitCode: ExitCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** A usage or input error (exit 2). */
export const usageError = (message: string, options?: ErrorOptions) => new CliError(EXIT.usage, message, options);
/** An upstream error (exit 3). */
export const upstreamError = (message: string, options?: ErrorOptions) => new CliError(EXIT.upstream, message, options);

/** Where a command writes and reads; injected so commands can run in-process too. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Reads all of stdin (only when a command needs it). */
  readonly readStdin: () => Promise<string>;
  /** `fetch` for the token API and the Qlik tenant (tests may inject one). */
  readonly fetch: typeof fetch;
}

/** One `qtv` subcommand. */
export interface Command {
  /** e.g. `keys create`. */
  readonly name: string;
  readonly summary: string;
  /** Full `--help` text, with an example. */
  readonly help: string;
  run(argv: string[], io: CliIo): Promise<ExitCode>;
}

/**
 * Other names for a flag, accepted by every command that has the flag under its canonical name.
 * One name per concept across commands (`--keyid`, `--cert-file`, `--key-file`, `--name`, `--email`);
 * the aliases are the older qtv names and qs-jwt's (https://github.com/ptarmiganlabs/qs-jwt, `create-qscloud`).
 */
export const FLAG_ALIASES: Readonly<Record<string, string>> = {
  kid: 'keyid',
  cert: 'cert-file',
  'cert-privatekey-file': 'key-file',
  'cert-privatekey': 'key',
  username: 'name',
  useremail: 'email',
  'useremail-verified': 'email-verified',
  // `caller-token`'s Cognito user; `doctor` declares --cognito-username itself (its --username is qs-jwt's name).
  'cognito-username': 'username',
};

/** Rewrites alias flags (`--kid x`, `--kid=x`) to the canonical name the command declares. */
export function applyFlagAliases(argv: readonly string[], known: readonly string[]): string[] {
  return argv.map((arg) => {
    const match = /^--([^=]+)(=.*)?$/.exec(arg);
    if (match === null) return arg;
    const name = match[1] ?? '';
    const canonical = FLAG_ALIASES[name];
    if (canonical === undefined || known.includes(name) || !known.includes(canonical)) return arg;
    return `--${canonical}${match[2] ?? ''}`;
  });
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++)
      current[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The closest known name to `name` (within a few edits, or sharing a prefix), if any. */
export function closestName(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (best === undefined || distance < best.distance) best = { name: candidate, distance };
  }
  if (best === undefined) return undefined;
  const prefix = known.find((k) => name.length >= 3 && (k.startsWith(name) || name.startsWith(k)));
  if (best.distance <= Math.max(1, Math.floor(name.length / 3))) return best.name;
  return prefix;
}

/**
 * `parseArgs` with strict options; aliases (see {@link FLAG_ALIASES}) become canonical names; an unknown
 * flag or a missing value becomes a usage error naming the fix ("did you mean --keyid?", or `--help`).
 */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: string[],
  options: T,
  allowPositionals = false,
) {
  const known = Object.keys(options);
  const args = applyFlagAliases(argv, known);
  // A value that starts with a dash but is no flag (a PEM passed with --key "$(cat key.pem)", as qs-jwt's
  // --cert-privatekey examples do) is the value: parseArgs would call it ambiguous.
  for (let i = 0; i < args.length - 1; i++) {
    const name = /^--([^=]+)$/.exec(args[i] ?? '')?.[1];
    const next = args[i + 1] ?? '';
    if (name !== undefined && options[name]?.type === 'string' && next.startsWith('-') && !/^--?[A-Za-z]/.test(next))
      args.splice(i, 2, `--${name}=${next}`);
  }
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (error) {
    const message = (error as Error).message.split('\n')[0]?.replace(/\.$/, '') ?? 'bad arguments';
    // parseArgs says "argument is ambiguous" / "argument missing" when a flag's value is absent: say that plainly.
    const flag = /^Option '([^']+)' argument (is ambiguous|missing)/.exec(message)?.[1];
    if (flag !== undefined)
      throw usageError(
        `${flag.replace(/^-\w, /, '').replace(/ <value>$/, '')} needs a value: see qtv ${command} --help`,
      );
    const unknown = /^Unknown option '--?([^']+)'/.exec(message)?.[1];
    if (unknown !== undefined) {
      const names = [...known, ...Object.keys(FLAG_ALIASES).filter((a) => known.includes(FLAG_ALIASES[a] ?? ''))];
      const guess = closestName(unknown, names);
      throw usageError(
        `unknown option --${unknown}${guess === undefined ? '' : `: did you mean --${FLAG_ALIASES[guess] ?? guess}?`} (see qtv ${command} --help)`,
      );
    }
    throw usageError(`${message}: see qtv ${command} --help`);
  }
}

/** Reads a text file; a failure names the flag that gives the path. */
export function readTextFile(path: string, flag: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw usageError(`cannot read ${path} (${code}): pass ${flag} with the path of ${what}`);
  }
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * Parses a duration such as `30s`, `5m`, `1h` or `90` (seconds). `d` is understood only so that
 * qs-jwt habits like `365d` get the real reason they fail, not a syntax error.
 */
export function parseDuration(text: string, flag: string): number {
  const match = /^(\d+)\s*([smhd]?)$/i.exec(text.trim());
  if (match === null) throw usageError(`${flag} ${JSON.stringify(text)} is not a duration: use e.g. 30s, 5m or 1h`);
  const seconds = Number(match[1]) * (UNIT_SECONDS[(match[2] || 's').toLowerCase()] ?? 1);
  if (seconds <= 0) throw usageError(`${flag} must be longer than 0 seconds: use e.g. 5m`);
  return seconds;
}

/** Parses `--now` (ISO 8601 or seconds since the epoch); the default is the system clock. */
export function parseNow(text: string | undefined): number {
  if (text === undefined) return Math.floor(Date.now() / 1000);
  const seconds = /^\d+$/.test(text) ? Number(text) : Math.floor(Date.parse(text) / 1000);
  if (!Number.isFinite(seconds))
    throw usageError(`--now ${JSON.stringify(text)} is not a time: use ISO 8601 or epoch seconds`);
  return seconds;
}

/** Parses a positive whole number flag. */
export function parsePositiveInt(text: string, flag: string, allowed?: readonly number[]): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0)
    throw usageError(`${flag} must be a positive whole number, got ${JSON.stringify(text)}`);
  if (allowed !== undefined && !allowed.includes(value))
    throw usageError(`${flag} must be one of ${allowed.join(', ')}, got ${value}`);
  return value;
}

/** Turns a shared-module error (bad key, bad config) into a usage error with its plain message. */
export function inputErrorFrom(error: unknown): never {
  if (error instanceof CliError) throw error;
  if (error instanceof TokenVendingError) throw usageError(error.message.replace(/\n\s*/g, ' '), { cause: error });
  throw error;
}

/** JSON for `--json` output: two-space indented, one trailing newline. */
export const jsonText = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
