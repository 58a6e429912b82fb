/** Lambda entry for `POST /qlik/access-token`: configuration is loaded and validated at cold start. */
import { loadConfig } from '../runtime/config.js';
import { createRuntime } from '../runtime/wiring.js';
import { createHandler } from './handler.js';

export const handler = createHandler(createRuntime(loadConfig()));
