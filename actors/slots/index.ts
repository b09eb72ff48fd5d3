/**
 * The door to `actors/slots/`: A/B slots for each domain's image on a device, and the boot state
 * that says which slot boots (docs/ARCHITECTURE.md §5). `SlotBoot` is what a device uses;
 * the pure transitions, the state file and the store are exported for tests, status and tools.
 */
export {
  addDomain,
  beginDownload,
  BOOT_STATE_FORMAT,
  cleanDetail,
  commit,
  DEFAULT_TRIES,
  domainOf,
  failTrial,
  failUpdate,
  fallback,
  fellBack,
  inactiveSlot,
  initialState,
  installedTrial,
  labelProblem,
  MAX_TRIES,
  mirrored,
  otherSlot,
  rebuiltDomain,
  restored,
  rollBack,
  runningVersion,
  SLOT_NAMES,
  startBoot,
  type BootDecision,
  type BootState,
  type DomainSlots,
  type SlotName,
  type TrialState,
  type UpdatePhase,
  type UpdateState,
} from './boot-state.ts';
export { BootStateError, SlotError, type BootStateErrorCode, type SlotErrorCode } from './errors.ts';
export { nodeFs, readBounded, replaceAtomically, type BoundedRead, type FileStat, type SlotFs } from './fs.ts';
export { bootStateProblem, BootStateFile, MAX_STATE_BYTES, parseBootState } from './state-file.ts';
export { labelDir, MAX_MANIFEST_BYTES, MAX_SIGNATURE_BYTES, SlotStore, type SlotCheck } from './slot-store.ts';
export { SlotBoot, type InstallReport, type OpenOutcome, type RolledBack, type SlotBootConfig, type SlotStatus } from './slot-boot.ts';
