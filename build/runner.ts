/**
 * Runs a device across resets, whatever its placement: a simulated watchdog reset tears every domain
 * down and, after the board's boot time, composes the device again from the same verified bundles —
 * what a reboot into the same (verified) image would do. With the `linux` backend the real watchdog
 * resets the board instead, and this process ends.
 */
import { Listeners, type Clock } from '../runtime/index.ts';
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
  private current: RunningDevice | null = null;
  private powered = false;
  private readonly listeners = new Listeners<RunnerEvent>();

  /** `rebootMs`: time from a simulated reset to the next boot (default 1000). */
  constructor(
    private readonly clock: Clock,
    private readonly compose: Composer,
    private readonly rebootMs = 1000,
  ) {}

  /** A device in `single` placement: every domain in this process. */
  static single(options: Omit<ComposeOptions, keyof RunnerHooks>, rebootMs?: number): BundledDevice {
    return new BundledDevice(options.clock, (hooks) => composeDevice({ ...options, ...hooks }), rebootMs);
  }

  onEvent(listener: (e: RunnerEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  get device(): RunningDevice | null {
    return this.current;
  }

  boot(): void {
    this.powered = true;
    this.bootOnce();
  }

  shutdown(): void {
    this.powered = false;
    this.current?.shutdown();
    this.current = null;
  }

  private bootOnce(): void {
    let self: RunningDevice | null = null;
    const composed = this.compose({
      events: (e) => this.listeners.emit(e),
      reboot: (reason, detail) => {
        if (self === null || this.current !== self) return; // an old incarnation cannot reset the new one
        this.listeners.emit({ type: 'reset', reason, detail, at: this.clock.now() });
        self.shutdown();
        this.current = null;
        this.clock.schedule(this.clock.now() + this.rebootMs, () => {
          if (this.powered && this.current === null) this.bootOnce();
        });
      },
    });
    self = composed;
    this.current = composed;
    this.listeners.emit({ type: 'boot', bootCount: composed.bootCount, at: this.clock.now() });
  }
}
