/**
 * A hub on MQTT (ARCHITECTURE.md §7): subscribes to its request topic, runs each message through
 * `HubCore`, publishes the signed reply to the device's reply topic (QoS 1, never retained; on
 * MQTT 5 with a message expiry no longer than the reply is useful), and keeps a retained status with
 * a Last Will. Several processes of one hub id share the load through a `$share/...` subscription
 * where the broker supports it; on Aedes (no shared subscriptions) it falls back to a plain
 * subscription and says so in its status.
 *
 * Nothing arriving from the broker can crash it: every message handler is wrapped and counted.
 */
import type { MqttClient } from 'mqtt';
import { topics } from '../../proto/index.ts';
import { connectMqtt, probeBroker, toBuffer, type BrokerCapabilities, type MqttProtocolVersion } from '../mqtt/index.ts';
import type { HubCore, HubDecision } from './hub-core.ts';
import { encodeHubStatus, type HubStatus, type SubscriptionMode } from './status.ts';

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
  readonly #base: Omit<HubStatus, 'online' | 'atMs'>;
  readonly #clock: () => number;
  readonly #listeners: { [E in keyof Events]: Set<Listener<E>> } = { online: new Set(), offline: new Set(), decision: new Set() };
  #online = false;
  #stopped = false;
  #stats = { connects: 0, received: 0, replied: 0, ignored: 0, publishFailures: 0, handlerFailures: 0 };

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
    this.#statusTopic = topics.hubStatus(options.hubId);
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

  /** The subscription actually made (`$share/<group>/...` or the plain request topic). */
  get subscription(): string {
    return this.#subscription;
  }

  on<E extends keyof Events>(event: E, listener: Listener<E>): () => void {
    this.#listeners[event].add(listener);
    return () => void this.#listeners[event].delete(listener);
  }

  /** Publishes the offline status and disconnects cleanly (so the Will is not sent); idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#client.connected) {
      await withTimeout(this.#client.publishAsync(this.#statusTopic, toBuffer(this.#statusBytes(false)), { qos: 1, retain: true }), 2000).catch(() => {});
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
      const decision = this.#opts.core.handleRequest(payload, this.#clock());
      if (decision.reply !== undefined) this.#publishReply(decision.reply.topic, decision.reply.payload, decision.reply.expirySeconds);
      this.#emit('decision', decision);
    } catch {
      this.#stats.handlerFailures++;
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
