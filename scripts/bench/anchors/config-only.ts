/**
 * Cold-start component (issue #15): the configuration alone, as a function loads it at init (zod, the
 * schemas, one validated parse of QTV_CONFIG: the bench gives it what `qlik-jwt` gets), and a handler that
 * answers 200 without doing anything.
 * Its cold start minus `node -e ''` is what validating the configuration at cold start costs.
 */
import { loadConfig } from '../../../functions/runtime/config.js';

const config = loadConfig();

export const handler = async () => ({ statusCode: 200, body: config.qlik.issuer });
