/**
 * vitest globalSetup: one moto server for the integration run; tests read its URL with
 * `inject('motoEndpoint')` and point SDK clients at it (see aws.ts).
 */
import type { TestProject } from 'vitest/node';
import { startMotoServer } from './moto-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    motoEndpoint: string;
  }
}

export default async function setup(project: TestProject) {
  const moto = await startMotoServer();
  project.provide('motoEndpoint', moto.endpoint);
  return async () => moto.stop();
}
