/**
 * The package's public API for CDK apps: `import { QlikTokenVending } from 'qlik-token-vending'`.
 * Built into dist/construct/ by `npm run build:construct`, with the Lambda bundles prebuilt beside it.
 */
export { ConfigError } from '../functions/errors.js';
export type { Config, ConfigInput } from '../functions/runtime/config.js';
export { loadConfigFile, parseConfig } from '../functions/runtime/config.js';
export { KeyRotation, type KeyRotationProps } from './constructs/key-rotation.js';
export { Monitoring, type MonitoringProps } from './constructs/monitoring.js';
export { QlikTokenVending, type QlikTokenVendingProps } from './constructs/qlik-token-vending.js';
export { SigningKey, type SigningKeyProps } from './constructs/signing-key.js';
export { TenantRegistry, type TenantRegistryProps } from './constructs/tenant-registry.js';
export { TokenApi, type TokenApiProps } from './constructs/token-api.js';
export { TokenFunction, type TokenFunctionProps } from './constructs/token-function.js';
