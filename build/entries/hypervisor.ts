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
import type { ActorRef, ActorSystem, ChannelEndpoint, Clock, Supervisor } from '../../runtime/index.ts';
import { lite } from '../../proto/index.ts';
import { nodeBackend } from '../../actors/crypto/index.ts';
import { hypervisorMmChannel, swHypervisorChannel } from '../../actors/device/channels.ts';
import {
  domainMachine,
  Inspector,
  proxyActor,
  VmHost,
  vmHostActor,
  type DomainVmOptions,
  type ProxyMsg,
  type RebootCause,
  type VmEvent,
  type VmHostMsg,
  type VmMachine,
} from '../../actors/hypervisor/index.ts';
import type { AwdtEvent } from '../../actors/tickets/index.ts';
import type { BoardTiming, MailboxBudgets } from '../../boards/types.ts';
import { codecOf, withCapacity } from './common.ts';

export { ENTRY_ABI, runtime } from './common.ts';
export { outsideReport } from '../../actors/hypervisor/index.ts';
export type { VmMachine } from '../../actors/hypervisor/index.ts';

export const DOMAIN = 'hypervisor';

/** The channels the hypervisor has an end on, as specs built from this bundle's code. */
export const channels = { sw: swHypervisorChannel, mm: hypervisorMmChannel } as const;

/** One VM the hypervisor runs and dominates with its own AWDT. */
export interface VmSlot {
  /** `mm` or `sm:<service>`. */
  readonly instance: string;
  /** What the VM runs on; booted (again) by the hypervisor, after arming the VM's AWDT. */
  readonly machine: VmMachine;
  /** K_MM or K_SM_k: the 32-byte seed. */
  readonly key: Uint8Array;
  /** The dominating hub's pinned public key: IH for `mm`, SH_k for `sm:k`. */
  readonly hub: Uint8Array;
}

/**
 * VMs as domains of `system` (`single` placement), all read by one inspector built from this
 * bundle's code.
 */
export function domainMachines(system: ActorSystem): (vm: Omit<DomainVmOptions, 'inspector'>) => VmMachine {
  const inspector = new Inspector(system, nodeBackend());
  return (vm) => domainMachine({ ...vm, inspector });
}

export interface HypervisorInstallOptions {
  readonly clock: Clock;
  /** The `hypervisor` domain, not yet started. */
  readonly domain: Supervisor;
  /** The hypervisor's end of sw↔hypervisor (built from `channels.sw`). */
  readonly sw: ChannelEndpoint;
  /** The hypervisor's end of hypervisor↔mm (built from `channels.mm`). */
  readonly mm: ChannelEndpoint;
  readonly deviceId: string;
  readonly timing: Pick<BoardTiming, 'vmInitialTimeoutMs' | 'maxDeferralMs'>;
  readonly mailbox: MailboxBudgets['hypervisor'];
  readonly vms: readonly VmSlot[];
  readonly events?: (event: AwdtEvent | VmEvent) => void;
  readonly nonce?: () => Uint8Array;
}

export interface HypervisorInstalled {
  readonly vmHost: VmHost;
  readonly proxy: ActorRef<ProxyMsg>;
  /** Arms every VM's AWDT and boots the VMs; call once the hypervisor domain has started. */
  bootVms(): void;
  /** Boots one VM again (through the VM host actor), e.g. when its process ended on its own. */
  restart(instance: string, cause: RebootCause): void;
}

export function install(o: HypervisorInstallOptions): HypervisorInstalled {
  const crypto = nodeBackend();
  const swRequest = codecOf(o.sw, lite.proxyRequest);
  const swEnvelope = codecOf(o.sw, lite.proxyEnvelope);
  const mmRequest = codecOf(o.mm, lite.proxyRequest);
  const mmEnvelope = codecOf(o.mm, lite.proxyEnvelope);
  let proxyRef: ActorRef<ProxyMsg> | undefined;
  let hostRef: ActorRef<VmHostMsg> | undefined;
  const vmHost = new VmHost(o.clock, o.domain, {
    deviceId: o.deviceId,
    initialTimeoutMs: o.timing.vmInitialTimeoutMs,
    maxDeferralMs: o.timing.maxDeferralMs,
    proxy: () => proxyRef!,
    host: () => hostRef!,
    events: o.events,
    nonce: o.nonce,
  });
  const proxy = o.domain.spawn(
    withCapacity(
      proxyActor({
        toSw: {
          request: () => o.sw.send(swRequest, { instance: 'device' }),
          reply: (envelope) => o.sw.send(swEnvelope, { instance: 'device', envelope }),
        },
        toMm: (instance, envelope) => o.mm.send(mmEnvelope, { instance, envelope }),
        vmAwdt: (instance) => vmHost.awdt(instance),
      }),
      o.mailbox.proxy,
    ),
  );
  proxyRef = proxy;
  hostRef = o.domain.spawn(withCapacity(vmHostActor(vmHost), o.mailbox.vmHost));
  o.sw.route(swEnvelope, proxy, (m): ProxyMsg => ({ type: 'outbound', instance: m.instance, envelope: m.envelope }));
  o.mm.route(mmRequest, proxy, (m): ProxyMsg => ({ type: 'mm-request', instance: m.instance }));
  o.mm.route(mmEnvelope, proxy, (m): ProxyMsg => ({ type: 'mm-reply', instance: m.instance, envelope: m.envelope }));
  for (const vm of o.vms) {
    vmHost.add({
      instance: vm.instance,
      machine: vm.machine,
      signer: crypto.signer(vm.key),
      hub: crypto.verifier(vm.hub),
    });
  }
  const host = hostRef;
  return { vmHost, proxy, bootVms: () => vmHost.bootAll(), restart: (instance, cause) => host.tell({ type: 'restart', instance, cause }) };
}
