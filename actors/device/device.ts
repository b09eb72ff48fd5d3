/**
 * A whole simulated device in one actor system (`single` placement): the four trust domains, their
 * channels, the boot order of ARCHITECTURE.md §5 and the simulated watchdog. A reset tears every
 * domain down and, after the boot time, boots again with a fresh system; what `sw` and the services
 * persisted survives.
 */
import { join } from 'node:path';
import { ActorSystem, Listeners, ManualClock, describe, openChannel, PowerCycle, RealClock, type Channel, type Clock, type Supervisor } from '../../runtime/index.ts';
import { ResetReason } from '../../proto/index.ts';
import { DEFAULT_MAILBOXES } from '../../boards/index.ts';
import { cryptoBackend } from '../crypto/index.ts';
import { domainMachines, installHypervisor, type VmHost } from '../hypervisor/index.ts';
import { installMm, newReceiverCounters, type ReceiverCounters } from '../mm/index.ts';
import { installService } from '../sm/index.ts';
import { beginBoot, FileStateStore, installSw, recordingWatchdog, SimulatedWatchdog, type DeviceStateStore } from '../sw/index.ts';
import { hypervisorMmChannel, serviceChannel, swHypervisorChannel } from './channels.ts';
import type { DeviceConfig } from './config.ts';
import { foldStatus, newStatus, type DeviceEvent, type DeviceStatus } from './status.ts';

const PRIORITY = { sw: 0, hypervisor: 1, mm: 2, sm: 3 } as const;
const encoder = new TextEncoder();

export class Device {
  readonly clock: Clock;
  readonly status: DeviceStatus;
  readonly receiverCounters: ReceiverCounters = newReceiverCounters();
  private readonly store: DeviceStateStore;
  private readonly listeners = new Listeners<DeviceEvent>();
  private readonly power: PowerCycle<ActorSystem>;
  private vmHost: VmHost | null = null;

  constructor(private readonly config: DeviceConfig) {
    this.clock = config.clock ?? new RealClock();
    this.store = new FileStateStore(join(config.dataDir, 'sw'));
    this.status = newStatus(config.deviceId, this.routes());
    this.power = new PowerCycle(this.clock, config.timing.bootMs, () => this.bootOnce());
    // Under simulated time, everything a timer sets off happens at the instant it fired.
    if (this.clock instanceof ManualClock) this.clock.afterFire(() => this.settle());
  }

  /** Subscribes to the device's events; returns the unsubscribe function. */
  onEvent(listener: (e: DeviceEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  /**
   * The next event that satisfies `pred`, or `undefined` after `timeoutMs` of real time — for
   * scenarios and tests that await what the device does rather than sleeping.
   */
  nextEvent(pred: (e: DeviceEvent) => boolean, timeoutMs: number): Promise<DeviceEvent | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(undefined);
      }, timeoutMs);
      const off = this.onEvent((e) => {
        if (!pred(e)) return;
        clearTimeout(timer);
        off();
        resolve(e);
      });
    });
  }

  /** The running actor system (tests use it to play an intruder); `null` while the device is down. */
  get system(): ActorSystem | null {
    return this.power.running;
  }

  /** Power on. */
  boot(): void {
    this.power.on();
  }

  /** Power off: every domain stops, nothing reboots. */
  shutdown(): void {
    this.power.off();
  }

  /** Drains every ready actor (manual mode). */
  settle(): void {
    this.power.running?.runUntilIdle();
  }

  /** Restarts one VM domain from its clean image, as its AWDT's expiry would. */
  restartVm(instance: string): void {
    this.vmHost?.restart(instance, { kind: 'timeout' });
  }

  private emit(e: DeviceEvent): void {
    foldStatus(this.status, e);
    this.listeners.emit(e);
  }

  private routes(): Array<{ instance: string; hubId: string }> {
    const { hubs, services } = this.config;
    return [
      { instance: 'device', hubId: hubs.ih.id },
      { instance: 'mm', hubId: hubs.ih.id },
      ...services.map((s) => {
        const pin = hubs.services[s.name];
        if (pin === undefined) throw new Error(`no service hub pinned for service "${s.name}"`);
        return { instance: `sm:${s.name}`, hubId: pin.id };
      }),
    ];
  }

  private bootOnce(): ActorSystem {
    const c = this.config;
    const record = beginBoot(this.store);
    const system = new ActorSystem({ clock: this.clock, drain: c.drain ?? 'auto' });
    const emit = (e: DeviceEvent): void => this.emit(e);
    system.onEvent((ev) => {
      if (ev.type === 'actor-failed' || ev.type === 'start-failed' || ev.type === 'root-escalation') {
        emit({ type: 'fault', path: ev.path, detail: describe(ev.error), at: this.clock.now() });
      }
    });
    emit({ type: 'boot', bootCount: record.bootCount, lastResetReason: record.lastResetReason, at: this.clock.now() });

    const node = cryptoBackend('node');
    const digest = (label: string): Uint8Array => node.sha512(encoder.encode(label));
    const sw = system.domain('sw', { priority: PRIORITY.sw });
    const hyp = system.domain('hypervisor', { priority: PRIORITY.hypervisor });
    const mm = system.domain('mm', { priority: PRIORITY.mm, strategy: 'one-for-all' });
    const swHyp = openChannel(swHypervisorChannel, sw, hyp);
    const hypMm = openChannel(hypervisorMmChannel, hyp, mm);
    const smDomains = c.services.map((spec) => {
      const domain = system.domain(`sm:${spec.name}`, { priority: PRIORITY.sm });
      return { spec, domain, channel: openChannel(serviceChannel(spec.name), mm, domain) };
    });

    const watchdog = recordingWatchdog(new SimulatedWatchdog((reason, detail) => this.reset(system, reason, detail)), this.store);
    system.onEscalation((domain) => {
      if (domain === sw || domain === hyp) watchdog.reset(ResetReason.CHECK_FAILED, `${domain.path} gave up after repeated failures`);
      else this.vmHost?.restart(domain.path, { kind: 'escalated', detail: 'gave up after repeated failures' });
    });

    // 1. sw: the device AWDT is armed before any other domain starts.
    const dominance = c.dominance !== false;
    if (dominance) {
      installSw({
        domain: sw,
        hypervisor: swHyp.a,
        deviceId: c.deviceId,
        firmwareVersion: c.firmwareVersion,
        deviceKey: c.keys.device,
        infrastructureHub: c.hubs.ih.publicKey,
        timing: c.timing,
        mailbox: DEFAULT_MAILBOXES.sw,
        record,
        manifestDigest: digest(`firmware@${c.firmwareVersion}`),
        hypervisorImageDigest: digest(`hypervisor@${c.firmwareVersion}`),
        watchdog,
        events: emit,
        nonce: c.nonce,
      });
    }
    sw.start();

    // 2. hypervisor: proxy, VM AWDTs, inspector, VM lifecycle; the VMs are domains of this system.
    const machine = domainMachines(system);
    const hv = installHypervisor({
      clock: this.clock,
      domain: hyp,
      sw: swHyp.b,
      mm: hypMm.a,
      deviceId: c.deviceId,
      timing: c.timing,
      mailbox: DEFAULT_MAILBOXES.hypervisor,
      events: emit,
      nonce: c.nonce,
      dominance,
      vms: [
        {
          instance: 'mm',
          machine: machine({
            domain: mm,
            platformPaths: platformPaths(mm, [hypMm, ...smDomains.map((s) => s.channel)]),
            digest: digest(`mm@${c.firmwareVersion}`),
            install: (image) =>
              installMm({
                image,
                hypervisor: hypMm.b,
                services: smDomains.map((s) => ({ name: s.spec.name, endpoint: s.channel.a })),
                routes: this.routes(),
                timing: c.timing,
                mailbox: DEFAULT_MAILBOXES.mm,
                link: c.openLink,
                jitter: c.jitter,
                counters: this.receiverCounters,
                dominance,
              }),
          }),
          key: c.keys.mm,
          hub: c.hubs.ih.publicKey,
        },
        ...smDomains.map(({ spec, domain, channel }) => {
          const key = c.keys.services[spec.name];
          const pin = c.hubs.services[spec.name];
          if (key === undefined || pin === undefined) throw new Error(`service "${spec.name}" needs a K_SM key and a pinned service hub`);
          return {
            instance: domain.path,
            machine: machine({
              domain,
              platformPaths: platformPaths(domain, [channel]),
              digest: digest(`${spec.name}@${spec.version}`),
              install: (image: Supervisor) => void installService(image, spec, channel.b, join(c.dataDir, `sm-${spec.name}`)),
            }),
            key,
            hub: pin.publicKey,
          };
        }),
      ],
    });
    this.vmHost = hv.vmHost;
    hyp.start();
    hv.bootVms();
    return system;
  }

  private reset(system: ActorSystem, reason: ResetReason, detail: string): void {
    if (this.power.running !== system) return; // an old incarnation cannot reset the new one
    this.emit({ type: 'reset', reason, detail, at: this.clock.now() });
    this.vmHost = null;
    this.power.reset(system);
  }
}

/** The inlet actors a channel put into a VM's domain: the hypervisor's plumbing, not the VM's code. */
function platformPaths(domain: Supervisor, channels: readonly Channel[]): Set<string> {
  const paths = new Set<string>();
  for (const ch of channels) for (const end of [ch.a, ch.b]) if (end.domain === domain) paths.add(end.inletPath);
  return paths;
}
