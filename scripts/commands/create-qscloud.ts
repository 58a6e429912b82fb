/**
 * `qtv create-qscloud`: qs-jwt's command of the same name (https://github.com/ptarmiganlabs/qs-jwt,
 * docs/guide/create-qscloud.md), with its flags, minting through the same path as `qtv token`. Where
 * qs-jwt's habits break a Qlik rule it does better: `sub` is the email address as given (qs-jwt's is
 * random, a new Qlik user per token), `groups` (not `group`), `email_verified` a JSON boolean, and an
 * `--expires` over Qlik's 60-minute limit is refused with the largest value that works.
 */
import { keySourceOptions } from '../cli/key-source.js';
import { type Command, parseCommandArgs, parsePositiveInt, usageError } from '../cli/support.js';
import { createKeyFiles } from './keys-create.js';
import { expandVariadic, mintToken, tokenOptions, tokenTiming } from './token.js';

const help = `qtv create-qscloud: qs-jwt's command: mint a Qlik Cloud JWT, optionally making the key first

usage: qtv create-qscloud --username NAME --useremail ADDRESS --issuer ISS --keyid KID
                          [--useremail-verified true|false] [--groups G1 "G 2" ...] [--expires 30m]
                          (--cert-privatekey-file FILE | --cert-privatekey PEM | --cert-create true
                           [--cert-create-expires-days N] [--cert-file-prefix P] [--force])
                          [--sub ID] [--json]

  --username NAME              display name (alias of --name)
  --useremail ADDRESS          email address (alias of --email); also the Qlik subject unless --sub is given
  --useremail-verified B       true (default) or false; sent as a JSON boolean (qs-jwt sends a string)
  --groups G ...               group names, sent as "groups" (qs-jwt sends "group", which Qlik ignores)
  --issuer ISS, --keyid KID    as configured on the Qlik JWT identity provider
  --expires D                  30s, 5m, 1h (default 5m); at most 60m: Qlik rejects exp - nbf > 60 minutes,
                               so qs-jwt's "365d" is refused with the largest value that works
  --cert-privatekey-file FILE  PEM private key (alias of --key-file); --cert-privatekey PEM (alias of --key)
  --cert-create true           make privatekey.pem, publickey.pem, publickey.cer in the current folder first
                               and sign with it (refuses to overwrite them unless --force)
  --cert-create-expires-days N certificate validity in days (default 365)
  --cert-file-prefix P         prefix for the three file names
  --sub ID                     the Qlik subject, when it should not be the email address

The token goes to stdout (nothing else does); the files written are listed on stderr.

example:
  qtv create-qscloud --username "Anna Anderson" --useremail anna@example.com --useremail-verified true \\
    --issuer https://qtv.example.com --keyid k1 --expires 30m --cert-create true
  qtv inspect "$TOKEN" --cert publickey.cer
`;

const parseBoolean = (text: string, flag: string): boolean => {
  const value = text.toLowerCase();
  if (value !== 'true' && value !== 'false')
    throw usageError(`${flag} must be true or false, got ${JSON.stringify(text)}`);
  return value === 'true';
};

/** `qtv create-qscloud`. */
export const createQsCloudCommand: Command = {
  name: 'create-qscloud',
  summary: "qs-jwt's create-qscloud: key (with --cert-create true) and a Qlik Cloud JWT in one go",
  help,
  async run(argv, io) {
    const { values } = parseCommandArgs('create-qscloud', expandVariadic(argv, '--groups'), {
      ...tokenOptions,
      'cert-create': { type: 'string', default: 'false' },
      'cert-create-expires-days': { type: 'string', default: '365' },
      'cert-file-prefix': { type: 'string', default: '' },
      force: { type: 'boolean', default: false },
    });
    const create = parseBoolean(values['cert-create'], '--cert-create');
    const sub = values.sub ?? values.email;
    const tokenValues = { ...values, ...(sub !== undefined ? { sub } : {}) };
    if (!create) return mintToken(tokenValues, io);

    const given = Object.keys(keySourceOptions).filter(
      (flag) => flag !== 'region' && values[flag as keyof typeof keySourceOptions] !== undefined,
    );
    if (given.length > 0)
      throw usageError(`--cert-create true makes a new key: drop --${given.join(', --')}, or drop --cert-create`);
    // Check the token's inputs before writing files, so a bad --expires leaves no key behind.
    if ((values.email ?? '').trim() === '' || (values.name ?? '').trim() === '')
      throw usageError(
        '--username and --useremail required: e.g. --username "Anna Anderson" --useremail anna@example.com',
      );
    tokenTiming(values.expires, values['not-before-skew']);
    const summary = await createKeyFiles({
      bits: 2048,
      subject: 'qlik-token-vending',
      days: parsePositiveInt(values['cert-create-expires-days'], '--cert-create-expires-days'),
      ...(values.keyid !== undefined ? { kid: values.keyid } : {}),
      dir: '.',
      prefix: values['cert-file-prefix'],
      force: values.force,
    });
    io.stderr(
      `wrote ${summary.files.privateKey} (mode 0600: keep it secret), ${summary.files.publicKey}, ${summary.files.certificate} (give this one to Qlik)\n`,
    );
    return mintToken({ ...tokenValues, keyid: values.keyid ?? summary.kid }, io, {
      'key-file': summary.files.privateKey,
    });
  },
};
