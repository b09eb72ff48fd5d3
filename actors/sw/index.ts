/**
 * `sw`, the secure world: the device AWDT, K_I, the pinned IH key and the watchdog backend. It may
 * reset the whole device; no other domain can stop, pause or re-arm it except with a valid IH ticket.
 */
export {
  FIRMWARE_LABELS,
  firmwareUpdater,
  type DeviceImageKeeper,
  type FirmwareEvent,
  type FirmwareLabel,
  type FirmwareMsg,
} from './device-update.ts';
export { bootGate, BootGateCore, type BootGateConfig, type BootVerdict, type GateEvent, type GateMsg } from './boot-gate.ts';
export { deviceAwdt, resetReasonOf, type DeviceAwdtOptions } from './device-awdt.ts';
export { FileStateStore, MemoryStateStore, type BootRecord, type DeviceStateStore } from './device-state.ts';
export { SimulatedWatchdog, type WatchdogBackend } from './watchdog.ts';
export {
  applyHardwareTimeout,
  bootStatusPath,
  DEFAULT_WATCHDOG_DEVICE,
  HardwareTimeoutError,
  LinuxWatchdog,
  MAGIC_CLOSE,
  openWatchdogFile,
  PET_BYTE,
  readBootStatus,
  resetReasonAfterBoot,
  sysfsPath,
  WatchdogOpenError,
  WDCTL,
  wdctlSetTimeout,
  WDIOF,
  type BootStatus,
  type HardwareTimeoutIo,
  type LinuxWatchdogOptions,
  type WatchdogFile,
} from './linux-watchdog.ts';
export {
  beginBoot,
  createWatchdog,
  installSw,
  recordingWatchdog,
  type SwInstalled,
  type SwInstallOptions,
  type WatchdogDeps,
} from './domain.ts';
