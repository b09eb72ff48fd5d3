/**
 * The hypervisor domain's wiring, exported by its image (actors/images/hypervisor.ts) and started by
 * the device assembly (actors/device/assemble.ts): the proxy, one software AWDT per VM (keys K_MM and
 * K_SM_k, node crypto backend), the VM host, and the machines the VMs run on. No network.
 */
import { withCapacity, type ActorRef, type ActorSystem, type ChannelEndpoint, type Clock, type Supervisor } from '../../runtime/index.ts';
import { lanes, laneOf, lite } from '../../proto/index.ts';
import { nodeBackend } from '../crypto/index.ts';
import type { AwdtEvent } from '../tickets/index.ts';
import type { BoardTiming, MailboxBudgets } from '../../boards/types.ts';
import { domainMachine, type DomainVmOptions } from './domain-machine.ts';
import { Inspector } from './inspector.ts';
import { proxyActor, type ProxyMsg } from './proxy.ts';
import { VmHost, vmHostActor, type RebootCause, type VmEvent, type VmHostMsg, type VmMachine } from './vm-host.ts';
import { imageUpdater, type ImageEvent, type UpdaterMsg, type VmImageKeeper } from './vm-images.ts';
import { ImageFetchCore, imageFetcher, type FetcherEvent, type FetcherMsg } from '../transfer/index.ts';

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
  readonly timing: Pick<BoardTiming, 'vmInitialTimeoutMs' | 'maxDeferralMs' | 'replyTimeoutMs'>;
  readonly mailbox: MailboxBudgets['hypervisor'];
  readonly vms: readonly VmSlot[];
  readonly events?: (event: AwdtEvent | VmEvent | ImageEvent | FetcherEvent) => void;
  /** The keeper of the VMs' image slots: restores and updates VM images. None: the images are fixed. */
  readonly images?: VmImageKeeper;
  readonly nonce?: () => Uint8Array;
  /** False only for baselines that measure a device without dominance: VMs run with no AWDT. */
  readonly dominance?: boolean;
  /**
   * Gated boot: start in recovery mode — `mm` alone — and boot the services when `sw` says the IH
   * granted this boot (BootGranted). Default false: every VM boots at once.
   */
  readonly gated?: boolean;
}

export interface HypervisorInstalled {
  readonly vmHost: VmHost;
  readonly proxy: ActorRef<ProxyMsg>;
  /** Arms every VM's AWDT and boots the VMs (gated: `mm` only); call once the hypervisor domain has started. */
  bootVms(): void;
  /** Boots one VM again (through the VM host actor), e.g. when its process ended on its own. */
  restart(instance: string, cause: RebootCause): void;
  /** Stops one VM and leaves it down (through the VM host actor): its image could not start. */
  halt(instance: string, why: string): void;
}

export function installHypervisor(o: HypervisorInstallOptions): HypervisorInstalled {
  const crypto = nodeBackend();
  const { proxyRequest, proxyEnvelope } = lite;
  let proxyRef: ActorRef<ProxyMsg> | undefined;
  let hostRef: ActorRef<VmHostMsg> | undefined;
  let updaterRef: ActorRef<UpdaterMsg> | undefined;
  const fetchers = new Map<string, ActorRef<FetcherMsg>>();
  const vmHost = new VmHost(o.clock, o.domain, {
    deviceId: o.deviceId,
    initialTimeoutMs: o.timing.vmInitialTimeoutMs,
    maxDeferralMs: o.timing.maxDeferralMs,
    proxy: () => proxyRef!,
    host: () => hostRef!,
    events: o.events,
    nonce: o.nonce,
    dominance: o.dominance,
    images: o.images && { keeper: o.images, updater: () => updaterRef! },
  });
  const proxy = o.domain.spawn(
    withCapacity(
      proxyActor({
        toSw: {
          request: () => o.sw.send(proxyRequest, { instance: 'device' }),
          reply: (lane, envelope) => o.sw.send(proxyEnvelope, { instance: lane, envelope }),
        },
        toMm: (instance, envelope) => o.mm.send(proxyEnvelope, { instance, envelope }),
        vmAwdt: (instance) => vmHost.awdt(instance),
        toFetcher: (lane, envelope) => {
          const l = laneOf(lane);
          if (l?.kind === 'image') fetchers.get(l.instance)?.offer({ type: 'chunk', envelope });
        },
      }),
      o.mailbox.proxy,
    ),
  );
  proxyRef = proxy;
  hostRef = o.domain.spawn(withCapacity(vmHostActor(vmHost), o.mailbox.vmHost));
  o.sw.route(proxyEnvelope, proxy, (m): ProxyMsg => ({ type: 'outbound', instance: m.instance, envelope: m.envelope }));
  o.sw.route(lite.bootGranted, hostRef, (): VmHostMsg => ({ type: 'boot-granted' }));
  o.mm.route(proxyRequest, proxy, (m): ProxyMsg => ({ type: 'mm-request', instance: m.instance }));
  o.mm.route(proxyEnvelope, proxy, (m): ProxyMsg => ({ type: 'mm-reply', instance: m.instance, envelope: m.envelope }));
  for (const vm of o.vms) {
    vmHost.add({
      instance: vm.instance,
      machine: vm.machine,
      signer: crypto.signer(vm.key),
      hub: crypto.verifier(vm.hub),
    });
  }
  const host = hostRef;
  const keeper = o.images;
  if (keeper !== undefined) {
    updaterRef = o.domain.spawn(
      imageUpdater({
        keeper,
        fetcher: (instance) => fetchers.get(instance),
        reboot: (instance, why) => host.tell({ type: 'restart', instance, cause: { kind: why } }),
        self: () => updaterRef!,
        events: o.events,
        now: () => o.clock.now(),
      }),
    );
    const updater = updaterRef;
    // One fetcher per VM, signing with that VM's key on its own image lane.
    for (const vm of o.vms) {
      fetchers.set(
        vm.instance,
        o.domain.spawn(
          imageFetcher({
            name: `fetch.${vm.instance}`,
            instance: vm.instance,
            core: () =>
              new ImageFetchCore({
                deviceId: o.deviceId,
                instance: vm.instance,
                signer: crypto.signer(vm.key),
                hub: crypto.verifier(vm.hub),
                sha512: (d) => crypto.sha512(d),
                nonce: o.nonce,
              }),
            send: (envelope) => o.mm.send(proxyEnvelope, { instance: lanes.image(vm.instance), envelope }),
            replyTimeoutMs: o.timing.replyTimeoutMs,
            done: (outcome) => updater.tell({ type: 'fetched', instance: vm.instance, outcome }),
            events: o.events,
          }),
        ),
      );
    }
  }
  return {
    vmHost,
    proxy,
    bootVms: () => vmHost.bootAll(o.gated === true ? (instance) => instance === 'mm' : undefined),
    restart: (instance, cause) => host.tell({ type: 'restart', instance, cause }),
    halt: (instance, why) => host.tell({ type: 'halt', instance, why }),
  };
}
