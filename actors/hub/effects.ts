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
import type { BootControls } from './boot-policy.ts';
import type { HubDecision } from './decide.ts';
import type { ImageGateEffect } from './image-gate.ts';
import type { PolicyVerdict } from './policy.ts';
import type { BootOutcome, BootReason, DecisionReason, HubOutcome } from './reasons.ts';
import type { PublishedRelease } from './releases.ts';
import type { DeviceState, EnrolledKey } from './registry.ts';
import { replayKey } from './replay.ts';
import type { BootImageRecord, InstanceRuntime } from './runtime-record.ts';

/** Read-only state a decision needs. Lookups may fill caches; they never write hub state. */
export interface HubView {
  /** The enrolment a key id belongs to; undefined when no enrolled key has it. */
  keyById(keyId: Uint8Array): EnrolledKey | undefined;
  deviceState(deviceId: string): DeviceState | undefined;
  evaluate(deviceId: string, instance: Instance, runtime: RuntimeInfo): PolicyVerdict;
  /** True when this nonce was already answered (and committed) for (device, instance). */
  seen(deviceId: string, instance: Instance, nonce: Uint8Array): boolean;
  /** A release this hub published (image transfer); undefined when it has not. */
  release(board: string, label: string, version: number): PublishedRelease | undefined;
  /** What the operator's switches say about the device's boot (gated boot). */
  bootControls(deviceId: string): BootControls;
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
  /** The slots and update state the request reported (a valid request only), stored with the activity. */
  readonly runtime?: InstanceRuntime;
}

/** What a device reported at its latest boot request, and what the hub decided. */
export interface BootRecord {
  readonly deviceId: string;
  readonly atMs: number;
  readonly bootCount?: number;
  readonly firmwareVersion: string;
  readonly manifestDigest: Uint8Array;
  readonly images: readonly BootImageRecord[];
  readonly outcome: Exclude<BootOutcome, 'refused'>;
  readonly reason: BootReason;
}

/**
 * The writes of one decision. Ticket and boot decisions are audited, answered or not; an image
 * decision only when it refuses without a reply or completes a fetch (decide-image.ts), so a chunk
 * costs no write. Only an answered ticket request remembers its nonce and updates the instance's
 * activity; an answered boot request records what the device booted. Counters are not effects: they
 * count decisions as they are made (HubCore), durable or not.
 */
export interface HubEffects {
  readonly audit?: AuditEntry;
  readonly answered?: AnsweredNonce;
  readonly activity?: ActivityEffect;
  readonly boot?: BootRecord;
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
  /**
   * A store whose commit is a round trip to a database server (PostgreSQL): when present, the
   * server uses it instead of `tryCommit`/`commit`, keeps one commit in flight and publishes a
   * batch's replies once it resolved. Rejects: nothing was applied, the replies must not go out.
   */
  commitAsync?(batch: readonly HubEffects[]): Promise<CommitResult>;
}

/** What an asynchronous commit learned about its batch. */
export interface CommitResult {
  /**
   * Indexes (in the batch) of answered decisions another hub process had already answered (the
   * same request delivered twice): committed as refused `replayed`, their replies must not go out.
   */
  readonly replayed: ReadonlySet<number>;
}

/** The outcome of a decision: what to answer, and what to write. */
export interface Decided {
  readonly decision: HubDecision;
  readonly effects: HubEffects;
  /** Image requests: the change to the hub's in-memory image gate, applied at once (image-gate.ts). */
  readonly gate?: ImageGateEffect;
}

/** True when committing these effects writes nothing (a batch of plain chunks needs no transaction). */
export function writesNothing(batch: readonly HubEffects[]): boolean {
  return batch.every((e) => e.audit === undefined && e.answered === undefined && e.activity === undefined && e.boot === undefined);
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
          release: (board, label, version) => base.release(board, label, version),
          bootControls: (deviceId) => base.bootControls(deviceId),
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
