/**
 * Reads what a deploy rehearsal needs from a synthesized CloudFormation template and its cloud assembly:
 * every Lambda function with its bundled asset folder, handler, environment and role, the role's policies,
 * and a resolver for the intrinsic functions CDK writes (Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split,
 * Fn::Sub). A value that cannot be resolved is an error: the rehearsal never runs a function with a
 * half-resolved environment.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A CloudFormation template as CDK writes it. */
export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
  readonly Parameters?: Record<string, unknown>;
  readonly Outputs?: Record<string, { readonly Value: unknown; readonly Description?: string }>;
}

/**
 * The logical ID a stack output refers to with `Ref` (a secret the template creates without a `Name` is known to
 * the rehearsal by its logical ID).
 * @throws Error when the output is missing or is not a plain `Ref`.
 */
export function outputRef(template: CfnTemplate, output: string): string {
  const value = template.Outputs?.[output]?.Value as { Ref?: unknown } | undefined;
  if (typeof value?.Ref !== 'string') throw new Error(`the template has no output "${output}" that is a Ref`);
  return value.Ref;
}

/** One resource of a template. */
export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

/** One IAM policy statement. */
export interface PolicyStatementJson {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | string[];
  readonly Resource?: unknown;
  readonly Condition?: unknown;
}

/** What CloudFormation would give a reference: `Ref` and the attributes `Fn::GetAtt` may ask for. */
export interface ResolvedResource {
  readonly ref: string;
  readonly attributes: Readonly<Record<string, string>>;
}

/** Pseudo parameters the rehearsal's account and region stand for. */
export interface PseudoParameters {
  readonly accountId: string;
  readonly region: string;
}

/** One Lambda function of the template. */
export interface TemplateFunction {
  readonly logicalId: string;
  /** The folder holding the bundle (the asset CDK would upload). */
  readonly assetDir: string;
  /** `index.handler`: file name without extension, then the export. */
  readonly handler: string;
  readonly runtime: string;
  readonly memorySize: number;
  readonly timeoutSeconds: number;
  /** Environment variables, still with intrinsic functions. */
  readonly environment: Readonly<Record<string, unknown>>;
  /** Logical ID of the execution role. */
  readonly roleLogicalId: string;
}

/** One execution role: its trust policy and every statement of the policies attached to it. */
export interface TemplateRole {
  readonly logicalId: string;
  readonly trustPolicy: { Statement: Array<{ Principal?: { Service?: string | string[] }; Action: unknown }> };
  /** Statements of the role's inline policies and of every AWS::IAM::Policy that names the role, intrinsics unresolved. */
  readonly statements: readonly PolicyStatementJson[];
  /** Managed policy ARNs (the rehearsal refuses them: they do not exist in moto). */
  readonly managedPolicyArns: readonly unknown[];
}

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** Reads `<stack>.template.json` and maps each Lambda's `S3Key` to its asset folder through `<stack>.assets.json`. */
export function readStackArtifacts(
  outdir: string,
  stackName: string,
): { template: CfnTemplate; assetDirOf: (s3Key: string) => string } {
  const template = JSON.parse(readFileSync(join(outdir, `${stackName}.template.json`), 'utf8')) as CfnTemplate;
  const manifest = JSON.parse(readFileSync(join(outdir, `${stackName}.assets.json`), 'utf8')) as {
    files: Record<string, { source: { path: string; packaging?: string } }>;
  };
  return {
    template,
    assetDirOf: (s3Key) => {
      const hash = s3Key.replace(/\.zip$/, '');
      const entry = manifest.files[hash];
      if (entry === undefined) throw new Error(`no asset ${hash} in ${stackName}.assets.json`);
      const dir = join(outdir, entry.source.path);
      if (!existsSync(dir)) throw new Error(`asset folder ${dir} is missing: was the stack synthesized with bundling?`);
      return dir;
    },
  };
}

/** The template's Lambda functions. */
export function templateFunctions(template: CfnTemplate, assetDirOf: (s3Key: string) => string): TemplateFunction[] {
  return Object.entries(template.Resources)
    .filter(([, resource]) => resource.Type === 'AWS::Lambda::Function')
    .map(([logicalId, resource]) => {
      const p = resource.Properties ?? {};
      const code = p.Code as { S3Key?: unknown } | undefined;
      if (typeof code?.S3Key !== 'string')
        throw new Error(`${logicalId}: Code.S3Key is not an asset key (inline code?)`);
      const role = p.Role as { 'Fn::GetAtt'?: [string, string] } | undefined;
      const roleLogicalId = role?.['Fn::GetAtt']?.[0];
      if (roleLogicalId === undefined) throw new Error(`${logicalId}: Role is not a role of this template`);
      return {
        logicalId,
        assetDir: assetDirOf(code.S3Key),
        handler: String(p.Handler),
        runtime: String(p.Runtime),
        memorySize: Number(p.MemorySize ?? 128),
        timeoutSeconds: Number(p.Timeout ?? 3),
        environment: ((p.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ??
          {}) as Record<string, unknown>,
        roleLogicalId,
      };
    });
}

/** The role `logicalId` with every policy statement that applies to it. */
export function templateRole(template: CfnTemplate, logicalId: string): TemplateRole {
  const role = template.Resources[logicalId];
  if (role?.Type !== 'AWS::IAM::Role') throw new Error(`${logicalId} is not an AWS::IAM::Role`);
  const p = role.Properties ?? {};
  const statements: PolicyStatementJson[] = [];
  for (const inline of asArray(p.Policies as Array<{ PolicyDocument: { Statement: PolicyStatementJson[] } }>))
    statements.push(...inline.PolicyDocument.Statement);
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const roles = asArray(resource.Properties?.Roles as unknown[]);
    if (!roles.some((r) => (r as { Ref?: string }).Ref === logicalId)) continue;
    const document = resource.Properties?.PolicyDocument as { Statement: PolicyStatementJson[] } | undefined;
    statements.push(...(document?.Statement ?? []));
  }
  return {
    logicalId,
    trustPolicy: p.AssumeRolePolicyDocument as TemplateRole['trustPolicy'],
    statements,
    managedPolicyArns: asArray(p.ManagedPolicyArns as unknown[]),
  };
}

/**
 * Resolves intrinsic functions against `resources` (logical ID -> what the rehearsal created for it) and the
 * pseudo parameters. Throws on a reference to a resource the rehearsal did not create.
 */
export function resolveIntrinsics(
  value: unknown,
  resources: ReadonlyMap<string, ResolvedResource>,
  pseudo: PseudoParameters,
): unknown {
  const resolve = (v: unknown): unknown => resolveIntrinsics(v, resources, pseudo);
  if (Array.isArray(value)) return value.map(resolve);
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value);
  if (entries.length === 1) {
    const [key, arg] = entries[0] as [string, unknown];
    switch (key) {
      case 'Ref':
        return refOf(String(arg), resources, pseudo);
      case 'Fn::GetAtt': {
        const [id, attribute] = Array.isArray(arg) ? (arg as string[]) : String(arg).split('.');
        const found = resources.get(String(id))?.attributes[String(attribute)];
        if (found === undefined)
          throw new Error(`cannot resolve Fn::GetAtt ${id}.${attribute}: not created by the rehearsal`);
        return found;
      }
      case 'Fn::Join': {
        const [separator, parts] = arg as [string, unknown[]];
        return (resolve(parts) as unknown[]).map(String).join(separator);
      }
      case 'Fn::Select': {
        const [index, list] = arg as [unknown, unknown];
        return (resolve(list) as unknown[])[Number(resolve(index))];
      }
      case 'Fn::Split': {
        const [separator, source] = arg as [string, unknown];
        return String(resolve(source)).split(separator);
      }
      case 'Fn::Sub': {
        const [text, vars] = typeof arg === 'string' ? [arg, {}] : (arg as [string, Record<string, unknown>]);
        return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
          if (name in vars) return String(resolve(vars[name]));
          const [id, attribute] = name.split('.');
          return attribute === undefined
            ? String(refOf(name, resources, pseudo))
            : String(resolve({ 'Fn::GetAtt': [id, attribute] }));
        });
      }
    }
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, resolve(v)]));
}

function refOf(name: string, resources: ReadonlyMap<string, ResolvedResource>, pseudo: PseudoParameters): string {
  switch (name) {
    case 'AWS::AccountId':
      return pseudo.accountId;
    case 'AWS::Region':
      return pseudo.region;
    case 'AWS::Partition':
      return 'aws';
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
  }
  const found = resources.get(name);
  if (found === undefined) throw new Error(`cannot resolve Ref ${name}: not created by the rehearsal`);
  return found.ref;
}
