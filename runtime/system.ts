import { RealClock, immediateWaker, type Clock } from './clock.ts';
import type { Escalation } from './errors.ts';
import { Listeners } from './listeners.ts';
import { Scheduler } from './scheduler.ts';
import { Supervisor, type SupervisionRoot } from './supervisor.ts';
import type { ActorStats, SupervisorOptions, SystemEvent } from './types.ts';

export interface ActorSystemOptions {
  clock?: Clock;
  /** `auto` drains on the Node event loop; `manual` leaves draining to the caller (test kit). */
  drain?: 'auto' | 'manual';
  /** Messages per actor turn (default 64). */
  batch?: number;
  /** Messages per event-loop turn before yielding (default 4096). */
  budget?: number;
  /** Time per event-loop turn before yielding, checked between actor batches (default 10 ms). */
  sliceMs?: number;
}

export type EscalationHandler = (domain: Supervisor, error: Escalation) => void;

/**
 * One actor system: a clock, a scheduler and a set of domains (top-level supervisors). Domains are
 * started explicitly, so a caller can arm what must come first (the device watchdog) before the rest.
 */
export class ActorSystem implements SupervisionRoot {
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  private readonly domains = new Map<string, Supervisor>();
  private readonly listeners = new Listeners<SystemEvent>();
  private escalationHandler: EscalationHandler | null = null;

  constructor(options: ActorSystemOptions = {}) {
    this.clock = options.clock ?? new RealClock();
    this.scheduler = new Scheduler({
      batch: options.batch,
      budget: options.budget,
      sliceMs: options.sliceMs,
      now: () => this.clock.now(),
      waker: (options.drain ?? 'auto') === 'auto' ? immediateWaker : null,
    });
  }

  /** Creates a domain: a supervision subtree with its own scheduling priority (0 first … 7). Not started. */
  domain(name: string, options: SupervisorOptions = {}): Supervisor {
    if (this.domains.has(name)) throw new Error(`domain "${name}" already exists`);
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(name)) throw new Error(`domain name "${name}" must be 1-64 of [A-Za-z0-9_.:-]`);
    const domain = new Supervisor(name, this, null, options);
    this.domains.set(name, domain);
    return domain;
  }

  getDomain(name: string): Supervisor | undefined {
    return this.domains.get(name);
  }

  onEvent(listener: (event: SystemEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  /** What happens when a domain exceeds its restart intensity (default: it stays stopped). */
  onEscalation(handler: EscalationHandler): void {
    this.escalationHandler = handler;
  }

  emit(event: SystemEvent): void {
    this.listeners.emit(event);
  }

  rootEscalation(domain: Supervisor, error: Escalation): void {
    this.emit({ type: 'root-escalation', path: domain.path, error });
    this.escalationHandler?.(domain, error);
  }

  /** Drains every ready actor (manual mode, or to settle before inspecting). */
  runUntilIdle(maxMessages?: number): number {
    return this.scheduler.runUntilIdle(maxMessages);
  }

  stats(): ActorStats[] {
    const out: ActorStats[] = [];
    for (const d of this.domains.values()) d.stats(out);
    return out;
  }

  /** Stops every domain, last created first. */
  shutdown(): void {
    const all = [...this.domains.values()];
    for (let i = all.length - 1; i >= 0; i--) all[i]!.stop();
  }
}
