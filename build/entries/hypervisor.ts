/**
 * The `hypervisor` domain's image (bundle entry): the proxy, one software AWDT per VM (keys K_MM and
 * K_SM_k, node crypto backend), the inspector and VM lifecycle. No network.
 *
 * A runner: build the hypervisor's ends of sw↔hypervisor and hypervisor↔mm from `channels`,
 * describe each VM (`mm`, `sm:<k>`: the machine it runs on and its keys), `install`,
 * `domain.start()`, then `bootVms()`. The machine is a domain of the same system (`single`
 * placement: `domainMachines(system)`, installing the VM bundle's image) or a process the runner
 * starts (`process` placement, reported with `outsideReport`).
 */
import { hypervisorMmChannel, swHypervisorChannel } from '../../actors/device/channels.ts';

export { ENTRY_ABI, runtime } from './common.ts';
export { outsideReport } from '../../actors/hypervisor/index.ts';
export type { VmMachine } from '../../actors/hypervisor/index.ts';

export const DOMAIN = 'hypervisor';

/** The channels the hypervisor has an end on, as specs built from this bundle's code. */
export const channels = { sw: swHypervisorChannel, mm: hypervisorMmChannel } as const;

export {
  installHypervisor as install,
  domainMachines,
  type HypervisorInstalled,
  type HypervisorInstallOptions,
  type VmSlot,
} from '../../actors/hypervisor/domain.ts';
