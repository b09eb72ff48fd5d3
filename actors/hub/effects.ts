/**
 * The seam between deciding and storing. `decide` (decide.ts) reads a `HubView` and returns the
 * writes it wants as `HubEffects` — data, not calls; a `HubStore` applies a batch of them in one
 * transaction; the server publishes a batch's replies only after that (hub-server.ts), so a reply on
 * the wire always has its audit row stored.
 *
 * Until a batch commits, its answered nonces live in `PendingBatch`, which the core consults
 * beside the store: a replay inside one batch is refused like any other.
 */
import type { Instance, RuntimeInfo } from '../../proto/index.ts';
import type { AuditEntry } from './audit.ts';
import type { HubDecision } from './decide.ts';
import type { PolicyVerdict } from './policy.ts';
import type { DecisionReason, HubOutcome } from './reasons.ts';
import type { DeviceState, EnrolledKey } from './registry.ts';
import { replayKey } from './replay.ts';

/** Read-only state a decision needs. Lookups may fill caches; they never write hub state. */
export interface HubView {
  /** The enrolment a key id belongs to; undefined when no enrolled key has it. */
  keyById(keyId: Uint8Array): EnrolledKey | undefined;
  deviceState(deviceId: string): DeviceState | undefined;
  evaluate(deviceId: string, instance: Instance, runtime: RuntimeInfo): PolicyVerdict;
  /** True when this nonce was already answered (and committed) for (device, instance). */
  seen(deviceId: string, instance: Instance, nonce: Uint8Array): boolean;
}

/** An answered request: its nonce must be refused from now on. */
export interface AnsweredNonce {
  readonly deviceId: string;
  readonly instance: Instance;
  readonly nonce: Uint8Array;
  readonly atMs: number;
}

/** What the hub last saw from and gave to one instance; `deferralMs` only with a ticket. */
export interface ActivityEffect {
  readonly deviceId: string;
  readonly instance: Instance;
  readonly atMs: number;
  readonly outcome: Exclude<HubOutcome, 'refused'>;
  readonly reason: DecisionReason;
  readonly deferralMs?: number;
}

/**
 * The writes of one decision. Every decision is audited; only an answered one (a reply was built)
 * remembers its nonce and updates the instance's activity. Counters are not effects: they count
 * decisions as they are made (HubCore), durable or not.
 */
export interface HubEffects {
  readonly audit: AuditEntry;
  readonly answered?: AnsweredNonce;
  readonly activity?: ActivityEffect;
}

export interface HubStore {
  readonly view: HubView;
  /**
   * True when a commit costs a transaction (SQLite): the server then commits once per event-loop
   * turn (or `maxBatch`). False (memory): each decision is committed and answered at once.
   */
  readonly batched: boolean;
  /**
   * Applies a batch in one transaction, without waiting for another process's write lock.
   * `false`: the lock is held elsewhere, nothing was applied, try the same batch again shortly.
   * Throws: nothing was applied and the batch is lost (its replies must not go out).
   */
  tryCommit(batch: readonly HubEffects[]): boolean;
  /** As `tryCommit`, waiting for the lock (up to the database's busy timeout). */
  commit(batch: readonly HubEffects[]): void;
}

/** The outcome of `decide`: what to answer, and what to write. */
export interface Decided {
  readonly decision: HubDecision;
  readonly effects: HubEffects;
}

/** Decisions made but not committed yet, with their answered nonces (for in-batch replays). */
export class PendingBatch {
  private items: Decided[] = [];
  private answered = new Set<string>();
  private over: { readonly base: HubView; readonly view: HubView } | undefined;

  /** `base` with this batch's answered nonces counted as answered (made once per store view). */
  viewOver(base: HubView): HubView {
    if (this.over?.base !== base) {
      this.over = {
        base,
        view: {
          keyById: (keyId) => base.keyById(keyId),
          deviceState: (deviceId) => base.deviceState(deviceId),
          evaluate: (deviceId, instance, runtime) => base.evaluate(deviceId, instance, runtime),
          seen: (deviceId, instance, nonce) => this.seen(deviceId, instance, nonce) || base.seen(deviceId, instance, nonce),
        },
      };
    }
    return this.over.view;
  }

  get size(): number {
    return this.items.length;
  }

  add(decided: Decided): void {
    this.items.push(decided);
    const a = decided.effects.answered;
    if (a !== undefined) this.answered.add(replayKey(a.deviceId, a.instance, a.nonce));
  }

  seen(deviceId: string, instance: string, nonce: Uint8Array): boolean {
    return this.answered.size > 0 && this.answered.has(replayKey(deviceId, instance, nonce));
  }

  /** What is pending, oldest first (not emptied). */
  peek(): readonly Decided[] {
    return this.items;
  }

  /** Empties the batch, returning what it held. */
  take(): Decided[] {
    const items = this.items;
    this.items = [];
    this.answered = new Set();
    return items;
  }
}
