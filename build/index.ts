/**
 * The door to `build/`: per-board, per-domain bundles with esbuild, their isolation rules and size
 * budgets, the signed manifest, the systemd unit, and the checks a runner does before it loads them.
 * The domain entry modules (the bundles' sources) are in build/entries/.
 */
export { buildBoard, planBundles, sizeTable, PROJECT_ROOT, type BuildOptions, type BuildResult, type BundleReport } from './build.ts';
export { bundleDomain, sideEffectFree, REQUIRE_BANNER, type Bundle, type BundleOptions } from './bundle.ts';
export { ALIASES, aliasOption, type Alias } from './aliases.ts';
export { ISOLATION_RULES, isolationViolations, shippedInputs, type IsolationRule, type Violation } from './rules.ts';
export {
  encodeManifest,
  signManifest,
  verifyArtifacts,
  BOARD_FILE,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  PUBLIC_KEY_FILE,
  SIGNATURE_FILE,
  type Manifest,
  type ManifestFile,
  type ManifestSignature,
  type VerifiedArtifacts,
} from './manifest.ts';
export { devReleaseKey, readReleaseKey, DEV_KEY_FILE, type ReleaseKey } from './release-key.ts';
export { systemdUnit, unitFileName, DEFAULT_LAYOUT, type UnitLayout } from './systemd.ts';
export { bundleFile, importBytes, linkChannel, loadArtifacts, loadDomain, type ChannelSide, type LoadedDomain, type HypervisorModule, type LoadedArtifacts, type MmModule, type ServiceModule, type SwModule } from './load.ts';
export { ArtifactError, BuildError, type ArtifactErrorCode, type BuildErrorCode } from './errors.ts';
export { composeDevice, startSw, type SwStart, type ComposedDevice, type ComposedSystem, type ComposeOptions } from './compose.ts';
export { BundledDevice, type Composer, type RunnerEvent, type RunnerHooks, type RunningDevice } from './runner.ts';
export { composeProcesses, hostCommandOfThisProcess, runDomainHost, type HostCommand, type ProcessDeviceOptions } from './process/index.ts';
