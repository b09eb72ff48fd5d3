/**
 * A whole simulated device in one actor system (`single` placement): the four trust domains, their
 * channels, the boot order of ARCHITECTURE.md §5 and the simulated watchdog. A reset tears every
 * domain down and, after the boot time, boots again with a fresh system; what `sw` and the services
 * persisted survives.
 */
import { join } from 'node:path';
import { ActorSystem, Listeners, ManualClock, describe, openChannel, RealClock, type Channel, type Clock, type Supervisor } from '../../runtime/index.ts';
import { lite, ResetReason } from '../../proto/index.ts';
import { cryptoBackend } from '../crypto/index.ts';
import { domainMachine, Inspector, proxyActor, VmHost, vmHostActor, type ProxyMsg, type VmHostMsg } from '../hypervisor/index.ts';
import { forwarder, newReceiverCounters, ticketReceiver, uplinkActor, type ForwarderMsg, type LinkHolder, type ReceiverCounters, type ReceiverMsg } from '../mm/index.ts';
import { installService } from '../sm/index.ts';
import { deviceAwdt, FileStateStore, SimulatedWatchdog, type DeviceStateStore } from '../sw/index.ts';
import type { AwdtMsg } from '../tickets/index.ts';
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
  private current: ActorSystem | null = null;
  private vmHost: VmHost | null = null;
  private powered = false;

  constructor(private readonly config: DeviceConfig) {
    this.clock = config.clock ?? new RealClock();
    this.store = new FileStateStore(join(config.dataDir, 'sw'));
    this.status = newStatus(config.deviceId, this.routes());
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
    return this.current;
  }

  /** Power on. */
  boot(): void {
    this.powered = true;
    this.bootOnce();
  }

  /** Power off: every domain stops, nothing reboots. */
  shutdown(): void {
    this.powered = false;
    this.current?.shutdown();
    this.current = null;
  }

  /** Drains every ready actor (manual mode). */
  settle(): void {
    this.current?.runUntilIdle();
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

  private bootOnce(): void {
    const c = this.config;
    const record = this.store.load();
    record.bootCount++;
    this.store.save(record);
    const system = new ActorSystem({ clock: this.clock, drain: c.drain ?? 'auto' });
    this.current = system;
    const emit = (e: DeviceEvent): void => this.emit(e);
    system.onEvent((ev) => {
      if (ev.type === 'actor-failed' || ev.type === 'start-failed' || ev.type === 'root-escalation') {
        emit({ type: 'fault', path: ev.path, detail: describe(ev.error), at: this.clock.now() });
      }
    });
    emit({ type: 'boot', bootCount: record.bootCount, lastResetReason: record.lastResetReason, at: this.clock.now() });

    const node = cryptoBackend('node');
    const noble = cryptoBackend('noble');
    const sw = system.domain('sw', { priority: PRIORITY.sw });
    const hyp = system.domain('hypervisor', { priority: PRIORITY.hypervisor });
    const mm = system.domain('mm', { priority: PRIORITY.mm, strategy: 'one-for-all' });
    const swHyp = openChannel(swHypervisorChannel, sw, hyp);
    const hypMm = openChannel(hypervisorMmChannel, hyp, mm);
    const smDomains = c.services.map((spec) => {
      const domain = system.domain(`sm:${spec.name}`, { priority: PRIORITY.sm });
      return { spec, domain, channel: openChannel(serviceChannel(spec.name), mm, domain) };
    });

    const watchdog = new SimulatedWatchdog((reason, detail) => this.reset(system, reason, detail));
    system.onEscalation((domain) => {
      if (domain === sw || domain === hyp) watchdog.reset(ResetReason.CHECK_FAILED, `${domain.path} gave up after repeated failures`);
      else this.vmHost?.restart(domain.path, { kind: 'timeout' });
    });

    // 1. sw: the device AWDT is armed before any other domain starts.
    const dominance = c.dominance !== false;
    const awdt = !dominance ? undefined : sw.spawn<AwdtMsg>(
      deviceAwdt({
        deviceId: c.deviceId,
        deviceKey: noble.signer(c.keys.device),
        infrastructureHub: noble.verifier(c.hubs.ih.publicKey),
        initialTimeoutMs: c.timing.initialTimeoutMs,
        maxDeferralMs: c.timing.maxDeferralMs,
        firmwareVersion: c.firmwareVersion,
        manifestDigest: noble.sha512(encoder.encode(`firmware@${c.firmwareVersion}`)),
        hypervisorImageDigest: noble.sha512(encoder.encode(`hypervisor@${c.firmwareVersion}`)),
        record,
        watchdog,
        sendRequest: (envelope) => swHyp.a.send(lite.proxyEnvelope, { instance: 'device', envelope }),
        events: emit,
        nonce: c.nonce,
      }),
    );
    if (awdt !== undefined) {
      swHyp.a.route(lite.proxyRequest, awdt, (): AwdtMsg => ({ type: 'request' }));
      swHyp.a.route(lite.proxyEnvelope, awdt, (m): AwdtMsg => ({ type: 'reply', envelope: m.envelope }));
    }
    sw.start();

    // 2. hypervisor: proxy, VM AWDTs, inspector, VM lifecycle.
    let proxyRef: ReturnType<typeof hyp.spawn<ProxyMsg>> | undefined;
    let hostRef: ReturnType<typeof hyp.spawn<VmHostMsg>> | undefined;
    const inspector = new Inspector(system, node);
    const vmHost = new VmHost(system.clock, hyp, {
      deviceId: c.deviceId,
      initialTimeoutMs: c.timing.vmInitialTimeoutMs,
      maxDeferralMs: c.timing.maxDeferralMs,
      proxy: () => proxyRef!,
      host: () => hostRef!,
      events: emit,
      nonce: c.nonce,
      dominance,
    });
    this.vmHost = vmHost;
    proxyRef = hyp.spawn(
      proxyActor({
        toSw: {
          request: () => swHyp.b.send(lite.proxyRequest, { instance: 'device' }),
          reply: (envelope) => swHyp.b.send(lite.proxyEnvelope, { instance: 'device', envelope }),
        },
        toMm: (instance, envelope) => hypMm.a.send(lite.proxyEnvelope, { instance, envelope }),
        vmAwdt: (instance) => vmHost.awdt(instance),
      }),
    );
    hostRef = hyp.spawn(vmHostActor(vmHost));
    swHyp.b.route(lite.proxyEnvelope, proxyRef, (m): ProxyMsg => ({ type: 'outbound', instance: m.instance, envelope: m.envelope }));
    hypMm.a.route(lite.proxyRequest, proxyRef, (m): ProxyMsg => ({ type: 'mm-request', instance: m.instance }));
    hypMm.a.route(lite.proxyEnvelope, proxyRef, (m): ProxyMsg => ({ type: 'mm-reply', instance: m.instance, envelope: m.envelope }));
    hyp.start();

    // 3. the VMs: mm and one sm per service, each under its own AWDT.
    vmHost.add({
      instance: 'mm',
      machine: domainMachine({
        domain: mm,
        platformPaths: platformPaths(mm, [hypMm, ...smDomains.map((s) => s.channel)]),
        digest: node.sha512(encoder.encode(`mm@${c.firmwareVersion}`)),
        install: (image) => this.installMm(image, hypMm, smDomains, dominance),
        inspector,
      }),
      signer: node.signer(c.keys.mm),
      hub: node.verifier(c.hubs.ih.publicKey),
    });
    for (const { spec, domain, channel } of smDomains) {
      const key = c.keys.services[spec.name];
      const pin = c.hubs.services[spec.name];
      if (key === undefined || pin === undefined) throw new Error(`service "${spec.name}" needs a K_SM key and a pinned service hub`);
      vmHost.add({
        instance: domain.path,
        machine: domainMachine({
          domain,
          platformPaths: platformPaths(domain, [channel]),
          digest: node.sha512(encoder.encode(`${spec.name}@${spec.version}`)),
          install: (image) => void installService(image, spec, channel.b, join(c.dataDir, `sm-${spec.name}`)),
          inspector,
        }),
        signer: node.signer(key),
        hub: node.verifier(pin.publicKey),
      });
    }
    vmHost.bootAll();
  }

  private installMm(image: Supervisor, hypMm: Channel, sms: ReadonlyArray<{ spec: { name: string }; channel: Channel }>, dominance: boolean): void {
    const c = this.config;
    const holder: LinkHolder = { link: null };
    const receiver = !dominance ? undefined : image.spawn<ReceiverMsg>(
      ticketReceiver({
        routes: this.routes(),
        intervalMs: c.timing.intervalMs,
        replyTimeoutMs: c.timing.replyTimeoutMs,
        jitter: c.jitter ?? Math.random,
        link: () => holder.link,
        toProxy: {
          request: (instance) => hypMm.b.send(lite.proxyRequest, { instance }),
          reply: (instance, envelope) => hypMm.b.send(lite.proxyEnvelope, { instance, envelope }),
        },
        counters: this.receiverCounters,
      }),
    );
    const byService = new Map(sms.map((s) => [s.spec.name, s.channel] as const));
    const fwd = image.spawn<ForwarderMsg>(
      forwarder({
        link: () => holder.link,
        toService: (service, payload) => byService.get(service)?.a.send(lite.serviceFrame, { stream: 'in', payload }) ?? false,
      }),
    );
    image.spawn(uplinkActor(c.openLink, holder, { receiver, forwarder: fwd }));
    if (receiver !== undefined) hypMm.b.route(lite.proxyEnvelope, receiver, (m): ReceiverMsg => ({ type: 'signed', instance: m.instance, envelope: m.envelope }));
    for (const { spec, channel } of sms) {
      channel.a.route(lite.serviceFrame, fwd, (f): ForwarderMsg => ({ type: 'out', service: spec.name, stream: f.stream, payload: f.payload }));
    }
  }

  private reset(system: ActorSystem, reason: ResetReason, detail: string): void {
    if (this.current !== system) return; // an old incarnation cannot reset the new one
    const record = this.store.load();
    this.store.save({ ...record, lastResetReason: reason, lastResetDetail: detail });
    this.emit({ type: 'reset', reason, detail, at: this.clock.now() });
    system.shutdown();
    this.current = null;
    this.vmHost = null;
    this.clock.schedule(this.clock.now() + this.config.timing.bootMs, () => {
      if (this.powered && this.current === null) this.bootOnce();
    });
  }
}

/** The inlet actors a channel put into a VM's domain: the hypervisor's plumbing, not the VM's code. */
function platformPaths(domain: Supervisor, channels: readonly Channel[]): Set<string> {
  const paths = new Set<string>();
  for (const ch of channels) for (const end of [ch.a, ch.b]) if (end.domain === domain) paths.add(end.inletPath);
  return paths;
}
