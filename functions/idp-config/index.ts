/** Lambda entry for `GET /qlik/idp-config`. */
import { loadConfig } from '../shared/config.js';
import { createRuntime } from '../shared/runtime.js';
import { createHandler } from './handler.js';

export const handler = createHandler(createRuntime(loadConfig()));
