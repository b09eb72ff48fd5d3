/**
 * The `sw` domain's image: the device AWDT with K_I (noble backend: pure JS, as the secure world's
 * crypto), the pinned IH key and the watchdog backend, reached only through the channel to the
 * hypervisor. actors/device/assemble.ts boots it before any other domain (docs/ARCHITECTURE.md §5).
 */
import { SW_HYPERVISOR } from '../../proto/channels.ts';

export { ENTRY_ABI, runtime } from './common.ts';
export { FileStateStore } from '../sw/index.ts';

export const DOMAIN = 'sw';

/** The channels `sw` has an end on. */
export const channels = { hypervisor: SW_HYPERVISOR } as const;

export {
  installSw as install,
  beginBoot,
  createWatchdog,
  recordingWatchdog,
  type SwInstallOptions,
  type SwInstalled,
  type WatchdogDeps,
} from '../sw/domain.ts';
