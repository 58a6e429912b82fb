/** Lambda entry for the OAuth proxy's refresh route: configuration is loaded and validated at cold start. */
import { loadConfig } from '../shared/config.js';
import { createRuntime } from '../shared/runtime.js';
import { createRefreshHandler } from './handler.js';

export const handler = createRefreshHandler(createRuntime(loadConfig()));
