/** Lambda entry for the OAuth proxy's login route: configuration is loaded and validated at cold start. */
import { loadConfig } from '../runtime/config.js';
import { createRuntime } from '../runtime/wiring.js';
import { createLoginHandler } from './handler.js';

export const handler = createLoginHandler(createRuntime(loadConfig()));
