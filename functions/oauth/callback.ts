/** Lambda entry for the OAuth proxy's callback route: configuration is loaded and validated at cold start. */
import { loadConfig } from '../shared/config.js';
import { createRuntime } from '../shared/runtime.js';
import { createCallbackHandler } from './handler.js';

export const handler = createCallbackHandler(createRuntime(loadConfig()));
