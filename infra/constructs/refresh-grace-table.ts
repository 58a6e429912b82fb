/**
 * RefreshGraceTable: the DynamoDB table behind the OAuth proxy's refresh grace window
 * (functions/oauth/refresh-grace.ts): parallel cookie-mode refreshes in different Lambda containers share
 * one upstream refresh through it.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { GRACE_TABLE } from '../../functions/oauth/refresh-grace.js';

/** The only actions the refresh function needs: the conditional claim, the reads, the release. */
export const REFRESH_GRACE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:GetItem', 'dynamodb:DeleteItem'] as const;
/** The only action the revoke (logout) function needs: recording the revoked refresh token as dead. */
export const LOGOUT_GRACE_ACTIONS = ['dynamodb:PutItem'] as const;

/** Properties of {@link RefreshGraceTable}. */
export interface RefreshGraceTableProps {
  /**
   * What happens to the table when the stack is deleted. Its records live seconds (the grace window), so
   * nothing of value is lost.
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * An on-demand table keyed by `pk` (a hash of a refresh token, never the token), with DynamoDB TTL on
 * `expiresAt` (epoch seconds) so records of past refreshes disappear on their own, point-in-time recovery
 * on, and AWS-managed encryption. Values are sealed with the proxy's cookie keys before they are stored.
 *
 * @example
 * const grace = new RefreshGraceTable(this, 'RefreshGrace');
 * grace.grantRefresh(refreshFunction);
 * grace.grantLogout(revokeFunction);
 */
export class RefreshGraceTable extends Construct {
  /** The table. */
  public readonly table: Table;

  constructor(scope: Construct, id: string, props: RefreshGraceTableProps = {}) {
    super(scope, id);
    this.table = new Table(this, 'Table', {
      partitionKey: { name: GRACE_TABLE.partitionKey, type: AttributeType.STRING },
      // Refreshes come in bursts per user and are rare overall: on-demand, no capacity to plan.
      billingMode: BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: GRACE_TABLE.ttlAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
    });
  }

  /** Grants `grantee` exactly {@link REFRESH_GRACE_ACTIONS} on this table, nothing else. */
  grantRefresh(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({ grantee, actions: [...REFRESH_GRACE_ACTIONS], resourceArns: [this.table.tableArn] });
  }

  /**
   * Grants `grantee` exactly {@link LOGOUT_GRACE_ACTIONS}: a logout marks its refresh token dead so that no
   * refresh shared within the grace window hands out the revoked tokens.
   */
  grantLogout(grantee: IGrantable): Grant {
    return Grant.addToPrincipal({ grantee, actions: [...LOGOUT_GRACE_ACTIONS], resourceArns: [this.table.tableArn] });
  }
}
