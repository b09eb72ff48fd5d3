/**
 * Runs a device across resets, whatever its placement: a simulated watchdog reset tears every domain
 * down and, after the board's boot time, composes the device again from the same verified bundles —
 * what a reboot into the same (verified) image would do. With the `linux` backend the real watchdog
 * resets the board instead, and this process ends.
 */
import { Listeners, PowerCycle, type Clock } from '../runtime/index.ts';
import type { ResetReason } from '../proto/index.ts';
import type { VmEvent } from '../actors/hypervisor/index.ts';
import type { AwdtEvent } from '../actors/tickets/index.ts';
import { composeDevice, type ComposeOptions } from './compose.ts';

export type RunnerEvent =
  | AwdtEvent
  | VmEvent
  | { readonly type: 'boot'; readonly bootCount: number; readonly at: number }
  | { readonly type: 'reset'; readonly reason: ResetReason; readonly detail: string; readonly at: number };

/** What the runner hands a composer: how a domain resets the device, where events go. */
export interface RunnerHooks {
  readonly reboot: (reason: ResetReason, detail: string) => void;
  readonly events: (e: AwdtEvent | VmEvent) => void;
}

/** One boot of a device: `single` placement (build/compose.ts) or `process` (build/process/). */
export interface RunningDevice {
  readonly bootCount: number;
  shutdown(): void;
}

export type Composer = (hooks: RunnerHooks) => RunningDevice;

export class BundledDevice {
  private readonly power: PowerCycle<RunningDevice>;
  private readonly listeners = new Listeners<RunnerEvent>();

  /** `rebootMs`: time from a simulated reset to the next boot (default 1000). */
  constructor(
    private readonly clock: Clock,
    private readonly compose: Composer,
    rebootMs = 1000,
  ) {
    this.power = new PowerCycle(clock, rebootMs, () => this.bootOnce());
  }

  /** A device in `single` placement: every domain in this process. */
  static single(options: Omit<ComposeOptions, keyof RunnerHooks>, rebootMs?: number): BundledDevice {
    return new BundledDevice(options.clock, (hooks) => composeDevice({ ...options, ...hooks }), rebootMs);
  }

  onEvent(listener: (e: RunnerEvent) => void): () => void {
    return this.listeners.add(listener);
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
    const composed = this.compose({
      events: (e) => this.listeners.emit(e),
      reboot: (reason, detail) => {
        if (self === null || this.power.running !== self) return; // an old incarnation cannot reset the new one
        this.listeners.emit({ type: 'reset', reason, detail, at: this.clock.now() });
        this.power.reset(self);
      },
    });
    self = composed;
    this.listeners.emit({ type: 'boot', bootCount: composed.bootCount, at: this.clock.now() });
    return composed;
  }
}
