/** Lambda entry for `POST /qlik/jwt`: configuration is loaded and validated at cold start. */
import { loadConfig } from '../runtime/config.js';
import { createRuntime, prefetchSigningKey } from '../runtime/wiring.js';
import { createHandler } from './handler.js';

const runtime = createRuntime(loadConfig());
prefetchSigningKey(runtime);

export const handler = createHandler(runtime);
