/**
 * VM lifecycle: each VM (`mm`, `sm:<k>`) gets a software AWDT here, armed before the VM starts. When
 * it expires, that VM alone is torn down — every actor or process in it, including any an intruder
 * started — and booted again from its clean image. Its data directory is untouched.
 */
import type { ActorRef, ActorSpec, Clock, Supervisor } from '../../runtime/index.ts';
import type { RuntimeInfo } from '../../proto/index.ts';
import type { Signer, Verifier } from '../crypto/index.ts';
import { AwdtCore, awdtActor, type AwdtEvent, type AwdtMsg, type ExpiryCause } from '../tickets/index.ts';
import type { ProxyMsg } from './proxy.ts';
import type { UpdaterMsg, VmImageKeeper } from './vm-images.ts';

/**
 * What a VM runs on: a domain of the hypervisor's own actor system (`single` placement,
 * actors/hypervisor/domain-machine.ts) or an OS process of its own (`process` placement, started by
 * the runner). The VM host arms the VM's AWDT before every boot and asks the machine what the
 * inspector sees of the VM for each of the AWDT's requests.
 */
export interface VmMachine {
  /** Stops whatever the VM runs (anything an intruder started included) and boots it from its clean image. */
  boot(): void;
  /** Stops whatever the VM runs and leaves it down (its image must be restored before it boots again). */
  halt(): void;
  /**
   * The VM as the inspector sees it from outside, for its AWDT's next request; undefined while
   * nothing runs (its process is down), so the hypervisor signs no request for a VM that is not there.
   */
  report(boots: number): RuntimeInfo | undefined;
}

export interface VmDefinition {
  /** `mm` or `sm:<service>`. */
  readonly instance: string;
  readonly machine: VmMachine;
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
  /** The keeper of the VMs' image slots, and the actor that fetches images; none: images are fixed. */
  readonly images?: { readonly keeper: VmImageKeeper; readonly updater: () => ActorRef<UpdaterMsg> };
}

/**
 * Why a VM booted again: its AWDT expired; its domain gave up after repeated failures (restart
 * intensity exceeded); or (`process` placement) its process ended on its own.
 */
export type RebootCause =
  | ExpiryCause
  | { readonly kind: 'escalated' | 'exited'; readonly detail: string }
  /** Its image was restored from its hub, or an update was installed for it to boot on trial. */
  | { readonly kind: 'restored' | 'updated' };

export type VmEvent = {
  readonly type: 'vm-boot';
  readonly instance: string;
  readonly boots: number;
  readonly cause?: RebootCause;
  /** Set when the VM did not start: its image must be restored first (why). */
  readonly held?: string;
  readonly at: number;
};

export type VmHostMsg =
  | { readonly type: 'restart'; readonly instance: string; readonly cause: RebootCause }
  /** sw: the IH granted this boot — boot the VMs recovery mode held back. */
  | { readonly type: 'boot-granted' }
  /**
   * The VM's image could not start: stop it and leave it down. It reports nothing, so no ticket comes;
   * its AWDT expires and boots it again — a failed boot, which a trial counts.
   */
  | { readonly type: 'halt'; readonly instance: string; readonly why: string };

interface Vm {
  readonly def: VmDefinition;
  readonly watchdog: Supervisor;
  awdt: ActorRef<AwdtMsg> | undefined;
  boots: number;
}

export class VmHost {
  private readonly vms = new Map<string, Vm>();

  constructor(
    private readonly clock: Clock,
    private readonly hypervisor: Supervisor,
    private readonly options: VmHostOptions,
  ) {}

  add(def: VmDefinition): void {
    const instance = def.instance;
    if (this.vms.has(instance)) throw new Error(`VM ${instance} is already defined`);
    this.vms.set(instance, {
      def,
      watchdog: this.hypervisor.supervisor(`vm.${instance}`),
      awdt: undefined,
      boots: 0,
    });
  }

  /** Arms every VM's AWDT, then boots the VMs — only those `which` accepts (recovery mode: `mm`). */
  bootAll(which: (instance: string) => boolean = () => true): void {
    for (const vm of this.vms.values()) if (which(vm.def.instance)) this.boot(vm);
  }

  /** Boots every VM that has not booted yet (after recovery mode); returns how many. */
  bootRest(): number {
    let n = 0;
    for (const vm of this.vms.values()) {
      if (vm.boots > 0) continue;
      this.boot(vm);
      n++;
    }
    return n;
  }

  /** Reboots one VM from its clean image with a freshly armed AWDT. */
  restart(instance: string, cause: RebootCause): void {
    const vm = this.vms.get(instance);
    if (vm !== undefined) this.boot(vm, cause);
  }

  /** Stops one VM and leaves it down until its AWDT (or a restart) boots it again. */
  halt(instance: string): void {
    this.vms.get(instance)?.def.machine.halt();
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

  private boot(vm: Vm, cause?: RebootCause): void {
    const instance = vm.def.instance;
    vm.watchdog.clear();
    vm.boots++;
    if (this.options.dominance !== false) {
      vm.awdt = vm.watchdog.spawn(this.awdtSpec(vm));
      vm.watchdog.start(); // armed before the VM runs a single message
    }
    const images = this.options.images;
    const check = images?.keeper.check(instance) ?? { kind: 'boot' as const };
    if (check.kind === 'fetch') {
      // Never boot an image that does not verify: the VM stays down, its AWDT armed, until it is restored.
      vm.def.machine.halt();
      images!.updater().tell({ type: 'restore', instance, version: check.version });
    } else vm.def.machine.boot();
    const held = check.kind === 'fetch' ? { held: check.reason } : {};
    this.options.events?.({ type: 'vm-boot', instance, boots: vm.boots, cause, ...held, at: this.clock.now() });
  }

  /** What the inspector sees of the VM, with its slots and update state when the keeper knows them. */
  private runtimeInfo(vm: Vm): RuntimeInfo | undefined {
    const info = vm.def.machine.report(vm.boots);
    const slot = this.options.images?.keeper.report(vm.def.instance);
    if (info !== undefined && slot !== undefined && info.report.case === 'domain') info.report.value.slot = slot;
    return info;
  }

  private awdtSpec(vm: Vm): ActorSpec<AwdtMsg> {
    const o = this.options;
    const instance = vm.def.instance;
    return awdtActor({
      name: 'awdt',
      instance,
      initialTimeoutMs: o.initialTimeoutMs,
      core: () =>
        new AwdtCore({
          deviceId: o.deviceId,
          instance,
          signer: vm.def.signer,
          hub: vm.def.hub,
          maxDeferralMs: o.maxDeferralMs,
          nonce: o.nonce,
        }),
      runtimeInfo: () => this.runtimeInfo(vm),
      sendRequest: (envelope) => o.proxy().tell({ type: 'outbound', instance, envelope }),
      expire: (cause) => o.host().tell({ type: 'restart', instance, cause }),
      events: o.events,
      verdicts: o.images && {
        ticket: () => o.images!.keeper.ticket(instance),
        updateRequired: (update) => void o.images!.updater().offer({ type: 'update', instance, update }),
      },
    });
  }
}

/** The actor through which VM AWDT expiries reach the host (never from inside the expiring AWDT). */
export function vmHostActor(host: VmHost): ActorSpec<VmHostMsg> {
  return {
    name: 'vm-host',
    capacity: 16,
    start: () => ({
      receive: (msg: VmHostMsg): void => {
        if (msg.type === 'boot-granted') host.bootRest();
        else if (msg.type === 'halt') host.halt(msg.instance);
        else host.restart(msg.instance, msg.cause);
      },
    }),
  };
}
