/** Lambda entry for `POST /qlik/access-token`: configuration is loaded and validated at cold start. */
import { loadConfig } from '../shared/config.js';
import { createRuntime } from '../shared/runtime.js';
import { createHandler } from './handler.js';

export const handler = createHandler(createRuntime(loadConfig()));
