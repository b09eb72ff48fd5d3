/**
 * The door to `process` placement (docs/ARCHITECTURE.md §6): one OS process per domain, channels over
 * Unix sockets, each VM process started, rebooted and killed by the hypervisor process with its
 * domain's heap limit. `processPlacement` runs `sw` in this process and starts the rest;
 * `runDomainHost` is what every other domain process runs (`dominion domain-host`).
 */
export { processPlacement, usersFor, type ProcessDeviceOptions } from './device.ts';
export { parseEventLine } from './event-lines.ts';
export { runDomainHost } from './host.ts';
export { hostCommandOfThisProcess, spawnDomain, type DomainProcess, type SpawnOptions } from './spawn.ts';
export { parseBootstrap, BootstrapError, type Bootstrap, type HostCommand } from './bootstrap.ts';
export { FrameRelay, type RelayCounters } from './relay.ts';
export { residentBytes } from './process-vm.ts';
export {
  createDomainUsers,
  domainUserName,
  domainUsers,
  DomainUserError,
  processLabels,
  type DomainUser,
  type DomainUsers,
} from './users.ts';
