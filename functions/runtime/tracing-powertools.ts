/** The tracer's modules, loaded through runtime/tracing.ts only. */
export { Tracer } from '@aws-lambda-powertools/tracer';
export { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
