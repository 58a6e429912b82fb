/**
 * One bundled Lambda function in a fresh Node process, with the environment the Lambda service would give it:
 * the function's own variables from the template, the runtime's reserved variables, and the execution role's
 * temporary credentials. Nothing of the test process's environment is inherited (not even PATH: node is spawned
 * by its absolute path), so a bundle that reads anything else fails here as it would in Lambda.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

const RUNNER = fileURLToPath(new URL('./lambda-runner.mjs', import.meta.url));

/** Temporary credentials of the execution role (from sts:AssumeRole). */
export interface RoleCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
}

/** How to start a function process. */
export interface LambdaProcessOptions {
  readonly name: string;
  readonly assetDir: string;
  readonly handler: string;
  readonly runtime: string;
  readonly memorySize: number;
  readonly timeoutSeconds: number;
  /** The function's environment from the template, intrinsics resolved. */
  readonly environment: Readonly<Record<string, string>>;
  readonly credentials: RoleCredentials;
  readonly region: string;
  /** moto's URL: every SDK v3 client in the bundle honours AWS_ENDPOINT_URL. */
  readonly endpoint: string;
  /** Extra variables that Lambda would not set but a stand-in needs (e.g. NODE_EXTRA_CA_CERTS for a TLS tenant). */
  readonly extraEnvironment?: Readonly<Record<string, string>>;
}

/** A function that failed to start or an invocation that threw. */
export class LambdaInvocationError extends Error {
  constructor(
    message: string,
    readonly output: string,
  ) {
    super(message);
    this.name = 'LambdaInvocationError';
  }
}

/** A running function process. */
export interface LambdaProcess {
  readonly name: string;
  /** Invokes the handler with `event`; resolves with its result, rejects with {@link LambdaInvocationError} if it threw. */
  invoke<T = APIGatewayProxyStructuredResultV2>(event: APIGatewayProxyEventV2 | Record<string, unknown>): Promise<T>;
  /** Everything the function wrote to stdout and stderr so far (its CloudWatch log, in Lambda). */
  output(): string;
  stop(): Promise<void>;
}

/**
 * The variables the Lambda runtime sets for a Node.js function
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
 */
function runtimeEnvironment(options: LambdaProcessOptions): Record<string, string> {
  const runtime = options.runtime; // e.g. nodejs24.x
  return {
    _HANDLER: options.handler,
    AWS_EXECUTION_ENV: `AWS_Lambda_${runtime}`,
    AWS_LAMBDA_FUNCTION_NAME: options.name,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(options.memorySize),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${options.name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: 'rehearsal',
    AWS_REGION: options.region,
    AWS_DEFAULT_REGION: options.region,
    AWS_ACCESS_KEY_ID: options.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: options.credentials.secretAccessKey,
    AWS_SESSION_TOKEN: options.credentials.sessionToken,
    LAMBDA_TASK_ROOT: options.assetDir,
    LAMBDA_RUNTIME_DIR: '/var/runtime',
    TZ: ':UTC',
    // Active tracing: the runtime points the X-Ray SDK at the daemon. Nothing listens on this port here; the
    // segments are UDP datagrams that go nowhere, as they would without a daemon.
    AWS_XRAY_DAEMON_ADDRESS: '127.0.0.1:2000',
    AWS_XRAY_CONTEXT_MISSING: 'LOG_ERROR',
  };
}

/** Starts the function's process and waits until its module has loaded (the init phase). */
export async function startLambdaProcess(options: LambdaProcessOptions): Promise<LambdaProcess> {
  const env = {
    ...runtimeEnvironment(options),
    ...options.environment,
    AWS_ENDPOINT_URL: options.endpoint,
    QTV_REHEARSAL_TIMEOUT_MS: String(options.timeoutSeconds * 1000),
    ...options.extraEnvironment,
  };
  const child: ChildProcess = spawn(process.execPath, [RUNNER, options.assetDir, options.handler], {
    env,
    cwd: options.assetDir,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-200_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);

  let nextId = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let exited = false;
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (message: { type: string; id?: number; result?: unknown; error?: { message: string } }) => {
      if (message.type === 'ready') resolve();
      else if (message.type === 'init-error')
        reject(
          new LambdaInvocationError(
            `${options.name}: init failed: ${message.error?.message}\n${output.slice(-4000)}`,
            output,
          ),
        );
      else if (message.id !== undefined) {
        const waiter = pending.get(message.id);
        pending.delete(message.id);
        if (message.type === 'result') waiter?.resolve(message.result);
        else
          waiter?.reject(
            new LambdaInvocationError(`${options.name}: handler threw: ${message.error?.message}`, output),
          );
      }
    });
    child.once('exit', (code) => {
      exited = true;
      const error = new LambdaInvocationError(`${options.name}: process exited with code ${code}\n${output}`, output);
      reject(error);
      for (const waiter of pending.values()) waiter.reject(error);
      pending.clear();
    });
  });
  await ready;

  return {
    name: options.name,
    invoke: <T>(event: unknown) =>
      new Promise<T>((resolve, reject) => {
        if (exited) return reject(new LambdaInvocationError(`${options.name}: process has exited`, output));
        const id = nextId++;
        const timer = setTimeout(
          () => {
            pending.delete(id);
            reject(new LambdaInvocationError(`${options.name}: timed out after ${options.timeoutSeconds} s`, output));
          },
          options.timeoutSeconds * 1000 + 1000,
        );
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        child.send({ type: 'invoke', id, event });
      }),
    output: () => output,
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited || child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 2000).unref();
      }),
  };
}
