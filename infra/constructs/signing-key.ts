/**
 * SigningKey: where the Qlik token signing key lives, and the one place that grants a function access to it.
 */
import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { type IKey, Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** RSA key specs Qlik's RS256 accepts (RSA 2048 and larger). */
export type RsaKeySpec = 'RSA_2048' | 'RSA_3072' | 'RSA_4096';

/** Properties of {@link SigningKey}. */
export interface SigningKeyProps {
  /**
   * `secrets-manager`: a PEM key in a secret. `kms`: an asymmetric KMS key (the private key never leaves KMS).
   */
  readonly backend: 'secrets-manager' | 'kms';
  /**
   * Secret: a complete secret ARN (imported) or a name (created with a random placeholder value that
   * CloudFormation generates, so no plaintext sits in the template; replace it with the key). KMS: a key ARN (imported) or an
   * alias such as `alias/qlik-token-vending` (created with that alias).
   */
  readonly keyReference: string;
  /**
   * Key spec of a created KMS key.
   * @default 'RSA_2048'
   */
  readonly kmsKeySpec?: RsaKeySpec;
  /**
   * Encrypt a created secret with a customer-managed KMS key the construct creates (rotation on).
   * @default false (the AWS-managed key aws/secretsmanager)
   */
  readonly customerManagedEncryption?: boolean;
  /**
   * The customer-managed KMS key ARN that encrypts an imported secret.
   * @default - none (AWS-managed key)
   */
  readonly importedSecretKmsKeyArn?: string;
  /**
   * What happens to a created secret or key when the stack is deleted.
   * @default RemovalPolicy.RETAIN (a deleted signing key locks every Qlik user out)
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * A {@link KeyRotation} schedule rotates the created secret (rotation.enabled). Then cdk-nag's
   * AwsSolutions-SMG4 (secret without rotation) is answered by the schedule itself and is not acknowledged.
   * @default false
   */
  readonly rotated?: boolean;
  /**
   * The secret holding the key's public material (functions/signing/public-material.ts), when it exists
   * already: a complete secret ARN. Otherwise the construct creates one.
   * @default - a new secret
   */
  readonly publicSecretArn?: string;
}

/** What {@link SigningKey.bind} returns. */
export interface SigningKeyBinding {
  /** The value for `signing.secretId` or `signing.keyId` in the function's configuration. */
  readonly reference: string;
}

const ARN_PREFIX = /^arn:aws[a-z-]*:/;

/**
 * The signing key: a Secrets Manager secret (created with a placeholder, or imported) or an asymmetric RSA
 * SIGN_VERIFY KMS key (created with an alias, or imported). {@link SigningKey.bind} grants exactly the
 * actions the token functions need, on this key only.
 *
 * @example
 * const key = new SigningKey(this, 'SigningKey', { backend: 'secrets-manager', keyReference: 'qtv/dev/signing-key' });
 * const { reference } = key.bind(fn); // secretsmanager:GetSecretValue on that secret, nothing else
 */
export class SigningKey extends Construct {
  /** The secret, for the `secrets-manager` backend. */
  public readonly secret: ISecret | undefined;
  /** The asymmetric signing key, for the `kms` backend. */
  public readonly key: IKey | undefined;
  /** The customer-managed key encrypting the secret, if any. */
  public readonly encryptionKey: IKey | undefined;
  /** The created KMS alias name, if the construct created the key. */
  public readonly aliasName: string | undefined;
  /**
   * The key's public material (key ID, issuer, public key, certificate), apart from the private key: the
   * public `/qlik/idp-config` function reads only this ({@link SigningKey.bindPublic}).
   */
  public readonly publicSecret: ISecret;
  /** ARN of the secret or the KMS key (for outputs). */
  public readonly arn: string;
  /** Whether the construct created the key material holder (false: imported). */
  public readonly created: boolean;
  readonly #backend: 'secrets-manager' | 'kms';

  constructor(scope: Construct, id: string, props: SigningKeyProps) {
    super(scope, id);
    this.#backend = props.backend;
    const imported = ARN_PREFIX.test(props.keyReference);
    this.created = !imported;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    if (props.backend === 'secrets-manager') {
      this.key = undefined;
      this.aliasName = undefined;
      if (imported) {
        this.encryptionKey =
          props.importedSecretKmsKeyArn === undefined
            ? undefined
            : Key.fromKeyArn(this, 'EncryptionKey', props.importedSecretKmsKeyArn);
        // A complete ARN (with the 6-character suffix) keeps the grant free of wildcards.
        this.secret = Secret.fromSecretAttributes(this, 'Secret', {
          secretCompleteArn: props.keyReference,
          ...(this.encryptionKey ? { encryptionKey: this.encryptionKey } : {}),
        });
      } else {
        this.encryptionKey = props.customerManagedEncryption
          ? new Key(this, 'EncryptionKey', {
              description: `Encrypts the Qlik token signing key secret ${props.keyReference}`,
              enableKeyRotation: true,
              removalPolicy,
            })
          : undefined;
        const secret = new Secret(this, 'Secret', {
          secretName: props.keyReference,
          description:
            'Qlik token signing key (PEM, or JSON {privateKey, kid?, issuer?, certificate?}). Created holding a random placeholder, not a key: ' +
            'put the key with `npm run cli -- secret put --secret-id <this ARN> --key-file privatekey.pem` (docs/deploy.md).',
          ...(this.encryptionKey ? { encryptionKey: this.encryptionKey } : {}),
          removalPolicy,
        });
        this.secret = secret;
        if (!props.rotated)
          Validations.of(secret).acknowledge({
            id: 'AwsSolutions::AwsSolutions-SMG4',
            reason:
              'A Qlik JWT IdP holds exactly one key and cannot change it (PATCH cannot change key or issuer), so a blind ' +
              'Secrets Manager rotation would lock users out; rotation is a coordinated procedure (new IdP, switch, delete old) done by the KeyRotation construct, ' +
              'which this configuration leaves off (rotation.enabled false, docs/rotation.md)',
          });
      }
      this.arn = this.secret.secretArn;
    } else {
      this.secret = undefined;
      this.encryptionKey = undefined;
      if (imported) {
        this.key = Key.fromKeyArn(this, 'Key', props.keyReference);
        this.aliasName = undefined;
      } else {
        if (!props.keyReference.startsWith('alias/')) {
          throw new Error(
            `SigningKey: a KMS key the stack creates needs an alias such as "alias/qlik-token-vending", got "${props.keyReference}"; to use an existing key, give its ARN`,
          );
        }
        // The default key policy lets the account's IAM policies govern use (the functions' roles get
        // kms:Sign and kms:GetPublicKey on this key only); KMS keys cannot be used without a key policy allowing it.
        const key = new Key(this, 'Key', {
          description: 'Signs Qlik Cloud JWTs (RS256); the private key never leaves KMS',
          keyUsage: KeyUsage.SIGN_VERIFY,
          keySpec: KeySpec[props.kmsKeySpec ?? 'RSA_2048'],
          alias: props.keyReference,
          removalPolicy,
        });
        this.key = key;
        this.aliasName = props.keyReference;
      }
      this.arn = this.key.keyArn;
    }
    this.publicSecret =
      props.publicSecretArn !== undefined
        ? Secret.fromSecretCompleteArn(this, 'PublicSecret', props.publicSecretArn)
        : new Secret(this, 'PublicSecret', {
            description:
              'Public material of the Qlik token signing key (kid, issuer, public key, certificate): no private key. ' +
              'Written by `qtv secret put --public-secret-id` and by the key rotation (docs/deploy.md).',
            removalPolicy,
          });
    if (props.publicSecretArn === undefined)
      Validations.of(this.publicSecret).acknowledge({
        id: 'AwsSolutions::AwsSolutions-SMG4',
        reason:
          'Holds only public data (a public key and its certificate); it changes when the signing key is set up or rotated, never on a schedule of its own',
      });
  }

  /**
   * Grants `grantee` exactly what signing needs on this key and returns the reference to put in its
   * configuration: `secretsmanager:GetSecretValue` on the secret (plus `kms:Decrypt` on its CMK, only
   * through Secrets Manager), or `kms:Sign` + `kms:GetPublicKey` on the key.
   */
  public bind(grantee: IGrantable): SigningKeyBinding {
    if (this.#backend === 'secrets-manager') {
      const secret = this.secret!;
      grantee.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secret.secretArn] }),
      );
      if (this.encryptionKey) {
        // GetSecretValue decrypts with the CMK on the caller's behalf; the ViaService condition keeps the
        // grant usable only through Secrets Manager in this region, never for direct kms:Decrypt calls.
        // https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html
        grantee.grantPrincipal.addToPrincipalPolicy(
          new PolicyStatement({
            actions: ['kms:Decrypt'],
            resources: [this.encryptionKey.keyArn],
            conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` } },
          }),
        );
      }
      return { reference: secret.secretArn };
    }
    const key = this.key!;
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['kms:Sign', 'kms:GetPublicKey'], resources: [key.keyArn] }),
    );
    return { reference: key.keyArn };
  }

  /**
   * Grants `grantee` the key's public material and nothing that can sign: `secretsmanager:GetSecretValue` on
   * the public-material secret, plus `kms:GetPublicKey` on the KMS key (never `kms:Sign`, never the private
   * key secret). For the public `/qlik/idp-config` route.
   */
  public bindPublic(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.publicSecret.secretArn] }),
    );
    if (this.key !== undefined)
      grantee.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({ actions: ['kms:GetPublicKey'], resources: [this.key.keyArn] }),
      );
  }
}
