/**
 * Runs a composed device across resets: a simulated watchdog reset tears every domain down and,
 * after the board's boot time, composes the device again from the same verified bundles — what a
 * reboot into the same (verified) image would do. With the `linux` backend the real watchdog resets
 * the board instead, and this process ends.
 */
import { Listeners, type Clock } from '../runtime/index.ts';
import type { ResetReason } from '../proto/index.ts';
import type { VmEvent } from '../actors/hypervisor/index.ts';
import type { AwdtEvent } from '../actors/tickets/index.ts';
import { composeDevice, type ComposedDevice, type ComposeOptions } from './compose.ts';

export type RunnerEvent =
  | AwdtEvent
  | VmEvent
  | { readonly type: 'boot'; readonly bootCount: number; readonly at: number }
  | { readonly type: 'reset'; readonly reason: ResetReason; readonly detail: string; readonly at: number };

export class BundledDevice {
  private current: ComposedDevice | null = null;
  private powered = false;
  private readonly listeners = new Listeners<RunnerEvent>();
  private readonly clock: Clock;

  /** `rebootMs`: simulated time from a reset to the next boot (default 1000). */
  constructor(
    private readonly options: Omit<ComposeOptions, 'reboot' | 'events'>,
    private readonly rebootMs = 1000,
  ) {
    this.clock = options.clock;
  }

  onEvent(listener: (e: RunnerEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  get device(): ComposedDevice | null {
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

  private emit(e: RunnerEvent): void {
    this.listeners.emit(e);
  }

  private bootOnce(): void {
    let self: ComposedDevice | null = null;
    const composed = composeDevice({
      ...this.options,
      events: (e) => this.emit(e),
      reboot: (reason, detail) => {
        if (self === null || this.current !== self) return; // an old incarnation cannot reset the new one
        this.emit({ type: 'reset', reason, detail, at: this.clock.now() });
        self.shutdown();
        this.current = null;
        this.clock.schedule(this.clock.now() + this.rebootMs, () => {
          if (this.powered && this.current === null) this.bootOnce();
        });
      },
    });
    self = composed;
    this.current = composed;
    this.emit({ type: 'boot', bootCount: composed.bootCount, at: this.clock.now() });
  }
}
