/**
 * Synthesizes stacks with bundling on (the esbuild bundles Lambda would run) into a folder, as `cdk synth` does.
 */
import { App } from 'aws-cdk-lib';
import type { Config } from '../../../functions/runtime/config.js';
import { TokenVendingStack } from '../../../infra/stacks/token-vending-stack.js';
import { type CfnTemplate, readStackArtifacts } from './template.js';

/** A synthesized stack: its template and the asset folder of each Lambda `S3Key`. */
export interface SynthesizedStack {
  readonly stackName: string;
  readonly template: CfnTemplate;
  readonly assetDirOf: (s3Key: string) => string;
}

/** Synthesizes one stack per configuration into `outdir`, bundling every function. */
export function synthesizeBundled(
  outdir: string,
  configs: Readonly<Record<string, Config>>,
): Record<string, SynthesizedStack> {
  const app = new App({ outdir });
  const names: Record<string, string> = {};
  for (const [name, config] of Object.entries(configs)) {
    const stack = new TokenVendingStack(app, `Rehearsal-${name}`, {
      config,
      env: { account: '123456789012', region: 'eu-west-1' },
    });
    names[name] = stack.stackName;
  }
  app.synth();
  return Object.fromEntries(
    Object.entries(names).map(([name, stackName]) => [name, { stackName, ...readStackArtifacts(outdir, stackName) }]),
  );
}
