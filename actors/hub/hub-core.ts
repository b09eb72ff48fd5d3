/**
 * The hub core: the decisions (decide.ts for tickets, decide-boot.ts, decide-image.ts) bound to a
 * hub's role, signing key and store, plus the decision counters and the in-memory image gate. `handle`
 * picks the decision by the envelope's context (exchange.ts) and decides without writing the store;
 * the caller collects the effects and commits them (the server: one batch per event-loop turn,
 * hub-server.ts). `handleRequest` decides and commits at once, for in-memory hubs and tests.
 *
 * Built from in-memory parts (registry, policy, audit log, replay guard, releases) it gets a
 * `MemoryHubStore`; a SQLite hub passes its `SqliteHubStore` (sqlite/store.ts).
 */
import type { Signer } from '../crypto/index.ts';
import type { AuditLog } from './audit.ts';
import { NO_BOOT_CONTROLS } from './boot-policy.ts';
import { DecisionCounters, type HubCounterSnapshot } from './counters.ts';
import { decide, type HubDecision, type HubIdentityKey } from './decide.ts';
import { decideBoot } from './decide-boot.ts';
import { decideImage } from './decide-image.ts';
import type { Decided, HubEffects, HubStore, HubView, PendingBatch } from './effects.ts';
import { exchangeOf } from './exchange.ts';
import { ImageGate, type ImageGateLimits } from './image-gate.ts';
import type { HubPolicy } from './policy.ts';
import type { ReleaseCatalog } from './releases.ts';
import type { MemoryRegistry } from './registry.ts';
import type { ReplayGuard } from './replay.ts';
import type { HubRole } from './role.ts';

export interface HubCoreParts {
  readonly registry: MemoryRegistry;
  readonly policy: HubPolicy;
  readonly audit?: AuditLog;
  /** Refuses requests whose nonce was already answered; without one, replays are answered again. */
  readonly replay?: ReplayGuard;
  /** Releases to serve in chunks; without, every image request is NOT_PUBLISHED. */
  readonly releases?: ReleaseCatalog;
}

export type HubCoreOptions = {
  readonly role: HubRole;
  /** The hub's signing key (K_IH or K_SH_k). */
  readonly signer: Signer;
  /** Image serving's rate limits; default image-gate.ts's constants. */
  readonly imageLimits?: ImageGateLimits;
} & ({ readonly store: HubStore } | HubCoreParts);

export class HubCore {
  readonly role: HubRole;
  readonly store: HubStore;
  /** Per-device chunk rate and repeated nonces of image requests: in memory only (image-gate.ts). */
  readonly imageGate: ImageGate;
  private readonly hub: HubIdentityKey;
  private readonly tally = new DecisionCounters();

  constructor(options: HubCoreOptions) {
    this.role = options.role;
    this.hub = { role: options.role, signer: options.signer };
    this.store = 'store' in options ? options.store : new MemoryHubStore(options, () => this.tally.auditFailed());
    this.imageGate = new ImageGate(options.imageLimits);
  }

  /** The hub's public key, as devices pin it. */
  get publicKey(): Uint8Array {
    return this.hub.signer.publicKey.slice();
  }

  counters(): HubCounterSnapshot {
    return this.tally.snapshot();
  }

  /**
   * Decides on one request and counts it; writes nothing to the store. With `pending` (decided, not
   * yet committed), its answered nonces count as answered, and the decision is added to it.
   * `topicDevice`: the device id of the request topic it arrived on (over MQTT); a request signed by
   * another device is refused (`topic-device-mismatch`). Never throws.
   */
  handle(bytes: Uint8Array, nowMs: number, pending?: PendingBatch, topicDevice?: string): Decided {
    const view = pending === undefined ? this.store.view : pending.viewOver(this.store.view);
    const exchange = exchangeOf(bytes);
    const decided =
      exchange === 'boot'
        ? decideBoot(bytes, nowMs, this.hub, view, topicDevice)
        : exchange === 'image'
          ? decideImage(bytes, nowMs, this.hub, view, this.imageGate, topicDevice)
          : decide(bytes, nowMs, this.hub, view, topicDevice);
    // Not durable: applied now, so the next decision (in this batch too) sees it.
    if (decided.gate !== undefined) this.imageGate.apply(decided.gate);
    this.count(decided.decision);
    pending?.add(decided);
    return decided;
  }

  /**
   * Decides and commits at once. If the commit fails the reply must not go out: the decision is
   * then refused (`internal-error`, counted). Never throws.
   */
  handleRequest(bytes: Uint8Array, nowMs: number): HubDecision {
    const { decision, effects } = this.handle(bytes, nowMs);
    try {
      this.store.commit([effects]);
      return decision;
    } catch {
      const lost = internalError(decision);
      this.count(lost);
      return lost;
    }
  }

  private count(d: HubDecision): void {
    switch (d.exchange) {
      case 'ticket':
        return this.tally.count(d.outcome, d.reason);
      case 'boot':
        return this.tally.countBoot(d.outcome, d.reason);
      case 'image':
        return this.tally.countImage(d.outcome, d.reason, d.bytes ?? 0);
    }
  }
}

/** The same decision refused for an internal error: its reply must not go out. */
function internalError(d: HubDecision): HubDecision {
  const base = { outcome: 'refused', reason: 'internal-error', ...(d.deviceId !== undefined ? { deviceId: d.deviceId } : {}) } as const;
  switch (d.exchange) {
    case 'ticket':
      return { exchange: 'ticket', ...base };
    case 'boot':
      return { exchange: 'boot', ...base };
    case 'image':
      return { exchange: 'image', ...base };
  }
}

/** In-memory parts as a store: commits apply at once, nothing to batch. */
export class MemoryHubStore implements HubStore {
  readonly batched = false;
  readonly view: HubView;

  constructor(
    private readonly parts: HubCoreParts,
    /** A failing audit backend must not turn into a crash or a lost reply; it is counted instead. */
    private readonly onAuditFailure: () => void = () => {},
  ) {
    const { registry, policy, replay, releases } = parts;
    this.view = {
      keyById: (keyId) => registry.keyById(keyId),
      deviceState: (deviceId) => registry.device(deviceId)?.state,
      evaluate: (deviceId, instance, runtime) => policy.evaluate(deviceId, instance, runtime),
      seen: (deviceId, instance, nonce) => replay?.seen(deviceId, instance, nonce) ?? false,
      release: (board, label, version) => releases?.release(board, label, version),
      bootControls: (deviceId) => policy.bootControls?.(deviceId) ?? NO_BOOT_CONTROLS,
    };
  }

  tryCommit(batch: readonly HubEffects[]): boolean {
    this.commit(batch);
    return true;
  }

  commit(batch: readonly HubEffects[]): void {
    for (const e of batch) {
      if (e.answered !== undefined)
        this.parts.replay?.remember(e.answered.deviceId, e.answered.instance, e.answered.nonce, e.answered.atMs);
      if (e.activity !== undefined) this.parts.registry.recordActivity(e.activity);
      if (this.parts.audit === undefined || e.audit === undefined) continue;
      try {
        this.parts.audit.append(e.audit);
      } catch {
        this.onAuditFailure();
      }
    }
  }
}
