/** Lambda entry for the OAuth proxy's code-exchange route: configuration is loaded and validated at cold start. */
import { loadConfig } from '../runtime/config.js';
import { createRuntime } from '../runtime/wiring.js';
import { createCodeExchangeHandler } from './handler.js';

export const handler = createCodeExchangeHandler(createRuntime(loadConfig()));
