/**
 * `deployment.tracing` (default on): X-Ray active tracing and the tracer code in the bundles together.
 * Off, no function traces and no role may write to X-Ray (the bundles' contents: bundle-contents.test.ts).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ConfigInput, loadConfigFile, parseConfig } from '../../functions/runtime/config.js';
import { PROJECT_ROOT } from '../../infra/constructs/token-function.js';
import { buildStack, resourcesOf } from './synth.js';

const rotationConfig = loadConfigFile(join(PROJECT_ROOT, 'config/example-rotation.json')) as ConfigInput;

function functionsOf(input: ConfigInput) {
  const { template } = buildStack(input);
  return { template, functions: Object.values(resourcesOf(template, 'AWS::Lambda::Function')) };
}

describe('Configuration: deployment.tracing', () => {
  it('is on unless the configuration turns it off', () => {
    expect(parseConfig(rotationConfig).deployment.tracing).toBe(true);
  });

  it('on: every function, the rotation function included, traces actively', () => {
    const { functions } = functionsOf(rotationConfig);
    expect(functions.length).toBeGreaterThan(2);
    for (const fn of functions) expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
  });

  it('off: no function traces and no role may write to X-Ray', () => {
    const { template, functions } = functionsOf({
      ...rotationConfig,
      deployment: { ...rotationConfig.deployment, tracing: false },
    });
    expect(functions.length).toBeGreaterThan(2);
    for (const fn of functions) expect(fn.Properties.TracingConfig).toBeUndefined();
    const policies = JSON.stringify(resourcesOf(template, 'AWS::IAM::Policy'));
    expect(policies).not.toContain('xray:');
  });
});
