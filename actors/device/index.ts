/**
 * A simulated device: the four trust domains wired together in one process (`single` placement).
 */
export { hypervisorMmChannel, serviceChannel, swHypervisorChannel } from './channels.ts';
export { timingFor, type DeviceConfig, type DeviceKeys, type DeviceTiming, type HubPin, type HubPins } from './config.ts';
export { Device } from './device.ts';
export { DirectHubLink, type DirectLinkOptions, type HubHandler } from './direct-link.ts';
export { foldStatus, newStatus, type DeviceEvent, type DeviceStatus, type InstanceStatus } from './status.ts';
export { demoFleet, demoSecrets, MM_IMAGE_ACTORS, type DemoFleet, type DemoFleetOptions, type DemoHub, type DemoPolicy, type DemoSecrets } from './demo.ts';
