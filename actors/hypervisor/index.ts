/**
 * `hypervisor`: the proxy (the only door between `mm` and the AWDTs), one software AWDT per VM domain,
 * the inspector that writes each VM's runtime report, and VM lifecycle. It never reaches the network.
 */
export { Inspector, outsideReport, type OutsideFacts, type VmFacts } from './inspector.ts';
export { domainMachine, type DomainVmOptions } from './domain-machine.ts';
export { proxyActor, type ProxyCounters, type ProxyMsg, type ProxyOptions } from './proxy.ts';
export {
  VmHost,
  vmHostActor,
  type VmDefinition,
  type VmEvent,
  type VmHostMsg,
  type VmHostOptions,
  type VmMachine,
  type RebootCause,
} from './vm-host.ts';
export { domainMachines, installHypervisor, type HypervisorInstalled, type HypervisorInstallOptions, type VmSlot } from './domain.ts';
export { imageUpdater, type ImageEvent, type UpdaterMsg, type UpdaterOptions, type VmImageKeeper } from './vm-images.ts';
export {
  encodeRecord,
  serviceSealer,
  ServiceSealer,
  type FrameOutcome,
  type SealerCounters,
  type ServiceSealerOptions,
} from './service-seal.ts';
