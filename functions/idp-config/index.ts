/** Lambda entry for `GET /qlik/idp-config`. */
import { loadConfig } from '../runtime/config.js';
import { createRuntime } from '../runtime/wiring.js';
import { createHandler } from './handler.js';

export const handler = createHandler(createRuntime(loadConfig()));
