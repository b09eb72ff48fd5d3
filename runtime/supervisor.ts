import { assert } from './assert.ts';
import { ActorCell, type CellParent, type ReadyQueue, type Supervised } from './cell.ts';
import type { Clock } from './clock.ts';
import { Escalation, type StartFailure } from './errors.ts';
import type { ActorRef, ActorSpec, ActorStats, Strategy, SupervisorOptions, SystemEvent } from './types.ts';

/** Shared by every supervisor of one system. */
export interface SupervisionRoot {
  readonly clock: Clock;
  readonly scheduler: ReadyQueue;
  emit(event: SystemEvent): void;
  /** A top-level supervisor (a domain) gave up: the system decides (e.g. reset the device). */
  rootEscalation(domain: Supervisor, error: Escalation): void;
}

/**
 * Erlang/OTP-style supervisor: restarts failed children one-for-one or one-for-all, at most
 * `maxRestarts` within `withinMs`; past that it stops its subtree and escalates to its parent.
 * A trust domain is a top-level supervisor: it can be stopped and started again as a whole.
 */
export class Supervisor implements CellParent, Supervised {
  readonly clock: Clock;
  readonly scheduler: ReadyQueue;
  readonly priority: number;
  private readonly strategy: Strategy;
  private readonly maxRestarts: number;
  private readonly withinMs: number;
  /** Times of recent restarts, oldest first; never longer than maxRestarts. */
  private restartTimes: number[] = [];
  private readonly children: Supervised[] = [];
  private readonly names = new Set<string>();
  private running = false;
  private restartCount = 0;

  constructor(
    readonly path: string,
    private readonly root: SupervisionRoot,
    private readonly parent: Supervisor | null,
    options: SupervisorOptions,
  ) {
    this.clock = root.clock;
    this.scheduler = root.scheduler;
    this.priority = options.priority ?? parent?.priority ?? 4;
    this.strategy = options.strategy ?? 'one-for-one';
    this.maxRestarts = options.maxRestarts ?? 3;
    this.withinMs = options.withinMs ?? 5000;
    assert(201, Number.isInteger(this.maxRestarts) && this.maxRestarts >= 0, 'maxRestarts >= 0');
    assert(202, this.withinMs > 0, 'withinMs > 0');
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Restarts this supervisor has made of its children (not counting whole-subtree restarts). */
  get restarts(): number {
    return this.restartCount;
  }

  /** Adds an actor; it starts at once if this supervisor is running. */
  spawn<M>(spec: ActorSpec<M>): ActorRef<M> {
    const cell = new ActorCell<M>(this.childPath(spec.name), spec, this, this.priority);
    this.children.push(cell);
    if (this.running) cell.start();
    return cell;
  }

  /** Adds a nested supervisor; it inherits this one's priority unless told otherwise. */
  supervisor(name: string, options: SupervisorOptions = {}): Supervisor {
    const sup = new Supervisor(this.childPath(name), this.root, this, { priority: this.priority, ...options });
    this.children.push(sup);
    if (this.running) sup.start();
    return sup;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.restartTimes = [];
    for (const child of this.children) {
      if (!this.running) return; // a child's start escalated and stopped us
      child.start();
    }
  }

  /** Stops every child, last started first. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    for (let i = this.children.length - 1; i >= 0; i--) this.children[i]!.stop();
  }

  /**
   * Stops this subtree and forgets every child (except those `keep` names by path), so it can be filled
   * again from scratch — how a VM domain is rebooted from its clean image, leaving nothing an intruder
   * spawned.
   */
  clear(keep: (path: string) => boolean = () => false): void {
    this.stop();
    const kept = this.children.filter((c) => keep(c.path));
    this.children.length = 0;
    this.names.clear();
    for (const c of kept) {
      this.children.push(c);
      this.names.add(c.path.slice(this.path.length + 1));
    }
  }

  restart(): void {
    this.stop();
    this.start();
    this.root.emit({ type: 'supervisor-restarted', path: this.path });
  }

  childFailed(child: Supervised, error: unknown): void {
    this.root.emit({ type: 'actor-failed', path: child.path, error });
    if (!this.running) return;
    if (!this.withinIntensity()) {
      this.escalate(error);
      return;
    }
    this.restartCount++;
    if (this.strategy === 'one-for-one') {
      child.restart();
      this.root.emit({ type: 'actor-restarted', path: child.path });
    } else {
      for (let i = this.children.length - 1; i >= 0; i--) this.children[i]!.stop();
      for (const c of this.children) c.restart();
      this.root.emit({ type: 'actor-restarted', path: child.path });
    }
  }

  /** The actor stays stopped: restarting something that cannot start would only loop. */
  childStartFailed(child: Supervised, error: StartFailure): void {
    this.root.emit({ type: 'start-failed', path: child.path, error });
  }

  stats(into: ActorStats[] = []): ActorStats[] {
    for (const child of this.children) child.stats(into);
    return into;
  }

  private withinIntensity(): boolean {
    const now = this.clock.now();
    const times = this.restartTimes;
    while (times.length > 0 && now - times[0]! >= this.withinMs) times.shift();
    if (times.length >= this.maxRestarts) return false;
    times.push(now);
    return true;
  }

  private escalate(cause: unknown): void {
    const error = new Escalation(this.path, this.maxRestarts, this.withinMs, cause);
    this.root.emit({ type: 'escalated', path: this.path, error });
    this.stop();
    if (this.parent) this.parent.childFailed(this, error);
    else this.root.rootEscalation(this, error);
  }

  private childPath(name: string): string {
    assert(203, /^[A-Za-z0-9_.:-]{1,64}$/.test(name), `child name "${name}" must be 1-64 of [A-Za-z0-9_.:-]`);
    assert(204, !this.names.has(name), `child name "${name}" is already used under ${this.path}`);
    this.names.add(name);
    return `${this.path}/${name}`;
  }
}
