/**
 * VM lifecycle: each VM domain (`mm`, `sm:<k>`) gets a software AWDT here, armed before the VM starts.
 * When it expires, that domain alone is stopped (mailboxes discarded, timers cancelled), emptied of
 * every actor — including any an intruder spawned — and booted again from its clean image. Its data
 * directory is untouched: the image installer is handed the same path every boot.
 */
import type { ActorRef, ActorSpec, ActorSystem, Supervisor } from '../../runtime/index.ts';
import type { Signer, Verifier } from '../crypto/index.ts';
import { AwdtCore, awdtActor, type AwdtEvent, type AwdtMsg, type ExpiryCause } from '../tickets/index.ts';
import type { Inspector } from './inspector.ts';
import type { ProxyMsg } from './proxy.ts';

export interface VmImage {
  /** `mm` or `sm:<service>`; also the domain's name. */
  readonly instance: string;
  /** Digest of the image (its code bundle) as the manifest names it. */
  readonly digest: Uint8Array;
  /** Spawns the VM's actors into a fresh, empty supervisor. */
  install(image: Supervisor): void;
}

export interface VmDefinition {
  readonly image: VmImage;
  /** The VM's domain; the hypervisor owns its lifecycle. */
  readonly domain: Supervisor;
  /** Actors the hypervisor put in the domain itself (channel inlets), left out of reports. */
  readonly platformPaths: ReadonlySet<string>;
  /** K_MM or K_SM_k. */
  readonly signer: Signer;
  /** The dominating hub's pinned key: IH for `mm`, SH_k for `sm:k`. */
  readonly hub: Verifier;
}

export interface VmHostOptions {
  readonly deviceId: string;
  readonly initialTimeoutMs: number;
  readonly maxDeferralMs: number;
  readonly proxy: () => ActorRef<ProxyMsg>;
  readonly host: () => ActorRef<VmHostMsg>;
  readonly events?: (event: AwdtEvent | VmEvent) => void;
  readonly nonce?: () => Uint8Array;
  /** False only for baselines that measure a device without dominance: VMs run with no AWDT. */
  readonly dominance?: boolean;
}

export type VmEvent = { readonly type: 'vm-boot'; readonly instance: string; readonly boots: number; readonly cause?: ExpiryCause; readonly at: number };

export type VmHostMsg = { readonly type: 'restart'; readonly instance: string; readonly cause: ExpiryCause };

interface Vm {
  readonly def: VmDefinition;
  readonly image: Supervisor;
  readonly watchdog: Supervisor;
  awdt: ActorRef<AwdtMsg> | undefined;
  boots: number;
}

export class VmHost {
  private readonly vms = new Map<string, Vm>();

  constructor(
    private readonly system: ActorSystem,
    private readonly hypervisor: Supervisor,
    private readonly inspector: Inspector,
    private readonly options: VmHostOptions,
  ) {}

  add(def: VmDefinition): void {
    const instance = def.image.instance;
    if (this.vms.has(instance)) throw new Error(`VM ${instance} is already defined`);
    this.vms.set(instance, {
      def,
      image: def.domain.supervisor('image'),
      watchdog: this.hypervisor.supervisor(`vm.${instance}`),
      awdt: undefined,
      boots: 0,
    });
  }

  /** Arms every VM's AWDT, then boots the VMs. */
  bootAll(): void {
    for (const vm of this.vms.values()) this.boot(vm);
  }

  /** Reboots one VM from its clean image with a freshly armed AWDT. */
  restart(instance: string, cause: ExpiryCause): void {
    const vm = this.vms.get(instance);
    if (vm !== undefined) this.boot(vm, cause);
  }

  awdt(instance: string): ActorRef<AwdtMsg> | undefined {
    return this.vms.get(instance)?.awdt;
  }

  boots(instance: string): number {
    return this.vms.get(instance)?.boots ?? 0;
  }

  get instances(): string[] {
    return [...this.vms.keys()];
  }

  private boot(vm: Vm, cause?: ExpiryCause): void {
    const instance = vm.def.image.instance;
    // Everything but the hypervisor's own plumbing goes, wherever in the domain it was spawned.
    const imagePath = vm.image.path;
    vm.def.domain.clear((path) => path === imagePath || vm.def.platformPaths.has(path));
    vm.image.clear();
    vm.watchdog.clear();
    vm.boots++;
    if (this.options.dominance !== false) {
      vm.awdt = vm.watchdog.spawn(this.awdtSpec(vm));
      vm.watchdog.start(); // armed before the VM runs a single message
    }
    vm.def.image.install(vm.image);
    vm.def.domain.start();
    this.options.events?.({ type: 'vm-boot', instance, boots: vm.boots, cause, at: this.system.clock.now() });
  }

  private awdtSpec(vm: Vm): ActorSpec<AwdtMsg> {
    const o = this.options;
    const instance = vm.def.image.instance;
    return awdtActor({
      name: 'awdt',
      instance,
      initialTimeoutMs: o.initialTimeoutMs,
      core: () => new AwdtCore({ deviceId: o.deviceId, instance, signer: vm.def.signer, hub: vm.def.hub, maxDeferralMs: o.maxDeferralMs, nonce: o.nonce }),
      runtimeInfo: () =>
        this.inspector.report({ domain: vm.def.domain.path, platformPaths: vm.def.platformPaths, boots: vm.boots, imageDigest: vm.def.image.digest }),
      sendRequest: (envelope) => o.proxy().tell({ type: 'outbound', instance, envelope }),
      expire: (cause) => o.host().tell({ type: 'restart', instance, cause }),
      events: o.events,
    });
  }
}

/** The actor through which VM AWDT expiries reach the host (never from inside the expiring AWDT). */
export function vmHostActor(host: VmHost): ActorSpec<VmHostMsg> {
  return {
    name: 'vm-host',
    capacity: 16,
    start: () => ({
      receive: (msg: VmHostMsg) => host.restart(msg.instance, msg.cause),
    }),
  };
}
