/**
 * Where tenant items live: a DynamoDB table (deployments), a JSON file (the dev server, under .local/), or
 * memory (tests). Stores only read and write records; validation is the registry's (tenant.ts) and caching the
 * cache's (registry.ts).
 *
 * Table layout (one item per tenant): partition key `tenantId` (S); `status` (S: active | suspended);
 * `version` (N, bumped by every write, so a cache parses each version once); `document` (S: the rest of the
 * item as JSON, validated by the configuration's zod schemas on every new version); `updatedAt` (S, ISO 8601).
 * The document is one string rather than a DynamoDB map so that what is validated is exactly what was written
 * (no number or set conversions on the way).
 */
import { readFile } from 'node:fs/promises';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { TenantItem, TenantStatus } from './tenant.js';

/** One stored tenant, before validation. */
export interface TenantRecord {
  readonly id: string;
  /** As stored; validated by the registry. */
  readonly status: unknown;
  readonly version: number;
  /** The parsed `document` attribute, or `undefined` when it is not JSON (the registry reports that). */
  readonly document: unknown;
  readonly updatedAt?: string;
}

/** Read side: all the token functions may do (their IAM grant is `dynamodb:GetItem` only). */
export interface TenantStore {
  /** Human-readable name for messages. */
  readonly description: string;
  get(tenantId: string): Promise<TenantRecord | undefined>;
}

/** Write side, for `qtv tenant` (an operator's credentials, never a token function's). */
export interface TenantAdminStore extends TenantStore {
  /** Every record (paginated scan; the registry is small: one item per tenant). */
  list(): Promise<TenantRecord[]>;
  /**
   * Writes the item with `version` = the item's version. `expectVersion` guards the write: `0` means "must
   * not exist yet", a number means "the stored version must be this" (optimistic concurrency).
   * @returns false when the guard failed (someone else wrote first).
   */
  put(item: TenantItem, expectVersion: number): Promise<boolean>;
  /** Sets the status and bumps the version; false when the tenant does not exist. */
  setStatus(tenantId: string, status: TenantStatus, nowIso: string): Promise<boolean>;
  /** Deletes the item; false when it did not exist. */
  remove(tenantId: string): Promise<boolean>;
}

/** The `document` attribute of an item: everything but the key, status and version. */
export function documentOf(item: TenantItem): string {
  const { id: _id, status: _status, version: _version, ...document } = item;
  return JSON.stringify(document);
}

function parseDocument(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

type AttributeMap = Record<string, { S?: string; N?: string } | undefined>;

function recordFrom(attributes: AttributeMap): TenantRecord | undefined {
  const id = attributes.tenantId?.S;
  if (id === undefined) return undefined;
  const version = Number(attributes.version?.N ?? Number.NaN);
  const updatedAt = attributes.updatedAt?.S;
  return {
    id,
    status: attributes.status?.S,
    version: Number.isInteger(version) ? version : 0,
    document: parseDocument(attributes.document?.S),
    ...(updatedAt !== undefined ? { updatedAt } : {}),
  };
}

/** The DynamoDB adapter. The client is built once per container by the caller. */
export class DynamoDbTenantStore implements TenantAdminStore {
  readonly description: string;
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.description = `DynamoDB table ${tableName}`;
  }

  async get(tenantId: string): Promise<TenantRecord | undefined> {
    // Eventually consistent (half the read cost): items change rarely and are cached for a TTL anyway.
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: { tenantId: { S: tenantId } }, ConsistentRead: false }),
    );
    return out.Item === undefined ? undefined : recordFrom(out.Item as AttributeMap);
  }

  async list(): Promise<TenantRecord[]> {
    const records: TenantRecord[] = [];
    let start: Record<string, never> | undefined;
    do {
      const out = await this.client.send(
        new ScanCommand({ TableName: this.tableName, ConsistentRead: true, ExclusiveStartKey: start }),
      );
      for (const item of out.Items ?? []) {
        const record = recordFrom(item as AttributeMap);
        if (record !== undefined) records.push(record);
      }
      start = out.LastEvaluatedKey as Record<string, never> | undefined;
    } while (start !== undefined);
    return records.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async put(item: TenantItem, expectVersion: number): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            tenantId: { S: item.id },
            status: { S: item.status },
            version: { N: String(item.version) },
            document: { S: documentOf(item) },
            updatedAt: { S: item.updatedAt ?? new Date().toISOString() },
          },
          ...(expectVersion === 0
            ? { ConditionExpression: 'attribute_not_exists(tenantId)' }
            : {
                ConditionExpression: '#v = :expected',
                ExpressionAttributeNames: { '#v': 'version' },
                ExpressionAttributeValues: { ':expected': { N: String(expectVersion) } },
              }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async setStatus(tenantId: string, status: TenantStatus, nowIso: string): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { tenantId: { S: tenantId } },
          ConditionExpression: 'attribute_exists(tenantId)',
          UpdateExpression: 'SET #s = :status, #u = :now ADD #v :one',
          ExpressionAttributeNames: { '#s': 'status', '#u': 'updatedAt', '#v': 'version' },
          ExpressionAttributeValues: { ':status': { S: status }, ':now': { S: nowIso }, ':one': { N: '1' } },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async remove(tenantId: string): Promise<boolean> {
    const out = await this.client.send(
      new DeleteItemCommand({ TableName: this.tableName, Key: { tenantId: { S: tenantId } }, ReturnValues: 'ALL_OLD' }),
    );
    return out.Attributes !== undefined;
  }
}

/** Records from a list of items as a person writes them (`{id, status, version, ...document}`). */
function recordsFromItems(items: unknown): Map<string, TenantRecord> {
  const records = new Map<string, TenantRecord>();
  if (!Array.isArray(items)) return records;
  for (const raw of items) {
    if (typeof raw !== 'object' || raw === null) continue;
    const { id, status, version, ...document } = raw as Record<string, unknown>;
    if (typeof id !== 'string') continue;
    records.set(id, {
      id,
      status,
      version: typeof version === 'number' && Number.isInteger(version) ? version : 1,
      document,
    });
  }
  return records;
}

/**
 * The dev server's embedded registry: a JSON file `{"tenants": [item, ...]}`, re-read on every cache refresh
 * so a developer's edit shows within the (short) TTL. No AWS account needed.
 */
export class FileTenantStore implements TenantStore {
  readonly description: string;
  constructor(private readonly path: string) {
    this.description = `tenant registry file ${path}`;
  }

  async get(tenantId: string): Promise<TenantRecord | undefined> {
    const parsed = JSON.parse(await readFile(this.path, 'utf8')) as { tenants?: unknown };
    return recordsFromItems(parsed.tenants).get(tenantId);
  }
}

/** In-memory registry (tests, the load tool). Counts reads so tests can pin "one read per TTL". */
export class MemoryTenantStore implements TenantAdminStore {
  readonly description = 'in-memory tenant registry';
  readonly #records = new Map<string, TenantRecord>();
  /** Number of `get` calls, per tenant. */
  readonly reads = new Map<string, number>();

  constructor(items: readonly TenantItem[] = []) {
    for (const item of items) this.#set(item);
  }

  #set(item: TenantItem): void {
    this.#records.set(item.id, {
      id: item.id,
      status: item.status,
      version: item.version,
      document: JSON.parse(documentOf(item)),
      ...(item.updatedAt !== undefined ? { updatedAt: item.updatedAt } : {}),
    });
  }

  /** Stores a raw record (tests write malformed ones this way). */
  setRecord(record: TenantRecord): void {
    this.#records.set(record.id, record);
  }

  async get(tenantId: string): Promise<TenantRecord | undefined> {
    this.reads.set(tenantId, (this.reads.get(tenantId) ?? 0) + 1);
    return this.#records.get(tenantId);
  }

  async list(): Promise<TenantRecord[]> {
    return [...this.#records.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async put(item: TenantItem, expectVersion: number): Promise<boolean> {
    const existing = this.#records.get(item.id);
    if (expectVersion === 0 ? existing !== undefined : existing?.version !== expectVersion) return false;
    this.#set(item);
    return true;
  }

  async setStatus(tenantId: string, status: TenantStatus, nowIso: string): Promise<boolean> {
    const existing = this.#records.get(tenantId);
    if (existing === undefined) return false;
    this.#records.set(tenantId, { ...existing, status, version: existing.version + 1, updatedAt: nowIso });
    return true;
  }

  async remove(tenantId: string): Promise<boolean> {
    return this.#records.delete(tenantId);
  }
}
