/**
 * The Powertools tracer, present only in bundles built with tracing on (`deployment.tracing`, default
 * true; see runtime/bundle-flags.ts). A static import would keep aws-xray-sdk-core, semver and
 * cls-hooked (about 120 KiB, evaluated at import) in every bundle even when nothing used them, because
 * those packages declare import side effects; behind this guarded dynamic import esbuild leaves them
 * out entirely. Top-level await keeps every user of it synchronous.
 */
export const tracing: typeof import('./tracing-powertools.js') | undefined =
  typeof QTV_BUNDLE_TRACING === 'undefined' || QTV_BUNDLE_TRACING ? await import('./tracing-powertools.js') : undefined;
