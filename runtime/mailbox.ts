/**
 * A bounded FIFO on a ring buffer preallocated at spawn (QP/C's event queue). There is no unbounded
 * default: what happens when it is full is decided by the sender's verb, not here.
 */
export class Mailbox<M> {
  private readonly slots: Array<M | undefined>;
  private head = 0;
  private tail = 0;
  private count = 0;
  /** Deepest the queue has ever been. */
  highWater = 0;
  /** Messages refused because the mailbox was full (both verbs). */
  drops = 0;
  /** Messages refused by the receiver being stopped. */
  deadLetters = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`mailbox capacity must be a positive integer, got ${capacity}`);
    }
    this.slots = new Array<M | undefined>(capacity).fill(undefined);
  }

  get size(): number {
    return this.count;
  }

  push(msg: M): boolean {
    if (this.count === this.capacity) {
      this.drops++;
      return false;
    }
    this.slots[this.tail] = msg;
    if (++this.tail === this.capacity) this.tail = 0;
    if (++this.count > this.highWater) this.highWater = this.count;
    return true;
  }

  /** Caller checks `size > 0` first; messages are never `undefined` by construction. */
  shift(): M {
    const msg = this.slots[this.head] as M;
    this.slots[this.head] = undefined; // let the GC have it
    if (++this.head === this.capacity) this.head = 0;
    this.count--;
    return msg;
  }

  /** Discards every queued message (restart or stop); counters are kept for the inspector. */
  clear(): number {
    const discarded = this.count;
    while (this.count > 0) this.shift();
    this.head = this.tail = 0;
    return discarded;
  }
}
