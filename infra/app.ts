/**
 * CDK app: `npx cdk synth -c stage=dev` reads config/<stage>.json (or `-c config=<path>`, whose file name
 * is then the stage unless `-c stage` is given), validates it with the one config schema and builds the
 * stack. cdk-nag's AwsSolutions checks run on every synth. A configuration problem is printed as plain
 * lines (no Node stack trace) and the app exits 1.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError } from '../functions/errors.js';
import { type Config, loadConfigFile } from '../functions/runtime/config.js';
import { PROJECT_ROOT } from './constructs/token-function.js';
import { resolveDeployment } from './deployment-context.js';
import { TokenVendingStack } from './stacks/token-vending-stack.js';

const app = new App();
let stage: string;
let config: Config;
try {
  const deployment = resolveDeployment(
    { stage: app.node.tryGetContext('stage'), config: app.node.tryGetContext('config') },
    PROJECT_ROOT,
    process.cwd(),
  );
  stage = deployment.stage;
  config = loadConfigFile(deployment.configPath);
} catch (error) {
  // The CDK CLI shows whatever the app prints; a thrown error would come with a stack trace around it.
  const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
  console.error(`qlik-token-vending: ${message}`);
  if (error instanceof ConfigError && /cannot read/.test(message))
    console.error(
      'fix: copy config/example.json to config/<stage>.json, edit its values, and pass -c stage=<stage> (or -c config=<path>)',
    );
  process.exit(1);
}

new TokenVendingStack(app, `QlikTokenVending-${stage}`, {
  config,
  description: `Qlik token vending (${stage})`,
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
app.synth();
