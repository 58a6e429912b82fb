/**
 * Which configuration file and stage a `cdk synth`/`cdk deploy` run means, from its context
 * (`-c stage=…`, `-c config=…`). Kept apart from infra/app.ts so it can be tested without a synth.
 */
import { basename, extname, isAbsolute, join } from 'node:path';

/** What `-c stage` and `-c config` resolve to. */
export interface Deployment {
  readonly stage: string;
  readonly configPath: string;
}

/** A stage becomes part of the stack name `QlikTokenVending-<stage>`: CloudFormation allows letters, digits and hyphens. */
const STAGE_SHAPE = /^[A-Za-z][A-Za-z0-9-]{0,63}$/;

/**
 * Resolves the stage and configuration file.
 * - `-c stage=prod` alone reads `config/prod.json`.
 * - `-c config=my.json` alone takes the stage from the file name (`my`), so the stack is never silently
 *   named after another stage; a file name that cannot be a stage is refused with the fix.
 * - neither: stage `dev`, `config/dev.json`.
 * @throws Error with a one-line message naming the fix.
 */
export function resolveDeployment(
  context: { stage?: unknown; config?: unknown },
  projectRoot: string,
  cwd: string,
): Deployment {
  const given = (value: unknown) => (value === undefined || value === null || value === '' ? undefined : String(value));
  const configContext = given(context.config);
  const stageContext = given(context.stage);
  const configPath =
    configContext === undefined
      ? join(projectRoot, 'config', `${stageContext ?? 'dev'}.json`)
      : isAbsolute(configContext)
        ? configContext
        : join(cwd, configContext);
  const stage = stageContext ?? (configContext === undefined ? 'dev' : basename(configContext, extname(configContext)));
  if (!STAGE_SHAPE.test(stage))
    throw new Error(
      stageContext === undefined
        ? `cannot name the stack after ${JSON.stringify(basename(configPath))}: the stage (stack QlikTokenVending-<stage>) takes letters, digits and hyphens; pass -c stage=<name>, e.g. -c stage=prod`
        : `-c stage=${stageContext} is not a stage name: use letters, digits and hyphens, starting with a letter (e.g. prod)`,
    );
  return { stage, configPath };
}
