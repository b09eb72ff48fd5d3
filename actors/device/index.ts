/**
 * The door to `actors/device/`: a whole device. `assemble.ts` holds every domain-level rule; the
 * simulated device from sources (`Device`), verified bundles in one process (`singlePlacement`) and
 * one process per domain (`processPlacement`) are thin hosts over it (docs/ARCHITECTURE.md §6).
 */
export {
  DEFERRAL_ROUNDS,
  defaultDeferralMs,
  timingFor,
  type DeviceConfig,
  type DeviceKeys,
  type DeviceTiming,
  type HubPin,
  type HubPins,
} from './config.ts';
export { Device } from './device.ts';
export { DeviceConfigError, domainsOfProcess, processBudget, receiverRoutes, type AssembledDevice } from './assemble.ts';
export { sourceImages, type DeviceImages } from './images.ts';
export { boardOf, importBytes, importDomain, loadArtifacts, type LoadedArtifacts } from './artifacts.ts';
export { BundledDevice, singlePlacement, type Placement, type RunnerHooks, type RunningDevice, type SingleOptions } from './runner.ts';
export {
  createDomainUsers,
  domainUserName,
  domainUsers,
  DomainUserError,
  hostCommandOfThisProcess,
  processLabels,
  processPlacement,
  runDomainHost,
  usersFor,
  type HostCommand,
  type ProcessDeviceOptions,
} from './process/index.ts';
export {
  DeviceBootError,
  prepareSlots,
  slottedPlacement,
  type PrepareOptions,
  type SlottedImages,
  type SlottedOptions,
} from './slotted.ts';
export { deviceSlots, installCarried, ModuleCache, RECOVERY_PATH, slotPaths, type DeviceSlots } from './device-slots.ts';
export { VmSlotKeeper, type OpenedImage, type VmKeeperOptions } from './vm-keeper.ts';
export { DirectHubLink, type DirectLinkOptions, type HubHandler } from './direct-link.ts';
export { foldStatus, newStatus, type DeviceEvent, type DeviceStatus, type InstanceStatus, type SlotEvent } from './status.ts';
export {
  demoFleet,
  demoSecrets,
  publishRelease,
  MM_IMAGE_ACTORS,
  type DemoFleet,
  type DemoFleetOptions,
  type DemoHub,
  type DemoPolicy,
  type DemoSecrets,
} from './demo.ts';
