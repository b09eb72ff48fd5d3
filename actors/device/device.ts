/**
 * A whole simulated device from sources, in one actor system: the assembly of assemble.ts with the
 * source images and the simulated watchdog. A reset tears every domain down and, after the boot
 * time, boots again with a fresh system; what `sw` and the services persisted survives.
 */
import { Listeners, ManualClock, describe, PowerCycle, RealClock, type ActorSystem, type Clock } from '../../runtime/index.ts';
import { ResetReason } from '../../proto/index.ts';
import { DEFAULT_MAILBOXES } from '../../boards/index.ts';
import { newReceiverCounters, type ReceiverCounters } from '../mm/index.ts';
import { assemble, receiverRoutes, type AssembledDevice } from './assemble.ts';
import type { DeviceConfig } from './config.ts';
import { sourceImages } from './images.ts';
import { foldStatus, newStatus, type DeviceEvent, type DeviceStatus } from './status.ts';

export class Device {
  readonly clock: Clock;
  readonly status: DeviceStatus;
  readonly receiverCounters: ReceiverCounters = newReceiverCounters();
  private readonly listeners = new Listeners<DeviceEvent>();
  private readonly power: PowerCycle<AssembledDevice>;

  constructor(private readonly config: DeviceConfig) {
    this.clock = config.clock ?? new RealClock();
    this.status = newStatus(
      config.deviceId,
      receiverRoutes(
        config.hubs,
        config.services.map((s) => s.name),
      ),
    );
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
    return this.listeners.next(pred, timeoutMs);
  }

  /** The running actor system (tests use it to play an intruder); `null` while the device is down. */
  get system(): ActorSystem | null {
    return this.power.running?.system ?? null;
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
    this.power.running?.system.runUntilIdle();
  }

  /** Restarts one VM domain from its clean image, as its AWDT's expiry would. */
  restartVm(instance: string): void {
    this.power.running?.restartVm(instance, { kind: 'timeout' });
  }

  private emit(e: DeviceEvent): void {
    foldStatus(this.status, e);
    this.listeners.emit(e);
  }

  private bootOnce(): AssembledDevice {
    const c = this.config;
    let self: AssembledDevice | null = null;
    const emit = (e: DeviceEvent): void => this.emit(e);
    const device = assemble({
      images: sourceImages(c.firmwareVersion, c.services),
      deviceId: c.deviceId,
      keys: c.keys,
      hubs: c.hubs,
      timing: c.timing,
      mailboxes: DEFAULT_MAILBOXES,
      watchdog: { backend: 'simulated' },
      link: c.openLink,
      clock: this.clock,
      drain: c.drain ?? 'auto',
      dataDir: c.dataDir,
      reboot: (reason, detail) => {
        if (self !== null) this.reset(self, reason, detail);
      },
      events: emit,
      booted: (record) =>
        emit({ type: 'boot', bootCount: record.bootCount, lastResetReason: record.lastResetReason, at: this.clock.now() }),
      faults: (path, error) => emit({ type: 'fault', path, detail: describe(error), at: this.clock.now() }),
      jitter: c.jitter,
      nonce: c.nonce,
      counters: this.receiverCounters,
      dominance: c.dominance,
      sealServiceData: c.sealServiceData,
    });
    self = device;
    return device;
  }

  private reset(device: AssembledDevice, reason: ResetReason, detail: string): void {
    if (this.power.running !== device) return; // an old incarnation cannot reset the new one
    this.emit({ type: 'reset', reason, detail, at: this.clock.now() });
    this.power.reset(device);
  }
}
