/**
 * A hub on MQTT (ARCHITECTURE.md §7): subscribes to its request topic, runs each message through
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
 * Durability: with a `commit` hook (a SQLite-backed hub), decisions are collected for one turn of
 * the event loop (or up to `maxBatch`), committed together, and only then are their replies
 * published — a reply on the wire always has its audit row on disk. If the commit fails, that
 * batch's replies are dropped (the devices retry) and counted.
 *
 * Nothing arriving from the broker can crash it: every message handler is wrapped and counted.
 */
import type { MqttClient } from 'mqtt';
import { topics } from '../../proto/index.ts';
import { connectMqtt, probeBroker, toBuffer, type BrokerCapabilities, type MqttProtocolVersion } from '../mqtt/index.ts';
import type { HubCore, HubDecision } from './hub-core.ts';
import { encodeHubStatus, processStatusTopic, type HubStatus, type SubscriptionMode } from './status.ts';

export interface HubServerOptions {
  readonly core: HubCore;
  readonly brokerUrl: string;
  readonly hubId: string;
  /** Must agree with `core.role`; given for callers that configure both from one file. */
  readonly role?: 'ih' | 'sh';
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
  /**
   * Makes the decisions handled so far durable (e.g. `SqliteHubStore.tryCommit`). Given, replies
   * are published only after it returns; absent, each reply goes out at once. Returning `false`
   * means "not yet" (another process holds the write lock): the batch stays pending and is tried
   * again shortly. Throwing means the batch is lost: its replies are dropped.
   */
  readonly commit?: () => boolean | void;
  /** Most decisions held for one commit (default 512); a full batch commits at once. */
  readonly maxBatch?: number;
}

export class HubConfigError extends Error {
  override readonly name = 'HubConfigError';
}

export interface HubServerStats {
  readonly connects: number;
  readonly received: number;
  readonly replied: number;
  /** Messages on a topic other than our request topic. */
  readonly ignored: number;
  readonly publishFailures: number;
  /** Exceptions caught around a message (should stay 0: HubCore never throws). */
  readonly handlerFailures: number;
  /** Batches committed, and batches whose commit failed (their replies were not sent). */
  readonly commits: number;
  /** Commit tries deferred because another process held the database's write lock. */
  readonly commitRetries: number;
  readonly commitFailures: number;
  /** Replies dropped because their batch could not be committed. */
  readonly uncommittedDrops: number;
}

type Events = { online: []; offline: []; decision: [HubDecision] };
type Listener<E extends keyof Events> = (...args: Events[E]) => void;

/** Largest MQTT packet we accept on MQTT 5: a maximal request envelope plus topic and headers. */
const MAX_PACKET_BYTES = 96 * 1024;

export class HubServer {
  readonly #opts: HubServerOptions;
  readonly #client: MqttClient;
  readonly #requestTopic: string;
  readonly #subscription: string;
  readonly #statusTopic: string;
  /** In shared mode the per-process topic is cleared at a clean stop (a crash leaves the Will). */
  readonly #perProcess: boolean;
  readonly #maxBatch: number;
  #pending: HubDecision[] = [];
  #turnOpen = false;
  #retryScheduled = false;
  readonly #base: Omit<HubStatus, 'online' | 'atMs'>;
  readonly #clock: () => number;
  readonly #listeners: { [E in keyof Events]: Set<Listener<E>> } = { online: new Set(), offline: new Set(), decision: new Set() };
  #online = false;
  #stopped = false;
  #stats = { connects: 0, received: 0, replied: 0, ignored: 0, publishFailures: 0, handlerFailures: 0, commits: 0, commitRetries: 0, commitFailures: 0, uncommittedDrops: 0 };

  /** Probes the broker as needed, connects, subscribes and publishes the online status. */
  static async start(options: HubServerOptions): Promise<HubServer> {
    const role = options.core.role;
    if (options.role !== undefined && options.role !== role.kind) {
      throw new HubConfigError(`role ${options.role} does not match the core's role ${role.kind}`);
    }
    const requestTopic = topics.hubRequest(options.hubId); // throws TopicError for a bad hub id
    const timeoutMs = options.startTimeoutMs ?? 10_000;
    const wanted = options.shareGroup === undefined || options.shareGroup === 'auto' ? options.hubId : options.shareGroup;
    if (wanted !== null) topics.hubRequestSubscription(options.hubId, wanted); // a bad group name fails now, not on fallback
    const askProtocol = options.protocolVersion ?? 'auto';
    let caps: BrokerCapabilities | undefined;
    if (askProtocol === 'auto' || wanted !== null) caps = await probeBroker(options.brokerUrl, { timeoutMs });
    const protocol: MqttProtocolVersion = askProtocol === 'auto' ? (caps?.mqtt5 ? 5 : 4) : askProtocol;

    let mode: SubscriptionMode = 'plain';
    let note: string | undefined;
    if (wanted !== null && caps?.sharedSubscriptions) mode = 'shared';
    else if (wanted !== null) note = 'broker delivers nothing to shared subscriptions: plain subscription, run one hub process per role';
    const subscription = topics.hubRequestSubscription(options.hubId, mode === 'shared' && wanted !== null ? wanted : undefined);

    const server = new HubServer(options, protocol, requestTopic, subscription, {
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
      await server.#firstOnline(timeoutMs);
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  private constructor(
    options: HubServerOptions,
    protocol: MqttProtocolVersion,
    requestTopic: string,
    subscription: string,
    base: Omit<HubStatus, 'online' | 'atMs'>,
  ) {
    this.#opts = options;
    this.#requestTopic = requestTopic;
    this.#subscription = subscription;
    this.#perProcess = base.subscription === 'shared';
    this.#statusTopic = this.#perProcess ? processStatusTopic(options.hubId, base.clientId) : topics.hubStatus(options.hubId);
    this.#maxBatch = Math.max(1, Math.floor(options.maxBatch ?? 512));
    this.#base = base;
    this.#clock = options.clock ?? Date.now;
    this.#client = connectMqtt(options.brokerUrl, {
      clientId: base.clientId,
      protocolVersion: protocol,
      reconnectPeriodMs: options.reconnectPeriodMs ?? 1000,
      // We resubscribe ourselves on every connect, so 'online' means "subscribed" (see #onConnect).
      resubscribe: false,
      // Registered once per client, so its `atMs` is the hub's start time, not the moment it died.
      will: { topic: this.#statusTopic, payload: this.#statusBytes(false), qos: 1, retain: true },
      maximumPacketSize: MAX_PACKET_BYTES,
    });
    this.#client.on('connect', () => void this.#onConnect());
    this.#client.on('close', () => this.#setOnline(false));
    this.#client.on('message', (topic, payload) => this.#onMessage(topic, payload));
  }

  /** What this process publishes as its status (online as currently known). */
  status(): HubStatus {
    return { ...this.#base, online: this.#online, atMs: this.#clock() };
  }

  stats(): HubServerStats {
    return { ...this.#stats };
  }

  get online(): boolean {
    return this.#online;
  }

  /** Where this process publishes its retained status and Will. */
  get statusTopic(): string {
    return this.#statusTopic;
  }

  /** The subscription actually made (`$share/<group>/...` or the plain request topic). */
  get subscription(): string {
    return this.#subscription;
  }

  on<E extends keyof Events>(event: E, listener: Listener<E>): () => void {
    this.#listeners[event].add(listener);
    return () => void this.#listeners[event].delete(listener);
  }

  /**
   * Commits and answers what is pending, publishes the offline status (per-process: clears it) and
   * disconnects cleanly (so the Will is not sent); idempotent.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#flush();
    this.#stopped = true;
    if (this.#client.connected) {
      const last = this.#perProcess ? Buffer.alloc(0) : toBuffer(this.#statusBytes(false));
      await withTimeout(this.#client.publishAsync(this.#statusTopic, last, { qos: 1, retain: true }), 2000).catch(() => {});
      await withTimeout(this.#client.endAsync(), 2000).catch(() => this.#client.end(true));
    } else {
      await withTimeout(this.#client.endAsync(true), 2000).catch(() => {});
    }
    this.#setOnline(false);
  }

  async #onConnect(): Promise<void> {
    this.#stats.connects++;
    if (this.#stopped) return;
    try {
      const granted = await this.#client.subscribeAsync(this.#subscription, { qos: 1 });
      if (granted.some((g) => g.qos >= 0x80)) throw new Error(`broker refused subscription ${this.#subscription}`);
      await this.#client.publishAsync(this.#statusTopic, toBuffer(this.#statusBytes(true)), { qos: 1, retain: true });
      if (!this.#stopped && this.#client.connected) this.#setOnline(true);
    } catch {
      // Connection dropped mid-way (the next connect retries) or the broker refused: stay offline.
      this.#setOnline(false);
    }
  }

  #onMessage(topic: string, payload: Buffer): void {
    try {
      if (topic !== this.#requestTopic) {
        this.#stats.ignored++;
        return;
      }
      this.#stats.received++;
      this.#beginTurn();
      const decision = this.#opts.core.handleRequest(payload, this.#clock());
      if (this.#opts.commit === undefined) {
        if (decision.reply !== undefined) this.#publishReply(decision.reply.topic, decision.reply.payload, decision.reply.expirySeconds);
        this.#emit('decision', decision);
        return;
      }
      this.#pending.push(decision);
      if (this.#pending.length >= this.#maxBatch) this.#flush();
    } catch {
      this.#stats.handlerFailures++;
    }
  }

  /**
   * The first message of an event-loop turn schedules the turn's end (setImmediate runs after every
   * message already parsed from the socket, which MQTT.js hands over on process.nextTick) and corks
   * the socket: the PUBACKs MQTT.js writes for each request and the replies published at the end
   * then leave in one write instead of one syscall per packet.
   */
  #beginTurn(): void {
    if (this.#turnOpen) return;
    this.#turnOpen = true;
    const stream = this.#client.stream as { cork?: () => void; uncork?: () => void } | undefined;
    const corked = typeof stream?.cork === 'function' && typeof stream.uncork === 'function' ? stream : undefined;
    corked?.cork!();
    setImmediate(() => {
      this.#turnOpen = false;
      try {
        this.#flush();
      } finally {
        corked?.uncork!();
      }
    });
  }

  /** Commits the pending decisions, then publishes their replies; on a failed commit, drops them. */
  #flush(): void {
    if (this.#pending.length === 0 || this.#opts.commit === undefined) return;
    const batch = this.#pending;
    try {
      if (this.#opts.commit() === false) {
        // Another process is writing: keep deciding, try again in a millisecond.
        this.#stats.commitRetries++;
        if (!this.#retryScheduled && !this.#stopped) {
          this.#retryScheduled = true;
          setTimeout(() => {
            this.#retryScheduled = false;
            this.#flush();
          }, 1);
        }
        return;
      }
      this.#pending = [];
      this.#stats.commits++;
    } catch {
      this.#pending = [];
      this.#stats.commitFailures++;
      this.#stats.uncommittedDrops += batch.filter((d) => d.reply !== undefined).length;
      return;
    }
    for (const decision of batch) {
      if (decision.reply !== undefined && !this.#stopped) this.#publishReply(decision.reply.topic, decision.reply.payload, decision.reply.expirySeconds);
      this.#emit('decision', decision);
    }
  }

  #publishReply(topic: string, payload: Uint8Array, expirySeconds: number): void {
    const v5 = this.#base.protocol === 5;
    this.#client.publish(
      topic,
      toBuffer(payload),
      { qos: 1, retain: false, ...(v5 ? { properties: { messageExpiryInterval: expirySeconds } } : {}) },
      (err) => {
        if (err) this.#stats.publishFailures++;
        else this.#stats.replied++;
      },
    );
  }

  #statusBytes(online: boolean): Uint8Array {
    return encodeHubStatus({ ...this.#base, online, atMs: this.#clock() });
  }

  #setOnline(online: boolean): void {
    if (this.#online === online) return;
    this.#online = online;
    this.#emit(online ? 'online' : 'offline');
  }

  #emit<E extends keyof Events>(event: E, ...args: Events[E]): void {
    for (const listener of this.#listeners[event]) {
      try {
        listener(...args);
      } catch {
        this.#stats.handlerFailures++; // a listener's bug is not the hub's crash
      }
    }
  }

  #firstOnline(timeoutMs: number): Promise<void> {
    if (this.#online) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`hub ${this.#base.hubId}: not connected and subscribed within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on('online', () => {
        clearTimeout(timer);
        off();
        resolve();
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
