/**
 * The refresh grace window: parallel cookie-mode refreshes of one session share ONE upstream refresh.
 *
 * Why: in cookie mode every tab and every parallel request of an app carries the same sealed session, so
 * the same refresh token. Qlik rotates refresh tokens, and an authorization server that detects reuse may
 * revoke the whole grant when a used refresh token comes back (RFC 9700 §4.14.2; Qlik does not document its
 * behaviour: qlik-auth.md, "Documented vs. guessed"). Two parallel refreshes would then log the user out.
 * Lambda runs each request in any container, so the coordination must live outside the container.
 *
 * How: the first request to see a refresh token claims it in a shared store (a conditional write: exactly
 * one claim wins across containers), calls Qlik, and records the result SEALED (AES-256-GCM with the
 * cookie keys, purpose `oauth-refresh-grace`) for `windowSeconds`. Every other request for the same refresh
 * token waits for that record and answers with the same new tokens, so the old refresh token reaches Qlik
 * once. Keys are SHA-256 hashes of the refresh token: the store never holds a token in the clear. A claim
 * carries a lease (the longest the refresh can take); a claim whose holder died is taken over after it.
 * The DynamoDB adapter uses an on-demand table with a TTL attribute (`expiresAt`, epoch seconds), which
 * DynamoDB deletes lazily, so every read also checks the expiry itself
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/howitworks-ttl.html).
 */
import { createHash } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';

/** A record in the grace store. */
export type GraceRecord =
  | { readonly state: 'pending'; readonly leaseExpiresAtMs: number }
  | { readonly state: 'done'; readonly sealed: string }
  | { readonly state: 'dead' };

/** The port: a shared store with an atomic claim. */
export interface RefreshGraceStore {
  /** Human-readable location for logs (never a secret). */
  readonly description: string;
  /**
   * Claims `key` for a refresh: succeeds when no live record exists, or when the only one is a pending
   * claim whose lease has run out. Atomic across containers.
   */
  claim(key: string, nowMs: number, leaseExpiresAtMs: number, expiresAtMs: number): Promise<boolean>;
  /** The live record of `key` (expired records read as absent). Strongly consistent. */
  read(key: string, nowMs: number): Promise<GraceRecord | undefined>;
  /** Records the outcome of the claimed refresh until `expiresAtMs`. */
  settle(key: string, record: Exclude<GraceRecord, { state: 'pending' }>, expiresAtMs: number): Promise<void>;
  /** Drops a claim whose refresh failed for a reason worth retrying (upstream fault). */
  release(key: string): Promise<void>;
}

/**
 * The store key of a refresh token: a hash, so the store never holds the token. In multi-tenant mode the
 * tenant is part of the key: one table serves every tenant, two tenants' Qlik may issue equal strings, and a
 * record (sealed with one tenant's keys) must never be what another tenant's refresh finds or waits for.
 */
export function graceKey(refreshToken: string, tenantId?: string): string {
  const hash = createHash('sha256').update(refreshToken).digest('base64url');
  return tenantId === undefined ? `refresh#${hash}` : `refresh#${tenantId}#${hash}`;
}

/**
 * An in-process store: coordinates the requests of one process (the dev server, one container). It is the
 * fallback when no table is configured; across Lambda containers only a shared table helps.
 */
export class MemoryGraceStore implements RefreshGraceStore {
  readonly description = 'memory';
  readonly #records = new Map<string, { record: GraceRecord; expiresAtMs: number }>();

  async claim(key: string, nowMs: number, leaseExpiresAtMs: number, expiresAtMs: number): Promise<boolean> {
    // Check and set with no await in between: that is what makes the claim atomic within the process.
    const live = this.#live(key, nowMs);
    if (live !== undefined && !(live.state === 'pending' && live.leaseExpiresAtMs <= nowMs)) return false;
    this.#records.set(key, { record: { state: 'pending', leaseExpiresAtMs }, expiresAtMs });
    return true;
  }

  async read(key: string, nowMs: number): Promise<GraceRecord | undefined> {
    return this.#live(key, nowMs);
  }

  #live(key: string, nowMs: number): GraceRecord | undefined {
    const entry = this.#records.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs <= nowMs) {
      this.#records.delete(key);
      return undefined;
    }
    return entry.record;
  }

  async settle(key: string, record: Exclude<GraceRecord, { state: 'pending' }>, expiresAtMs: number) {
    this.#records.set(key, { record, expiresAtMs });
  }

  async release(key: string) {
    this.#records.delete(key);
  }
}

/** Attribute names of the DynamoDB table (partition key `pk`, TTL attribute `expiresAt`). */
export const GRACE_TABLE = { partitionKey: 'pk', ttlAttribute: 'expiresAt' } as const;

/**
 * The DynamoDB adapter. Needs `dynamodb:PutItem`, `GetItem` and `DeleteItem` on the table, nothing else.
 * The claim is one conditional `PutItem`; reads are strongly consistent `GetItem`s.
 */
export class DynamoDbGraceStore implements RefreshGraceStore {
  readonly description: string;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.description = `dynamodb:${tableName}`;
  }

  async claim(key: string, nowMs: number, leaseExpiresAtMs: number, expiresAtMs: number): Promise<boolean> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            pk: { S: key },
            state: { S: 'pending' },
            leaseExpiresAtMs: { N: String(leaseExpiresAtMs) },
            expiresAt: { N: String(Math.ceil(expiresAtMs / 1000)) },
          },
          // Free, expired (TTL deletes lazily), or a pending claim whose holder ran out of lease.
          ConditionExpression:
            'attribute_not_exists(pk) OR expiresAt < :nowSeconds OR (#state = :pending AND leaseExpiresAtMs < :nowMs)',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':nowSeconds': { N: String(Math.floor(nowMs / 1000)) },
            ':nowMs': { N: String(nowMs) },
            ':pending': { S: 'pending' },
          },
        }),
      );
      return true;
    } catch (error) {
      if (
        error instanceof ConditionalCheckFailedException ||
        (error as Error).name === 'ConditionalCheckFailedException'
      )
        return false;
      throw error;
    }
  }

  async read(key: string, nowMs: number): Promise<GraceRecord | undefined> {
    const { Item } = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: key } }, ConsistentRead: true }),
    );
    if (Item === undefined) return undefined;
    if (Number(Item.expiresAt?.N ?? 0) * 1000 <= nowMs) return undefined;
    const state = Item.state?.S;
    if (state === 'pending') return { state, leaseExpiresAtMs: Number(Item.leaseExpiresAtMs?.N ?? 0) };
    if (state === 'done' && Item.sealed?.S !== undefined) return { state, sealed: Item.sealed.S };
    if (state === 'dead') return { state };
    return undefined;
  }

  async settle(key: string, record: Exclude<GraceRecord, { state: 'pending' }>, expiresAtMs: number) {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          pk: { S: key },
          state: { S: record.state },
          ...(record.state === 'done' ? { sealed: { S: record.sealed } } : {}),
          expiresAt: { N: String(Math.ceil(expiresAtMs / 1000)) },
        },
      }),
    );
  }

  async release(key: string) {
    await this.client.send(new DeleteItemCommand({ TableName: this.tableName, Key: { pk: { S: key } } }));
  }
}

/** Settings of the grace window (config `oauth.refreshGrace`). */
export interface RefreshGraceSettings {
  /** How long the shared result of a refresh is served to requests carrying the old refresh token. */
  readonly windowSeconds: number;
  /** How long a request waits for another request's refresh before giving up (504, retry). */
  readonly waitMs: number;
  /** How long a claim may be held (the longest a refresh can take: every attempt's timeout, and a margin). */
  readonly leaseMs: number;
  /** Pause between reads while waiting. @default 50 */
  readonly pollMs?: number;
}

/** The grace window a core uses: the store and its settings. */
export interface RefreshGrace {
  readonly store: RefreshGraceStore;
  readonly settings: RefreshGraceSettings;
}
