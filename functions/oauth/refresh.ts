/** Lambda entry for the OAuth proxy's refresh route: configuration is loaded and validated at cold start. */
import { loadConfig } from '../runtime/config.js';
import { createRuntime } from '../runtime/wiring.js';
import { createRefreshHandler } from './handler.js';

export const handler = createRefreshHandler(createRuntime(loadConfig()));
