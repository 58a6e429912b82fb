/** Lambda entry for the OAuth proxy's login route: configuration is loaded and validated at cold start. */
import { loadConfig } from '../shared/config.js';
import { createRuntime } from '../shared/runtime.js';
import { createLoginHandler } from './handler.js';

export const handler = createLoginHandler(createRuntime(loadConfig()));
