/**
 * CDK app: `npx cdk synth -c stage=dev` reads config/<stage>.json (or `-c config=<path>`), validates it
 * with the one config schema and builds the stack. cdk-nag's AwsSolutions checks run on every synth.
 */
import { isAbsolute, join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadConfigFile } from '../functions/runtime/config.js';
import { PROJECT_ROOT } from './constructs/token-function.js';
import { TokenVendingStack } from './stacks/token-vending-stack.js';

const app = new App();
const stage = String(app.node.tryGetContext('stage') ?? 'dev');
const configContext = app.node.tryGetContext('config') as string | undefined;
const configPath =
  configContext === undefined
    ? join(PROJECT_ROOT, 'config', `${stage}.json`)
    : isAbsolute(configContext)
      ? configContext
      : join(process.cwd(), configContext);
const config = loadConfigFile(configPath);

new TokenVendingStack(app, `QlikTokenVending-${stage}`, {
  config,
  description: `Qlik token vending (${stage})`,
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
