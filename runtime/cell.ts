import type { Clock } from './clock.ts';
import { MailboxOverflow, StartFailure } from './errors.ts';
import { Mailbox } from './mailbox.ts';
import { ActorTimer, type TimerOwner } from './timer.ts';
import type { ActorContext, ActorRef, ActorSpec, ActorState, ActorStats, Behavior, Timer } from './types.ts';

/** What a cell needs from its supervisor. */
export interface CellParent {
  readonly clock: Clock;
  readonly scheduler: ReadyQueue;
  childFailed(child: Supervised, error: unknown): void;
  childStartFailed(child: Supervised, error: StartFailure): void;
}

/** What a cell needs from the scheduler: to be queued when it has work. */
export interface ReadyQueue {
  ready(cell: Runnable): void;
}

export interface Runnable {
  readonly priority: number;
  scheduled: boolean;
  /** Serves up to `batch` messages; returns how many. */
  run(batch: number): number;
  hasWork(): boolean;
}

/** Anything a supervisor can start, stop and restart: an actor cell or a nested supervisor. */
export interface Supervised {
  readonly path: string;
  start(): void;
  stop(): void;
  restart(): void;
  stats(into: ActorStats[]): void;
}

const NEW = 0;
const RUNNING = 1;
const STOPPED = 2;
const FAILED_START = 3;
const STATE_NAMES: readonly ActorState[] = ['new', 'running', 'stopped', 'failed-start'];

/** System-lane entry: an effect's outcome, mapped to a message inside the actor's own turn. */
class EffectOutcome<M, T> {
  constructor(
    readonly generation: number,
    readonly map: (value: T) => M,
    readonly value: T,
  ) {}
}

/** System-lane entry: a `tell` overflowed this mailbox; raised as a fault in the actor's turn. */
class OverflowSignal {}
const OVERFLOW = new OverflowSignal();

type SystemEntry<M> = ActorTimer<M> | EffectOutcome<M, unknown> | OverflowSignal;

/**
 * The runtime's body for one actor: mailbox, system lane, current behaviour and counters. The ref
 * handed out is the cell itself, so a ref outlives restarts and a send costs one ring-buffer push.
 */
export class ActorCell<M> implements ActorRef<M>, Runnable, Supervised, TimerOwner<M> {
  scheduled = false;
  generation = 0;
  private state = NEW;
  private behavior: Behavior<M> | null = null;
  private readonly mailbox: Mailbox<M>;
  private readonly system: SystemEntry<M>[] = [];
  private timers: ActorTimer<M>[] = [];
  private effectsInFlight = 0;
  private overflowPending = false;
  private readonly maxEffects: number;
  private processed = 0;
  private restarts = 0;
  private overflows = 0;
  private staleEffects = 0;
  private coalescedFromDeadTimers = 0;
  readonly clock: Clock;
  private codeText: string | undefined;

  constructor(
    readonly path: string,
    private readonly spec: ActorSpec<M>,
    private readonly parent: CellParent,
    readonly priority: number,
  ) {
    this.mailbox = new Mailbox<M>(spec.capacity);
    this.maxEffects = spec.maxEffects ?? 16;
    this.clock = parent.clock;
  }

  tell(msg: M): void {
    if (this.state !== RUNNING) {
      this.mailbox.deadLetters++;
      return;
    }
    if (!this.mailbox.push(msg)) {
      this.overflows++;
      if (!this.overflowPending) {
        this.overflowPending = true;
        this.pushSystem(OVERFLOW);
      }
      return;
    }
    if (!this.scheduled) this.parent.scheduler.ready(this);
  }

  offer(msg: M): boolean {
    if (this.state !== RUNNING) {
      this.mailbox.deadLetters++;
      return false;
    }
    if (!this.mailbox.push(msg)) return false;
    if (!this.scheduled) this.parent.scheduler.ready(this);
    return true;
  }

  run(batch: number): number {
    if (this.system.length > 0) this.runSystem();
    if (this.state !== RUNNING) return 0;
    const mailbox = this.mailbox;
    const behavior = this.behavior!;
    const generation = this.generation;
    let n = 0;
    try {
      // The generation check stops the batch if the handler stopped or restarted this actor.
      while (n < batch && mailbox.size > 0 && this.generation === generation) {
        n++;
        behavior.receive(mailbox.shift());
      }
    } catch (error) {
      this.processed += n;
      this.parent.childFailed(this, error);
      return n;
    }
    this.processed += n;
    return n;
  }

  hasWork(): boolean {
    return this.state === RUNNING && (this.mailbox.size > 0 || this.system.length > 0);
  }

  start(): void {
    if (this.state === RUNNING) return;
    this.state = RUNNING;
    try {
      this.behavior = this.spec.start(this.context());
    } catch (error) {
      this.halt(FAILED_START);
      this.parent.childStartFailed(this, new StartFailure(this.path, error));
    }
  }

  stop(): void {
    this.halt(STOPPED);
  }

  restart(): void {
    this.halt(STOPPED);
    this.restarts++;
    this.start();
  }

  timerFired(timer: ActorTimer<M>): void {
    this.pushSystem(timer);
  }

  stats(into: ActorStats[]): void {
    let coalesced = this.coalescedFromDeadTimers;
    for (const t of this.timers) coalesced += t.coalesced;
    into.push({
      path: this.path,
      code: this.code,
      state: STATE_NAMES[this.state]!,
      capacity: this.mailbox.capacity,
      queued: this.mailbox.size,
      highWater: this.mailbox.highWater,
      drops: this.mailbox.drops,
      overflows: this.overflows,
      deadLetters: this.mailbox.deadLetters,
      processed: this.processed,
      restarts: this.restarts,
      timerCoalesced: coalesced,
      staleEffects: this.staleEffects,
    });
  }

  private get code(): string {
    return (this.codeText ??= this.spec.start.toString());
  }

  private pushSystem(entry: SystemEntry<M>): void {
    this.system.push(entry);
    if (!this.scheduled) this.parent.scheduler.ready(this);
  }

  /** The system lane goes first: timers, effect outcomes and faults are never behind user traffic. */
  private runSystem(): void {
    const generation = this.generation;
    const lane = this.system;
    const count = lane.length; // entries added while we run wait for the next turn
    for (let i = 0; i < count && this.generation === generation && this.state === RUNNING; i++) {
      const entry = lane[i]!;
      try {
        if (entry instanceof OverflowSignal) {
          this.overflowPending = false;
          throw new MailboxOverflow(this.path, this.mailbox.capacity);
        } else if (entry instanceof ActorTimer) {
          if (entry.deliverable()) this.behavior!.receive(entry.msg);
        } else if (entry instanceof EffectOutcome && entry.generation === generation) {
          this.behavior!.receive(entry.map(entry.value));
        } else {
          this.staleEffects++;
        }
      } catch (error) {
        lane.splice(0, i + 1);
        this.parent.childFailed(this, error);
        return;
      }
    }
    if (this.generation === generation) lane.splice(0, count);
  }

  /** Ends the current incarnation: timers cancelled, mailbox and system lane discarded. */
  private halt(state: number): void {
    const wasRunning = this.state === RUNNING;
    this.state = state;
    this.generation++;
    for (const t of this.timers) {
      t.disarm();
      this.coalescedFromDeadTimers += t.coalesced;
    }
    this.timers = [];
    this.mailbox.clear();
    this.system.length = 0;
    this.overflowPending = false;
    this.effectsInFlight = 0;
    const behavior = this.behavior;
    this.behavior = null;
    if (wasRunning && behavior?.stopped) {
      try {
        behavior.stopped();
      } catch {
        // A failing stop hook must not keep the actor alive; the stop already happened.
      }
    }
  }

  private context(): ActorContext<M> {
    const generation = this.generation;
    const cell = this;
    return {
      self: this,
      path: this.path,
      now: () => this.clock.now(),
      timer(msg: M): Timer {
        const timer = new ActorTimer<M>(cell, msg, generation);
        if (generation === cell.generation) cell.timers.push(timer);
        return timer;
      },
      effect<T>(work: () => Promise<T>, ok: (value: T) => M, failed: (error: unknown) => M): boolean {
        return cell.startEffect(generation, work, ok, failed);
      },
      stop: () => {
        if (generation === this.generation) this.halt(STOPPED);
      },
    };
  }

  private startEffect<T>(generation: number, work: () => Promise<T>, ok: (value: T) => M, failed: (error: unknown) => M): boolean {
    if (generation !== this.generation || this.effectsInFlight >= this.maxEffects) return false;
    this.effectsInFlight++;
    const settle = <V>(entry: EffectOutcome<M, V>): void => {
      if (entry.generation !== this.generation || this.state !== RUNNING) {
        this.staleEffects++;
        return;
      }
      this.effectsInFlight--;
      this.pushSystem(entry as EffectOutcome<M, unknown>);
    };
    let promise: Promise<T>;
    try {
      promise = work();
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.then(
      (value) => settle(new EffectOutcome(generation, ok, value)),
      (error: unknown) => settle(new EffectOutcome(generation, failed, error)),
    );
    return true;
  }
}
