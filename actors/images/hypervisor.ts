/**
 * The `hypervisor` domain's image: the proxy, one software AWDT per VM (keys K_MM and K_SM_k, node
 * crypto backend), the inspector and VM lifecycle. No network. Its VMs run on machines the host
 * gives it: domains of the same actor system (`domainMachines`) or processes (`outsideReport`).
 */
import { HYPERVISOR_MM, serviceChannel, SW_HYPERVISOR } from '../../proto/channels.ts';

export { ENTRY_ABI, runtime } from './common.ts';
export { outsideReport, serviceSealer } from '../hypervisor/index.ts';
export type { VmMachine } from '../hypervisor/index.ts';

export const DOMAIN = 'hypervisor';

/** The channels the hypervisor has an end on, and those it relays between mm and a service process. */
export const channels = { sw: SW_HYPERVISOR, mm: HYPERVISOR_MM, service: serviceChannel } as const;

export {
  installHypervisor as install,
  domainMachines,
  type HypervisorInstalled,
  type HypervisorInstallOptions,
  type VmSlot,
} from '../hypervisor/domain.ts';
