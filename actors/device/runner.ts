/**
 * Runs a device from verified artifacts across resets, whatever its placement: a simulated watchdog
 * reset tears every domain down and, after the reboot time, assembles the device again from the same
 * verified bundles — what a reboot into the same (verified) image would do. With the `linux` backend
 * the real watchdog resets the board instead, and this process ends.
 */
import { describe, Listeners, PowerCycle, type Clock } from '../../runtime/index.ts';
import type { ResetReason } from '../../proto/index.ts';
import { assemble, mailboxesOf, type AssembleOptions, type AssembledDevice } from './assemble.ts';
import type { LoadedArtifacts } from './artifacts.ts';
import type { DeviceEvent } from './status.ts';

/** What the runner hands a placement: how a domain resets the device, where events go. */
export interface RunnerHooks {
  readonly reboot: (reason: ResetReason, detail: string) => void;
  readonly events: (e: DeviceEvent) => void;
}

/** One boot of a device, in whatever placement. */
export interface RunningDevice {
  shutdown(): void;
}

export type Placement<D extends RunningDevice = RunningDevice> = (hooks: RunnerHooks) => D;

/** A device in `single` placement: every domain in this process, each from its own bundle; the board says the rest. */
export type SingleOptions = Pick<AssembleOptions, 'deviceId' | 'keys' | 'hubs' | 'link' | 'clock' | 'drain' | 'dataDir' | 'jitter'> & {
  readonly loaded: LoadedArtifacts;
};

/** The `single` placement: the assembly over the loaded images, with the board's budgets. */
export function singlePlacement(o: SingleOptions): Placement<AssembledDevice> {
  const { board, images } = o.loaded;
  const mailboxes = mailboxesOf(board);
  return (hooks) =>
    assemble({
      ...o,
      images,
      timing: board.timing,
      mailboxes,
      watchdog: board.watchdog,
      reboot: hooks.reboot,
      events: hooks.events,
      booted: (record) =>
        hooks.events({ type: 'boot', bootCount: record.bootCount, lastResetReason: record.lastResetReason, at: o.clock.now() }),
      faults: (path, error) => hooks.events({ type: 'fault', path, detail: describe(error), at: o.clock.now() }),
    });
}

export class BundledDevice {
  private readonly power: PowerCycle<RunningDevice>;
  private readonly listeners = new Listeners<DeviceEvent>();

  /** `rebootMs`: time from a simulated reset to the next boot (default 1000). */
  constructor(
    private readonly clock: Clock,
    private readonly placement: Placement,
    rebootMs = 1000,
  ) {
    this.power = new PowerCycle(clock, rebootMs, () => this.bootOnce());
  }

  onEvent(listener: (e: DeviceEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  /** The next event that satisfies `pred`, or undefined after `timeoutMs` of real time. */
  nextEvent(pred: (e: DeviceEvent) => boolean, timeoutMs: number): Promise<DeviceEvent | undefined> {
    return this.listeners.next(pred, timeoutMs);
  }

  get device(): RunningDevice | null {
    return this.power.running;
  }

  boot(): void {
    this.power.on();
  }

  shutdown(): void {
    this.power.off();
  }

  private bootOnce(): RunningDevice {
    let self: RunningDevice | null = null;
    const running = this.placement({
      events: (e) => this.listeners.emit(e),
      reboot: (reason, detail) => {
        if (self === null || this.power.running !== self) return; // an old incarnation cannot reset the new one
        this.listeners.emit({ type: 'reset', reason, detail, at: this.clock.now() });
        this.power.reset(self);
      },
    });
    self = running;
    return running;
  }
}
