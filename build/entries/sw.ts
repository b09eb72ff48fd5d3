/**
 * The `sw` domain's image (bundle entry): the device AWDT with K_I (noble backend: pure JS, as the
 * secure world's crypto), the pinned IH key and the watchdog backend, reached only through the
 * channel to the hypervisor.
 *
 * A runner: `beginBoot` (boot count, reset reason), make the watchdog (`createWatchdog`), build the
 * sw end of the sw↔hypervisor channel from `channels.hypervisor`, `install`, then `domain.start()` —
 * before any other domain starts, so the device AWDT is armed first (ARCHITECTURE.md §5).
 */
import { swHypervisorChannel } from '../../actors/device/channels.ts';

export { ENTRY_ABI, runtime } from './common.ts';
export { FileStateStore, LinuxWatchdog, SimulatedWatchdog, readBootStatus, bootStatusPath, resetReasonAfterBoot } from '../../actors/sw/index.ts';

export const DOMAIN = 'sw';

/** The channels `sw` has an end on, as specs built from this bundle's code. */
export const channels = { hypervisor: swHypervisorChannel } as const;

export {
  installSw as install,
  beginBoot,
  createWatchdog,
  recordingWatchdog,
  type SwInstallOptions,
  type SwInstalled,
  type WatchdogDeps,
} from '../../actors/sw/domain.ts';
