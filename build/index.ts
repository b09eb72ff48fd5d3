/**
 * The door to `build/` (build time only): per-board, per-domain bundles of the images in
 * actors/images/ with esbuild, their isolation rules and size budgets, the signed manifest and the
 * systemd unit; the signed install archive of a board (`dominion pack`) and its installer
 * (`dominion install`, and the archive's install.sh from the same layout table); the hubs' systemd
 * units. What a device does with them at run time lives in actors/device and actors/release.
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
export { signDocument, signManifest } from './sign.ts';
export { devReleaseKey, readReleaseKey, DEV_KEY_FILE, type ReleaseKey } from './release-key.ts';
export { systemdUnit, unitFileName, DEFAULT_LAYOUT, RUNNER_PATH, type UnitLayout } from './systemd.ts';
export { BuildError, type BuildErrorCode } from './errors.ts';
export { bundleRunner } from './runner.ts';
export { packBoard, type PackOptions, type PackResult } from './pack.ts';
export { installPack, readPack, type InstallOptions, type InstallResult } from './install.ts';
export { installLayout, nextSteps, checkPrefix, rewriteUnit, unitName, DEFAULT_PREFIX, type InstallLayout } from './install-layout.ts';
export { installScript } from './install-script.ts';
export {
  encodePack,
  verifyPack,
  packFileName,
  PACK_FILE,
  PACK_SIG_FILE,
  PACK_FORMAT,
  type PackDoc,
  type VerifiedPack,
} from './pack-format.ts';
export { readTarGz, writeTarGz, type TarEntry } from './tar.ts';
export { PackError, type PackErrorCode } from './pack-errors.ts';
export { hubUnit, hubUnitName, HubUnitError, HUB_DEFAULTS, HUB_STATE_DIR, type HubUnitOptions } from './hub-unit.ts';
