/** Lambda entry for the OAuth proxy's revoke route: configuration is loaded and validated at cold start. */
import { loadConfig } from '../runtime/config.js';
import { createRuntime } from '../runtime/wiring.js';
import { createRevokeHandler } from './handler.js';

export const handler = createRevokeHandler(createRuntime(loadConfig()));
