// Plays the Lambda Node.js runtime for one bundled function in its own process (see lambda-process.ts): imports
// the bundle's handler module from the asset folder, then answers invocations sent over IPC. Plain JavaScript, so
// it runs on plain node without a TypeScript loader, as the bundle does in Lambda.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [assetDir, handlerSpec] = process.argv.slice(2);
const dot = handlerSpec.lastIndexOf('.');
const moduleName = handlerSpec.slice(0, dot);
const exportName = handlerSpec.slice(dot + 1);

let handler;
try {
  // Lambda tries .mjs, then .js (https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html).
  const { existsSync } = await import('node:fs');
  const file = ['.mjs', '.js', '.cjs'].map((ext) => join(assetDir, moduleName + ext)).find((f) => existsSync(f));
  if (file === undefined) throw new Error(`no ${moduleName}.mjs/.js in ${assetDir}`);
  const module = await import(pathToFileURL(file).href);
  handler = module[exportName];
  if (typeof handler !== 'function') throw new Error(`${file} exports no function "${exportName}"`);
  process.send({ type: 'ready' });
} catch (error) {
  // An init error: Lambda reports Runtime.ImportModuleError / an init failure; the rehearsal reports the message.
  process.send({ type: 'init-error', error: { name: error?.name, message: String(error?.message ?? error) } });
  process.exit(1);
}

let invocation = 0;
process.on('message', async (message) => {
  if (message?.type !== 'invoke') return;
  invocation += 1;
  const requestId = `rehearsal-${process.pid}-${invocation}`;
  // The runtime sets the trace header per invocation (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html).
  process.env._X_AMZN_TRACE_ID = `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${'0'.repeat(16)}${invocation
    .toString(16)
    .padStart(8, '0')};Parent=${'1'.repeat(16)};Sampled=0`;
  const deadline = Date.now() + Number(process.env.QTV_REHEARSAL_TIMEOUT_MS ?? 10_000);
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION}:123456789012:function:${process.env.AWS_LAMBDA_FUNCTION_NAME}`,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: requestId,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
  try {
    const result = await handler(message.event, context);
    process.send({ type: 'result', id: message.id, result });
  } catch (error) {
    process.send({
      type: 'error',
      id: message.id,
      error: { name: error?.name, message: String(error?.message ?? error) },
    });
  }
});
