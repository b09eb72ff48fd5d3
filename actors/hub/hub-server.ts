/**
 * A hub on MQTT (docs/ARCHITECTURE.md §7): subscribes to its request topic, runs each message through
 * `HubCore`, publishes the signed reply to the device's reply topic (QoS 1, never retained; on
 * MQTT 5 with a message expiry no longer than the reply is useful), and keeps a retained status with
 * a Last Will. Several processes of one hub id share the load through a `$share/...` subscription
 * where the broker supports it; on Aedes (no shared subscriptions) it falls back to a plain
 * subscription and says so in its status.
 *
 * Status topics: with a plain subscription the process is the hub, so its status (and Will) is the
 * hub's, on `…/hub/<id>/status`. With a shared subscription several processes serve one hub id, and
 * one crashed process must not mark the others offline: each process then keeps its own status and
 * Will on `…/hub/<id>/status/<clientId>` (`processStatusTopic`); observers subscribe to `status/#`.
 *
 * Durability: each decision comes with its effects (effects.ts). On a batched store (SQLite) the
 * server collects them for one turn of the event loop (or up to `maxBatch`), hands them to the
 * store in one commit, and only then publishes their replies — a reply on the wire always has its
 * audit row on disk. A commit that finds another process holding the lock is retried shortly; one
 * that fails drops that batch's replies (the devices retry), counted. An in-memory store commits
 * and answers each decision at once.
 *
 * Nothing arriving from the broker can crash it: every message handler is wrapped and counted.
 *
 * TLS (docs/PROTOCOL.md §6.6): with an `mqtts://` URL the broker's certificate is verified against
 * `tls.ca`. A handshake failure at start rejects `start` with MqttTlsError; later ones (a broker
 * certificate replaced by one we do not trust) are counted, emitted as `tlsFailure` and shown in
 * `status().connectionProblem` while the hub is offline — it keeps retrying, never silently.
 */
import type { MqttClient } from 'mqtt';
import { deviceOfRequestTopic, topics } from '../../proto/index.ts';
import {
  connectMqtt,
  probeBroker,
  toBuffer,
  type BrokerCapabilities,
  type MqttProtocolVersion,
  type MqttTlsError,
  type MqttTlsOptions,
} from '../mqtt/index.ts';
import type { HubDecision } from './decide.ts';
import { PendingBatch } from './effects.ts';
import type { HubCore } from './hub-core.ts';
import { encodeHubStatus, processStatusTopic, type HubStatus, type SubscriptionMode } from './status.ts';

export interface HubServerOptions {
  readonly core: HubCore;
  readonly brokerUrl: string;
  /** For an `mqtts://` broker: the pinned CA (and optionally a client certificate). */
  readonly tls?: MqttTlsOptions;
  readonly hubId: string;
  /** Default `auto`: MQTT 5 where the broker speaks it. */
  readonly protocolVersion?: MqttProtocolVersion | 'auto';
  /**
   * Share group for the request subscription. `auto` (default) uses the hub id as the group; a name
   * picks that group; `null` always subscribes plainly. Without broker support: plain, noted in status.
   */
  readonly shareGroup?: string | 'auto' | null;
  /** Hub clock for `issued_at_ms` and the audit; default `Date.now`. */
  readonly clock?: () => number;
  readonly reconnectPeriodMs?: number;
  /** Bound on the broker probe and on the first connect + subscribe. Default 10 000 ms. */
  readonly startTimeoutMs?: number;
  /** Most decisions held for one commit on a batched store (default 512); a full batch commits at once. */
  readonly maxBatch?: number;
  /** The hub's broker credential (username `hub@<hubId>`, docs/ARCHITECTURE.md §7.1), for the probe and the connection. */
  readonly credential?: { readonly username: string; readonly password: string };
}

export interface HubServerStats {
  readonly connects: number;
  readonly received: number;
  readonly replied: number;
  /** Messages on a topic other than one of our request topics (`…/request/<deviceId>`). */
  readonly ignored: number;
  readonly publishFailures: number;
  /** Exceptions caught around a message (should stay 0: HubCore never throws). */
  readonly handlerFailures: number;
  /** Batches committed (one per decision on an unbatched store), and batches whose commit failed (their replies were not sent). */
  readonly commits: number;
  /** Commit tries deferred because another process held the database's write lock. */
  readonly commitRetries: number;
  readonly commitFailures: number;
  /** Replies dropped because their batch could not be committed. */
  readonly uncommittedDrops: number;
  /** Requests dropped unanswered after the hub declared itself not ready. */
  readonly notReadyDrops: number;
  /** Replies withheld because another hub process had answered the same request (asynchronous stores). */
  readonly replayedDrops: number;
  /** CONNECTs the broker refused (bad credential, not authorized): each one is also a `refused` event. */
  readonly refusals: number;
  /** TLS handshakes with the broker that failed (untrusted or wrong certificate). */
  readonly tlsFailures: number;
}

type Events = {
  online: [];
  offline: [];
  /** The connection to the broker dropped while online: why, as far as the client knows (for the log). */
  disconnected: [string];
  /** The client tries the broker again (every `reconnectPeriodMs` while it is away). */
  reconnecting: [];
  /** A committed decision, and the device whose request topic it arrived on (named even when the signer is unknown). */
  decision: [HubDecision, string | undefined];
  refused: [string];
  tlsFailure: [MqttTlsError];
  /** A batch whose commit failed (its replies dropped): the error, and how many failed in a row. */
  commitFailure: [unknown, number];
};
type Listener<E extends keyof Events> = (...args: Events[E]) => void;

/** Largest MQTT packet we accept on MQTT 5: a maximal request envelope plus topic and headers. */
const MAX_PACKET_BYTES = 96 * 1024;

export class HubServer {
  private readonly core: HubCore;
  private readonly client: MqttClient;
  private readonly statusTopic_: string;
  /** In shared mode the per-process topic is cleared at a clean stop (a crash leaves the Will). */
  private readonly perProcess: boolean;
  private readonly maxBatch: number;
  private readonly pending = new PendingBatch();
  private turnOpen = false;
  private retryScheduled = false;
  /** The asynchronous store's commit in flight (at most one), settled when its replies are out. */
  private inFlight: Promise<void> | undefined;
  private readonly clock: () => number;
  private readonly listeners: { [E in keyof Events]: Set<Listener<E>> } = {
    online: new Set(),
    offline: new Set(),
    disconnected: new Set(),
    reconnecting: new Set(),
    decision: new Set(),
    refused: new Set(),
    tlsFailure: new Set(),
    commitFailure: new Set(),
  };
  /** Failed commits since the last one that succeeded. */
  private failuresInRow = 0;
  /** Set once by `notReady`: the process no longer answers, and its status says why. */
  private problem: string | undefined;
  /** Why the last connection attempt failed its TLS handshake; cleared once connected. */
  private tlsProblem: string | undefined;
  private online_ = false;
  private stopped = false;
  private readonly counts = {
    connects: 0,
    received: 0,
    replied: 0,
    ignored: 0,
    publishFailures: 0,
    handlerFailures: 0,
    commits: 0,
    commitRetries: 0,
    commitFailures: 0,
    uncommittedDrops: 0,
    notReadyDrops: 0,
    replayedDrops: 0,
    refusals: 0,
    tlsFailures: 0,
  };
  private lastRefusal: string | undefined;
  /** The last connection error or broker DISCONNECT since we were last online: the reason a drop is logged with. */
  private dropReason: string | undefined;
  /** The request topic's device of each decision still pending (a refused signer names no device itself). */
  private readonly topicDevices = new WeakMap<HubDecision, string>();

  /** Probes the broker as needed, connects, subscribes and publishes the online status. */
  static async start(options: HubServerOptions): Promise<HubServer> {
    const role = options.core.role;
    topics.hubRequestBase(options.hubId); // throws TopicError for a bad hub id
    const timeoutMs = options.startTimeoutMs ?? 10_000;
    const wanted = options.shareGroup === undefined || options.shareGroup === 'auto' ? options.hubId : options.shareGroup;
    if (wanted !== null) topics.hubRequestSubscription(options.hubId, wanted); // a bad group name fails now, not on fallback
    const askProtocol = options.protocolVersion ?? 'auto';
    let caps: BrokerCapabilities | undefined;
    const credential =
      options.credential === undefined ? {} : { username: options.credential.username, password: options.credential.password };
    if (askProtocol === 'auto' || wanted !== null)
      caps = await probeBroker(options.brokerUrl, { timeoutMs, ...credential, ...(options.tls !== undefined ? { tls: options.tls } : {}) });
    const protocol: MqttProtocolVersion = askProtocol === 'auto' ? (caps?.mqtt5 ? 5 : 4) : askProtocol;

    let mode: SubscriptionMode = 'plain';
    let note: string | undefined;
    if (wanted !== null && caps?.sharedSubscriptions) mode = 'shared';
    else if (wanted !== null) note = 'broker delivers nothing to shared subscriptions: plain subscription, run one hub process per role';
    const subscription = topics.hubRequestSubscription(options.hubId, mode === 'shared' && wanted !== null ? wanted : undefined);

    const server = new HubServer(options, protocol, subscription, {
      hubId: options.hubId,
      role: role.kind,
      ...(role.kind === 'sh' ? { service: role.service } : {}),
      subscription: mode,
      ...(mode === 'shared' && wanted !== null ? { shareGroup: wanted } : {}),
      protocol,
      clientId: `hub-${options.hubId.slice(0, 40)}-${randomHex(4)}`,
      ...(note !== undefined ? { note } : {}),
    });
    try {
      await server.firstOnline(timeoutMs);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  private constructor(
    options: HubServerOptions,
    protocol: MqttProtocolVersion,
    private readonly subscription_: string,
    private readonly base: Omit<HubStatus, 'online' | 'atMs'>,
  ) {
    this.core = options.core;
    this.perProcess = base.subscription === 'shared';
    this.statusTopic_ = this.perProcess ? processStatusTopic(options.hubId, base.clientId) : topics.hubStatus(options.hubId);
    this.maxBatch = Math.max(1, Math.floor(options.maxBatch ?? 512));
    this.clock = options.clock ?? Date.now;
    this.client = connectMqtt(options.brokerUrl, {
      clientId: base.clientId,
      protocolVersion: protocol,
      reconnectPeriodMs: options.reconnectPeriodMs ?? 1000,
      // We resubscribe ourselves on every connect, so 'online' means "subscribed" (see onConnect).
      resubscribe: false,
      // Registered once per client, so its `atMs` is the hub's start time, not the moment it died.
      will: { topic: this.statusTopic_, payload: this.statusBytes(false), qos: 1, retain: true },
      maximumPacketSize: MAX_PACKET_BYTES,
      ...(options.credential !== undefined ? { username: options.credential.username, password: options.credential.password } : {}),
      ...(options.tls !== undefined ? { tls: options.tls } : {}),
      onSocketError: (err) => void (this.dropReason = err.message),
      onTlsFailure: (failure) => {
        this.counts.tlsFailures++;
        this.tlsProblem = failure.message;
        this.emit('tlsFailure', failure);
      },
      // Loud, not a silent reconnect loop: counted, kept for `refusal`, and an event the CLI logs.
      onRefused: (reason) => {
        this.counts.refusals++;
        this.lastRefusal = reason;
        this.emit('refused', reason);
      },
    });
    this.client.on('connect', () => void this.onConnect());
    this.client.on('error', (err) => void (this.dropReason = err.message));
    this.client.on('disconnect', (packet) => {
      const code = packet.reasonCode;
      this.dropReason = `the broker sent DISCONNECT${code !== undefined ? ` (reason code ${code})` : ''}`;
    });
    this.client.on('reconnect', () => {
      if (!this.stopped) this.emit('reconnecting');
    });
    this.client.on('close', () => this.setOnline(false));
    this.client.on('message', (topic, payload) => this.onMessage(topic, payload));
  }

  /** What this process publishes as its status (online as currently known; offline, why if TLS failed). */
  status(): HubStatus {
    const problem = !this.online_ && this.tlsProblem !== undefined ? { connectionProblem: this.tlsProblem } : {};
    return { ...this.base, online: this.online_, ...this.readiness(), atMs: this.clock(), ...problem };
  }

  /**
   * The hub cannot do its job (docs/ARCHITECTURE.md §7, "Readiness"): stop answering — requests
   * are dropped, counted — and publish a retained status with `ready: false` and the problem,
   * kept at stop. Never "online" while refusing everything. The first problem stays; idempotent.
   */
  async notReady(problem: string): Promise<void> {
    if (this.problem !== undefined) return;
    this.problem = problem;
    this.pending.take();
    if (this.client.connected && !this.stopped)
      await withTimeout(
        this.client.publishAsync(this.statusTopic_, toBuffer(this.statusBytes(this.online_)), { qos: 1, retain: true }),
        2000,
      ).catch(() => {});
  }

  /**
   * The problem behind `notReady` went away (a PostgreSQL store whose server is back): answer again
   * and publish a ready status. Only for problems that can pass; a damaged SQLite file never does.
   */
  async recovered(): Promise<void> {
    if (this.problem === undefined) return;
    this.problem = undefined;
    this.failuresInRow = 0;
    if (this.client.connected && !this.stopped)
      await withTimeout(
        this.client.publishAsync(this.statusTopic_, toBuffer(this.statusBytes(this.online_)), { qos: 1, retain: true }),
        2000,
      ).catch(() => {});
  }

  /** Why this process declared itself not ready, if it did. */
  get notReadyProblem(): string | undefined {
    return this.problem;
  }

  stats(): HubServerStats {
    return { ...this.counts };
  }

  get online(): boolean {
    return this.online_;
  }

  /** The last connection error since this process was last online (what keeps it from the broker), if any. */
  get connectionError(): string | undefined {
    return this.online_ ? undefined : this.dropReason;
  }

  /** Why the broker last refused our CONNECT, if it ever did. */
  get refusal(): string | undefined {
    return this.lastRefusal;
  }

  /** Where this process publishes its retained status and Will. */
  get statusTopic(): string {
    return this.statusTopic_;
  }

  /** The subscription actually made (`$share/<group>/...` or the plain request topic). */
  get subscription(): string {
    return this.subscription_;
  }

  on<E extends keyof Events>(event: E, listener: Listener<E>): () => void {
    this.listeners[event].add(listener);
    return () => void this.listeners[event].delete(listener);
  }

  /**
   * Commits and answers what is pending, publishes the offline status (per-process: clears it) and
   * disconnects cleanly (so the Will is not sent); idempotent.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.flush(true);
    while (this.inFlight !== undefined) await this.inFlight; // each settle flushes what accumulated
    this.stopped = true;
    if (this.client.connected) {
      // A not-ready process leaves its reason retained, even on a per-process topic.
      const last = this.perProcess && this.problem === undefined ? Buffer.alloc(0) : toBuffer(this.statusBytes(false));
      await withTimeout(this.client.publishAsync(this.statusTopic_, last, { qos: 1, retain: true }), 2000).catch(() => {});
      await withTimeout(this.client.endAsync(), 2000).catch(() => this.client.end(true));
    } else {
      await withTimeout(this.client.endAsync(true), 2000).catch(() => {});
    }
    this.setOnline(false);
  }

  private async onConnect(): Promise<void> {
    this.counts.connects++;
    this.tlsProblem = undefined;
    if (this.stopped) return;
    try {
      const granted = await this.client.subscribeAsync(this.subscription_, { qos: 1 });
      if (granted.some((g) => g.qos >= 0x80)) throw new Error(`broker refused subscription ${this.subscription_}`);
      await this.client.publishAsync(this.statusTopic_, toBuffer(this.statusBytes(true)), { qos: 1, retain: true });
      if (!this.stopped && this.client.connected) this.setOnline(true);
    } catch {
      // Connection dropped mid-way (the next connect retries) or the broker refused: stay offline.
      this.setOnline(false);
    }
  }

  private onMessage(topic: string, payload: Buffer): void {
    try {
      // Requests arrive on `…/request/<deviceId>`; the core refuses one signed by another device.
      const topicDevice = deviceOfRequestTopic(topic, this.base.hubId);
      if (topicDevice === undefined) {
        this.counts.ignored++;
        return;
      }
      if (this.problem !== undefined) {
        this.counts.notReadyDrops++;
        return;
      }
      this.counts.received++;
      this.beginTurn();
      const { decision } = this.core.handle(payload, this.clock(), this.pending, topicDevice);
      this.topicDevices.set(decision, topicDevice);
      if (!this.core.store.batched || this.pending.size >= this.maxBatch) this.flush();
    } catch {
      this.counts.handlerFailures++;
    }
  }

  /**
   * The first message of an event-loop turn schedules the turn's end (setImmediate runs after every
   * message already parsed from the socket, which MQTT.js hands over on process.nextTick) and corks
   * the socket: the PUBACKs MQTT.js writes for each request and the replies published at the end
   * then leave in one write instead of one syscall per packet.
   */
  private beginTurn(): void {
    if (this.turnOpen) return;
    this.turnOpen = true;
    const stream = this.client.stream as { cork?: () => void; uncork?: () => void } | undefined;
    const corked = typeof stream?.cork === 'function' && typeof stream.uncork === 'function' ? stream : undefined;
    corked?.cork!();
    setImmediate(() => {
      this.turnOpen = false;
      try {
        this.flush();
      } finally {
        corked?.uncork!();
      }
    });
  }

  /**
   * Commits the pending decisions' effects, then publishes their replies; on a failed commit, drops
   * them. `wait` (at stop): wait for another process's write lock instead of retrying later.
   */
  private flush(wait = false): void {
    if (this.pending.size === 0) return;
    if (this.core.store.commitAsync !== undefined) return this.flushAsync();
    try {
      const effects = this.pending.peek().map((d) => d.effects);
      if (wait) this.core.store.commit(effects);
      else if (!this.core.store.tryCommit(effects)) {
        // Another process is writing: keep deciding, try again in a millisecond.
        this.counts.commitRetries++;
        if (!this.retryScheduled && !this.stopped) {
          this.retryScheduled = true;
          setTimeout(() => {
            this.retryScheduled = false;
            this.flush();
          }, 1);
        }
        return;
      }
    } catch (err) {
      const lost = this.pending.take();
      this.counts.commitFailures++;
      this.counts.uncommittedDrops += lost.filter((d) => d.decision.reply !== undefined).length;
      this.emit('commitFailure', err, ++this.failuresInRow);
      return;
    }
    const batch = this.pending.take();
    this.counts.commits++;
    this.failuresInRow = 0;
    for (const { decision } of batch) {
      if (decision.reply !== undefined && !this.stopped)
        this.publishReply(decision.reply.topic, decision.reply.payload, decision.reply.expirySeconds);
      this.emit('decision', decision, this.topicDevices.get(decision));
    }
  }

  /**
   * An asynchronous store (PostgreSQL): one commit in flight; what arrives meanwhile waits in
   * `pending` and goes in the next commit, started when this one settles. Replies go out only
   * after their commit resolved, minus those the store found answered by another process.
   */
  private flushAsync(): void {
    if (this.inFlight !== undefined || this.pending.size === 0) return;
    const batch = this.pending.take();
    const commit = this.core.store.commitAsync!(batch.map((d) => d.effects));
    this.inFlight = commit
      .then(
        ({ replayed }) => {
          this.counts.commits++;
          this.failuresInRow = 0;
          batch.forEach(({ decision }, i) => {
            if (replayed.has(i)) return void this.counts.replayedDrops++;
            if (decision.reply !== undefined && !this.stopped)
              this.publishReply(decision.reply.topic, decision.reply.payload, decision.reply.expirySeconds);
            this.emit('decision', decision, this.topicDevices.get(decision));
          });
        },
        (err: unknown) => {
          this.counts.commitFailures++;
          this.counts.uncommittedDrops += batch.filter((d) => d.decision.reply !== undefined).length;
          this.emit('commitFailure', err, ++this.failuresInRow);
        },
      )
      .finally(() => {
        this.inFlight = undefined;
        this.flushAsync();
      });
  }

  private publishReply(topic: string, payload: Uint8Array, expirySeconds: number): void {
    const v5 = this.base.protocol === 5;
    this.client.publish(
      topic,
      toBuffer(payload),
      { qos: 1, retain: false, ...(v5 ? { properties: { messageExpiryInterval: expirySeconds } } : {}) },
      (err) => {
        if (err) this.counts.publishFailures++;
        else this.counts.replied++;
      },
    );
  }

  private statusBytes(online: boolean): Uint8Array {
    return encodeHubStatus({ ...this.base, online, ...this.readiness(), atMs: this.clock() });
  }

  private readiness(): { ready: boolean; problem?: string } {
    return this.problem === undefined ? { ready: true } : { ready: false, problem: this.problem };
  }

  private setOnline(online: boolean): void {
    if (this.online_ === online) return;
    this.online_ = online;
    if (online) this.dropReason = undefined;
    else if (!this.stopped) this.emit('disconnected', this.dropReason ?? 'the connection closed');
    this.emit(online ? 'online' : 'offline');
  }

  private emit<E extends keyof Events>(event: E, ...args: Events[E]): void {
    for (const listener of this.listeners[event]) {
      try {
        listener(...args);
      } catch {
        this.counts.handlerFailures++; // a listener's bug is not the hub's crash
      }
    }
  }

  private firstOnline(timeoutMs: number): Promise<void> {
    if (this.online_) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        offRefused();
        reject(new Error(`hub ${this.base.hubId}: not connected and subscribed within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on('online', () => {
        clearTimeout(timer);
        off();
        offRefused();
        resolve();
      });
      // A refused CONNECT will not fix itself within the start timeout: fail at once, saying why.
      const offRefused = this.on('refused', (reason) => {
        clearTimeout(timer);
        off();
        offRefused();
        reject(new Error(`hub ${this.base.hubId}: the broker refused the connection: ${reason}`));
      });
    });
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function randomHex(bytes: number): string {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
}
