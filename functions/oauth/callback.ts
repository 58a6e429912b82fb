/** Lambda entry for the OAuth proxy's callback route: configuration is loaded and validated at cold start. */
import { loadConfig } from '../runtime/config.js';
import { createRuntime } from '../runtime/wiring.js';
import { createCallbackHandler } from './handler.js';

export const handler = createCallbackHandler(createRuntime(loadConfig()));
