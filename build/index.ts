/**
 * The door to `build/` (build time only): per-board, per-domain bundles of the images in
 * actors/images/ with esbuild, their isolation rules and size budgets, the signed manifest and the
 * systemd unit. What a device does with them at run time lives in actors/device and actors/release.
 */
export { buildBoard, planBundles, sizeTable, PROJECT_ROOT, type BuildOptions, type BuildResult, type BundleReport } from './build.ts';
export { bundleDomain, REQUIRE_BANNER, type Bundle, type BundleOptions } from './bundle.ts';
export { ALIASES, aliasOption, type Alias } from './aliases.ts';
export {
  bundleViolations,
  codeViolations,
  ISOLATION_RULES,
  isolationViolations,
  shippedInputs,
  type IsolationRule,
  type Violation,
} from './rules.ts';
export { signManifest } from './sign.ts';
export { devReleaseKey, readReleaseKey, DEV_KEY_FILE, type ReleaseKey } from './release-key.ts';
export { systemdUnit, unitFileName, DEFAULT_LAYOUT, type UnitLayout } from './systemd.ts';
export { BuildError, type BuildErrorCode } from './errors.ts';
export { bundleRunner } from './runner.ts';
