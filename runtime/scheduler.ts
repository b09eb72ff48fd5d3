import { assert } from './assert.ts';
import type { Waker } from './clock.ts';
import type { ReadyQueue, Runnable } from './cell.ts';

export const PRIORITY_LEVELS = 8;

/** A growable ring of runnable cells; it only grows at spawn time in practice (one slot per cell). */
class RunRing {
  private slots: Array<Runnable | undefined> = new Array<Runnable | undefined>(16);
  private head = 0;
  size = 0;

  push(r: Runnable): void {
    if (this.size === this.slots.length) this.grow();
    this.slots[(this.head + this.size) & (this.slots.length - 1)] = r;
    this.size++;
  }

  shift(): Runnable {
    const r = this.slots[this.head]!;
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) & (this.slots.length - 1);
    this.size--;
    return r;
  }

  private grow(): void {
    const next = new Array<Runnable | undefined>(this.slots.length * 2);
    for (let i = 0; i < this.size; i++) next[i] = this.slots[(this.head + i) & (this.slots.length - 1)];
    this.slots = next;
    this.head = 0;
  }
}

export interface SchedulerOptions {
  /** Messages one actor may handle before the next actor gets a turn (default 64). */
  batch?: number;
  /** Messages handled per event-loop turn before yielding to I/O (default 4096). */
  budget?: number;
  /**
   * Time after which a turn yields to I/O even within its budget, checked between actor batches
   * (default 10 ms). Without it, slow handlers (a busy service) hold the event loop for `budget`
   * of them, and replies the higher-priority domains wait for sit unread in the socket meanwhile.
   */
  sliceMs?: number;
  /** Monotonic ms for `sliceMs`; the system passes its clock (a ManualClock never slices). */
  now?: () => number;
  /** How to run again after yielding; `null` means the caller drains by hand (tests). */
  waker?: Waker | null;
}

/**
 * Serves ready actors by priority (0 first) in bounded batches, then yields to the Node event loop.
 * Nothing is allocated per message: a send pushes the cell onto its priority's ring once, and the
 * cell drains up to `batch` messages per turn.
 */
export class Scheduler implements ReadyQueue {
  private readonly rings: RunRing[] = Array.from({ length: PRIORITY_LEVELS }, () => new RunRing());
  private readyCount = 0;
  private draining = false;
  private wakePending = false;
  private readonly batch: number;
  private readonly budget: number;
  private readonly sliceMs: number;
  private readonly now: (() => number) | null;
  private readonly waker: Waker | null;
  private readonly tick = (): void => {
    this.wakePending = false;
    this.drain(this.budget, this.sliceMs);
    if (this.readyCount > 0) this.wake();
  };

  constructor(options: SchedulerOptions = {}) {
    this.batch = options.batch ?? 64;
    this.budget = options.budget ?? 4096;
    this.waker = options.waker === undefined ? null : options.waker;
    this.sliceMs = options.sliceMs ?? 10;
    this.now = options.now ?? null;
    assert(101, this.batch >= 1 && this.budget >= this.batch, 'batch >= 1 and budget >= batch');
  }

  ready(r: Runnable): void {
    assert(102, r.priority >= 0 && r.priority < PRIORITY_LEVELS, 'priority within 0..7');
    r.scheduled = true;
    this.rings[r.priority]!.push(r);
    this.readyCount++;
    if (!this.draining && !this.wakePending) this.wake();
  }

  /** True when no actor has work. */
  get idle(): boolean {
    return this.readyCount === 0;
  }

  /** Serves up to `budget` messages, and for about `sliceMs` at most if given; returns how many were handled. */
  drain(budget: number, sliceMs?: number): number {
    if (this.draining) return 0; // a handler cannot re-enter the scheduler
    this.draining = true;
    let handled = 0;
    const now = sliceMs === undefined ? null : this.now;
    const until = now === null ? Infinity : now() + sliceMs!;
    // The clock is read at most once per `batch` messages, so fast messages pay nothing for the slice.
    let checkAt = now === null ? Infinity : this.batch;
    try {
      while (this.readyCount > 0 && handled < budget) {
        if (handled >= checkAt) {
          if (now!() >= until) break;
          checkAt = handled + this.batch;
        }
        const ring = this.highest();
        const r = ring.shift();
        this.readyCount--;
        handled += r.run(this.batch);
        if (r.hasWork()) {
          ring.push(r);
          this.readyCount++;
        } else {
          r.scheduled = false;
        }
      }
    } finally {
      this.draining = false;
    }
    return handled;
  }

  /** Drains until nothing is ready; a guard catches actors that message each other forever. */
  runUntilIdle(maxMessages = 10_000_000): number {
    let total = 0;
    while (this.readyCount > 0) {
      total += this.drain(this.budget);
      assert(103, total <= maxMessages, `still busy after ${maxMessages} messages (a message loop?)`);
    }
    return total;
  }

  private highest(): RunRing {
    for (const ring of this.rings) if (ring.size > 0) return ring;
    throw new Error('unreachable: readyCount > 0 but every ring is empty');
  }

  private wake(): void {
    if (this.waker === null) return;
    this.wakePending = true;
    this.waker(this.tick);
  }
}
