/**
 * `qtv tenant list | show | suspend | remove`: read and change tenant registry items (DynamoDB) with the
 * operator's credentials. Validation is the registry's own (functions/tenancy/tenant.ts), so `show` reports an
 * item exactly as the token functions will judge it. No command prints a secret: items hold references only.
 */
import { validateTenantItem } from '../../functions/tenancy/tenant.js';
import { type Command, EXIT, jsonText, parseCommandArgs, usageError } from '../cli/support.js';
import { REGISTRY_HELP, registryError, registryFrom, registryOptions, tenantIdArg } from '../cli/tenant-support.js';

const listHelp = `qtv tenant list: the tenants in the registry

usage: qtv tenant list --table NAME [--json]

${REGISTRY_HELP}

example:
  qtv tenant list --table qlik-token-vending-tenants
`;

/** `qtv tenant list`. */
export const tenantListCommand: Command = {
  name: 'tenant list',
  summary: 'list the tenants in the registry (id, status, Qlik host, key, version)',
  help: listHelp,
  async run(argv, io) {
    const { values } = parseCommandArgs('tenant list', argv, registryOptions);
    const { store, tenancy } = registryFrom(values);
    let records: Awaited<ReturnType<typeof store.list>>;
    try {
      records = await store.list();
    } catch (error) {
      throw registryError(error, values.table!, 'cannot list tenants');
    }
    const rows = records.map((record) => {
      const result = validateTenantItem(
        { ...(record.document as object), id: record.id, status: record.status, version: record.version },
        tenancy,
        record.id,
      );
      const document = (record.document ?? {}) as { qlik?: { tenantHost?: string }; signing?: { backend?: string } };
      return {
        id: record.id,
        status: record.status,
        valid: result.ok,
        version: record.version,
        tenantHost: document.qlik?.tenantHost,
        signing: document.signing?.backend,
        updatedAt: record.updatedAt,
      };
    });
    if (values.json) io.stdout(jsonText(rows));
    else if (rows.length === 0) io.stdout(`no tenants in ${values.table}: add one with qtv tenant add\n`);
    else
      io.stdout(
        `${rows
          .map((r) =>
            [
              r.id.padEnd(24),
              String(r.status).padEnd(10),
              (r.valid ? 'valid' : 'INVALID').padEnd(8),
              `v${r.version}`.padEnd(5),
              (r.signing ?? '-').padEnd(16),
              r.tenantHost ?? '-',
            ].join(' '),
          )
          .join('\n')}\n`,
      );
    return EXIT.ok;
  },
};

const showHelp = `qtv tenant show: one tenant's registry item and whether the token functions accept it

usage: qtv tenant show <id> --table NAME [--json]

${REGISTRY_HELP}

Exit 1 when the item is invalid (the problems are listed); the item holds references only, never secrets.
`;

/** `qtv tenant show`. */
export const tenantShowCommand: Command = {
  name: 'tenant show',
  summary: "print one tenant's registry item and its validation result",
  help: showHelp,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('tenant show', argv, registryOptions, true);
    const id = tenantIdArg(positionals[0], 'tenant show');
    const { store, tenancy } = registryFrom(values);
    let record: Awaited<ReturnType<typeof store.get>>;
    try {
      record = await store.get(id);
    } catch (error) {
      throw registryError(error, values.table!, `cannot read tenant ${id}`);
    }
    if (record === undefined) throw usageError(`tenant ${id} is not in ${values.table}: see qtv tenant list`);
    const item = {
      ...(record.document as object),
      id: record.id,
      status: record.status,
      version: record.version,
      // suspend/resume change the top-level attribute only; it is the newer one.
      ...(record.updatedAt !== undefined ? { updatedAt: record.updatedAt } : {}),
    };
    const result = validateTenantItem(item, tenancy, id);
    const problems = result.ok ? [] : result.problems;
    if (values.json) io.stdout(jsonText({ item: result.ok ? result.item : item, valid: result.ok, problems }));
    else
      io.stdout(
        `${jsonText(result.ok ? result.item : item)}${result.ok ? 'valid: the token functions accept this item\n' : `INVALID: tokens for ${id} fail with 503 TENANT_CONFIG_INVALID:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`}`,
      );
    return result.ok ? EXIT.ok : EXIT.checkFailed;
  },
};

const suspendHelp = `qtv tenant suspend: stop (or, with --resume, restart) issuing tokens for a tenant

usage: qtv tenant suspend <id> --table NAME [--resume] [--json]

${REGISTRY_HELP}
  --resume              set the tenant active again

Takes effect in every function within the registry cache TTL (tenancy.registry.cacheTtlSeconds);
callers of a suspended tenant get 403 TENANT_SUSPENDED. Nothing else changes (keys, Qlik IdP stay).
`;

/** `qtv tenant suspend`. */
export const tenantSuspendCommand: Command = {
  name: 'tenant suspend',
  summary: 'suspend a tenant (403 TENANT_SUSPENDED within one cache TTL); --resume to undo',
  help: suspendHelp,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(
      'tenant suspend',
      argv,
      { ...registryOptions, resume: { type: 'boolean', default: false } },
      true,
    );
    const id = tenantIdArg(positionals[0], 'tenant suspend');
    const { store } = registryFrom(values);
    const status = values.resume ? 'active' : 'suspended';
    let found: boolean;
    try {
      found = await store.setStatus(id, status, new Date().toISOString());
    } catch (error) {
      throw registryError(error, values.table!, `cannot set tenant ${id} ${status}`);
    }
    if (!found) throw usageError(`tenant ${id} is not in ${values.table}: see qtv tenant list`);
    io.stdout(values.json ? jsonText({ id, status }) : `tenant ${id} is now ${status}\n`);
    return EXIT.ok;
  },
};

const removeHelp = `qtv tenant remove: delete a tenant's registry item

usage: qtv tenant remove <id> --table NAME [--json]

${REGISTRY_HELP}

Callers of the tenant get 403 TENANT_UNKNOWN within one cache TTL. The tenant's key (secret or KMS key), its
other secrets (<secret-prefix><id>/...) and what qtv tenant add set up in its Qlik tenant (JWT identity provider,
web integration, CSP entries and OAuth clients named "qlik-token-vending <id>...") are left in place: delete them
deliberately (qtv prints where).
`;

/** `qtv tenant remove`. */
export const tenantRemoveCommand: Command = {
  name: 'tenant remove',
  summary: "delete a tenant's registry item (its key and Qlik IdP are left for you to delete)",
  help: removeHelp,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs('tenant remove', argv, registryOptions, true);
    const id = tenantIdArg(positionals[0], 'tenant remove');
    const { store, tenancy } = registryFrom(values);
    let removed: boolean;
    try {
      removed = await store.remove(id);
    } catch (error) {
      throw registryError(error, values.table!, `cannot remove tenant ${id}`);
    }
    if (!removed) throw usageError(`tenant ${id} is not in ${values.table}: see qtv tenant list`);
    const secret = `${tenancy.keys.secretPrefix}${id}`;
    io.stdout(
      values.json
        ? jsonText({ id, removed: true, leftInPlace: { secret, kmsAlias: `${tenancy.keys.kmsAliasPrefix}${id}` } })
        : `removed tenant ${id}\nleft in place: key secret ${secret} (or KMS alias ${tenancy.keys.kmsAliasPrefix}${id}), secrets under ${secret}/, and in the tenant's Qlik its JWT identity provider, web integration, CSP entries and OAuth clients named "qlik-token-vending ${id}..."\n`,
    );
    return EXIT.ok;
  },
};
