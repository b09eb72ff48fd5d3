/** The public shapes of the actor runtime: refs, behaviours, contexts, timers, events, stats. */

/** Where an actor is sent messages. `M` is a discriminated union the actor `switch`es on. */
export interface ActorRef<M> {
  readonly path: string;
  /** Enqueue; a full mailbox is a fault of the receiver, handed to its supervisor. */
  tell(msg: M): void;
  /** Enqueue if there is room; otherwise returns `false` and the drop is counted. */
  offer(msg: M): boolean;
}

/** One incarnation of an actor: built by its spec's `start`, replaced whole on restart. */
export interface Behavior<M> {
  /** Runs to completion, synchronously. Throwing is a fault handled by the supervisor. */
  receive(msg: M): void;
  /** Called once when this incarnation stops (stop, restart or domain stop). */
  stopped?(): void;
}

export interface ActorContext<M> {
  readonly self: ActorRef<M>;
  readonly path: string;
  now(): number;
  /** A timer owned by this incarnation; when it fires, `msg` arrives on the system lane. */
  timer(msg: M): Timer;
  /**
   * Starts async work (I/O, crypto) outside the handler. Its outcome comes back as a message on the
   * system lane, mapped by `ok` or `failed`. Returns `false` when `maxEffects` are already in flight.
   * Outcomes that arrive after a restart are discarded.
   */
  effect<T>(work: () => Promise<T>, ok: (value: T) => M, failed: (error: unknown) => M): boolean;
  /** Stops this actor (mailbox discarded, timers cancelled); its supervisor does not restart it. */
  stop(): void;
}

export interface ActorSpec<M> {
  /** Unique among its siblings; the actor's path is `<supervisor path>/<name>`. */
  readonly name: string;
  /** Mailbox capacity, fixed for the actor's lifetime. */
  readonly capacity: number;
  readonly start: (ctx: ActorContext<M>) => Behavior<M>;
  /** Effects in flight at once (default 16); bounds the system lane. */
  readonly maxEffects?: number;
}

export interface Timer {
  /** (Re)arms: fires after `delayMs`, then every `periodMs` if given (> 0). */
  arm(delayMs: number, periodMs?: number): void;
  /** Returns whether it was armed. A fire not yet delivered is withdrawn too. */
  disarm(): boolean;
  readonly armed: boolean;
  /** Absolute deadline (clock ms) of the next fire, if armed. */
  readonly deadline: number | undefined;
}

export type Strategy = 'one-for-one' | 'one-for-all';

export interface SupervisorOptions {
  strategy?: Strategy;
  /** At most this many restarts within `withinMs`, else escalate (default 3 in 5000 ms). */
  maxRestarts?: number;
  withinMs?: number;
  /** Scheduling priority, 0 (served first) … 7; children inherit it (default: parent's, or 4). */
  priority?: number;
}

export type ActorState = 'new' | 'running' | 'stopped' | 'failed-start';

export interface ActorStats {
  readonly path: string;
  /** Source text of the actor's `start` function: what an inspector hashes as the actor's code. */
  readonly code: string;
  readonly state: ActorState;
  readonly capacity: number;
  readonly queued: number;
  readonly highWater: number;
  /** Refused because the mailbox was full, by either verb. */
  readonly drops: number;
  /** Of those, refused `tell`s (each a fault). */
  readonly overflows: number;
  readonly deadLetters: number;
  readonly processed: number;
  readonly restarts: number;
  readonly timerCoalesced: number;
  readonly staleEffects: number;
}

export type SystemEvent =
  | { readonly type: 'actor-failed'; readonly path: string; readonly error: unknown }
  | { readonly type: 'actor-restarted'; readonly path: string }
  | { readonly type: 'start-failed'; readonly path: string; readonly error: unknown }
  | { readonly type: 'supervisor-restarted'; readonly path: string }
  | { readonly type: 'escalated'; readonly path: string; readonly error: unknown }
  | { readonly type: 'root-escalation'; readonly path: string; readonly error: unknown };
