import { ManualClock } from './clock.ts';
import type { Supervisor } from './supervisor.ts';
import { ActorSystem } from './system.ts';
import type { ActorRef, SystemEvent } from './types.ts';

/** An actor that records every message it receives, for asserting what others sent. */
export interface Probe<M> extends ActorRef<M> {
  readonly received: readonly M[];
  /** Returns and forgets everything received so far. */
  take(): M[];
  last(): M | undefined;
}

export interface TestKit {
  readonly clock: ManualClock;
  readonly system: ActorSystem;
  /** Every system event (failures, restarts, escalations) in order. */
  readonly events: SystemEvent[];
  /** A started domain for probes, served last. */
  readonly probes: Supervisor;
  probe<M>(name: string, capacity?: number): Probe<M>;
  /** Moves time forward; every timer due on the way fires in order and its consequences run at once. */
  advance(ms: number): void;
  /** Drains all ready actors. */
  run(): number;
  /** Lets pending effects (promises) settle, then drains; repeats until quiet. */
  settle(): Promise<void>;
}

/** A deterministic actor system: `ManualClock`, manual draining, every event recorded. */
export function createTestKit(startMs = 0): TestKit {
  const clock = new ManualClock(startMs);
  const system = new ActorSystem({ clock, drain: 'manual' });
  const events: SystemEvent[] = [];
  system.onEvent((e) => events.push(e));
  clock.afterFire(() => system.runUntilIdle());
  const probes = system.domain('probes', { priority: 7 });
  probes.start();
  return {
    clock,
    system,
    events,
    probes,
    probe<M>(name: string, capacity = 1024): Probe<M> {
      const received: M[] = [];
      const ref = probes.spawn<M>({ name, capacity, start: () => ({ receive: (m) => void received.push(m) }) });
      return {
        path: ref.path,
        tell: (m) => ref.tell(m),
        offer: (m) => ref.offer(m),
        received,
        take: () => received.splice(0, received.length),
        last: () => received[received.length - 1],
      };
    },
    advance(ms: number): void {
      system.runUntilIdle();
      clock.advance(ms);
      system.runUntilIdle();
    },
    run: () => system.runUntilIdle(),
    async settle(): Promise<void> {
      for (let i = 0; i < 100; i++) {
        // Two macrotask hops let promise chains started by effects resolve and post their outcomes.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (system.runUntilIdle() === 0 && system.scheduler.idle) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (system.scheduler.idle) return;
        }
      }
    },
  };
}
