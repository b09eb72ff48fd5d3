/**
 * One hub process's connection to one broker (docs/ARCHITECTURE.md §7, "Several brokers"). A hub
 * process has one link per broker it serves; each link finds out for itself what its broker can do
 * (MQTT 5 or 3.1.1, shared subscriptions or not), connects with TCP_NODELAY and a Last Will on its
 * own status topic, subscribes to the request topic on every connect (`$share/<group>/…` where the
 * broker delivers to it, else plainly, said in a note) and then publishes the retained status its
 * owner gives it. Its owner (hub-server.ts) decides, commits and answers; the link only carries.
 *
 * A broker that cannot be probed (down at start) is probed again every reconnect period until it
 * answers, loudly: each failed try is a `reconnecting` hook with the reason. Once probed, the link
 * connects with its own MQTT session (actors/mqtt/wire: the hot path without MQTT.js, which only
 * probes) and, when a connection fails or ends, tries again every reconnect period (30 s after a
 * refused CONNECT); the way the link listens stays as first probed.
 */
import { topics } from '../../proto/index.ts';
import {
  MqttTlsError,
  brokerAddressFor,
  probeBroker,
  type BrokerAddress,
  type BrokerCapabilities,
  type MqttProtocolVersion,
  type MqttTlsOptions,
} from '../mqtt/index.ts';
import { MqttRefusedError, MqttSession } from '../mqtt/wire/index.ts';
import { processStatusTopic, type BrokerState, type HubStatus, type SubscriptionMode } from './status.ts';

export interface BrokerLinkOptions {
  readonly url: string;
  readonly hubId: string;
  /** The process's MQTT client id: the same on every broker, so its status topic is too. */
  readonly clientId: string;
  /** The share group wanted for the request subscription, or null for a plain one. */
  readonly shareGroup: string | null;
  readonly protocolVersion: MqttProtocolVersion | 'auto';
  readonly tls?: MqttTlsOptions;
  readonly credential?: { readonly username: string; readonly password: string };
  readonly reconnectPeriodMs: number;
  /** Bound on each probe step, and on the first connect + subscribe after the first probe. */
  readonly timeoutMs: number;
  /** MQTT 5: the largest packet the broker may send us. */
  readonly maximumPacketSize: number;
  /** MQTT 5: requests the broker may have sent us unacknowledged (hub-server.ts: a few batches). */
  readonly receiveMaximum?: number;
}

/** How a link listens, once its broker has been probed. */
export interface LinkMode {
  readonly protocol: MqttProtocolVersion;
  readonly subscription: SubscriptionMode;
  readonly shareGroup?: string;
  /** Why the subscription differs from what was asked, if it does. */
  readonly note?: string;
  /** The subscription made on every connect. */
  readonly subscriptionTopic: string;
  /** Where this process's status and Will go on this broker (per process when shared). */
  readonly statusTopic: string;
}

/** What the link tells its owner. Hooks must not throw (the owner wraps its listeners). */
export interface BrokerLinkHooks {
  /** The status to publish on this link: online, or (`will`) the Last Will registered at connect. */
  statusBytes(link: BrokerLink, online: boolean, will: boolean): Uint8Array;
  message(link: BrokerLink, topic: string, payload: Buffer): void;
  /** A message over `maximumPacketSize` (sent by an MQTT 3.1.1 broker), let go unread and acknowledged. */
  oversized(link: BrokerLink, topic: string, bytes: number): void;
  /** Every CONNACK (counted by the owner). */
  connected(link: BrokerLink): void;
  /** Subscribed and announced: requests arrive on this link. */
  up(link: BrokerLink): void;
  /** The link was up and is not any more (also at close). */
  down(link: BrokerLink, reason: string): void;
  /** Another try at a broker that is away. */
  reconnecting(link: BrokerLink, reason: string): void;
  refused(link: BrokerLink, reason: string): void;
  tlsFailure(link: BrokerLink, failure: MqttTlsError): void;
}

/** MQTT keep-alive of a hub's connection: a silent broker is noticed within 1.5 of it (session.ts). */
const KEEPALIVE_SECONDS = 30;
/** After the broker refused our CONNECT: the next try (a broker sync may admit us later), never a tight loop. */
const REFUSED_RETRY_MS = 30_000;

export class BrokerLink {
  readonly url: string;
  private readonly address: BrokerAddress;
  private mode_: LinkMode | undefined;
  private session: MqttSession | undefined;
  /** The Last Will, made once: its `atMs` is the process's start, not the moment it died. */
  private will: Uint8Array | undefined;
  private up_ = false;
  private closed = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** The last connection error or broker DISCONNECT since the link was last up. */
  private dropReason: string | undefined;
  /** Why the last connection attempt failed its TLS handshake; cleared once connected. */
  private tlsProblem: string | undefined;
  /** Settles the first attempt (`firstAttempt`): undefined once up, else why not. */
  private settleFirst: ((err: Error | undefined) => void) | undefined;
  private readonly first: Promise<Error | undefined>;

  constructor(
    private readonly options: BrokerLinkOptions,
    private readonly hooks: BrokerLinkHooks,
  ) {
    this.url = options.url;
    this.address = brokerAddressFor(options.url, options.tls);
    this.first = new Promise((resolve) => (this.settleFirst = resolve));
    void this.probe(true);
  }

  /**
   * Resolves once the first attempt is over: undefined when the link came up, else the error that
   * kept it down (probe failure, refused CONNECT, TLS failure, or no connect within the timeout).
   * The link keeps trying either way until closed.
   */
  firstAttempt(): Promise<Error | undefined> {
    return this.first;
  }

  get up(): boolean {
    return this.up_;
  }

  /** How it listens; undefined until the broker has been probed. */
  get mode(): LinkMode | undefined {
    return this.mode_;
  }

  /** Why the link is down, if it is and a reason is known (a TLS problem first). */
  get problem(): string | undefined {
    return this.up_ ? undefined : (this.tlsProblem ?? this.dropReason);
  }

  get tlsFailure(): string | undefined {
    return this.up_ ? undefined : this.tlsProblem;
  }

  /**
   * QoS 1, never retained; on MQTT 5 with a message expiry. Calls `done` with the outcome. What one
   * turn publishes leaves in one socket write (session.ts).
   */
  publishReply(topic: string, payload: Uint8Array, expirySeconds: number, done: (err?: Error) => void): void {
    const session = this.session;
    if (session === undefined || !session.isOpen) return done(new Error(`no connection to ${this.url}`));
    session.publish(topic, payload, 1, false, expirySeconds, done);
  }

  /** Publishes the owner's current status, retained, when connected; never throws. */
  async publishStatus(online: boolean, timeoutMs = 2000): Promise<void> {
    const mode = this.mode_;
    if (this.session?.isOpen !== true || mode === undefined || this.closed) return;
    await withTimeout(this.publishRetained(this.session, mode.statusTopic, this.hooks.statusBytes(this, online, false)), timeoutMs).catch(
      () => {},
    );
  }

  /**
   * Leaves `last` retained on the status topic (an empty payload clears it), disconnects cleanly (so
   * the Will is not sent) and stops trying; idempotent.
   */
  async close(last: (mode: LinkMode) => Uint8Array): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.settleFirst?.(new Error(`${this.url}: closed while connecting`));
    const session = this.session;
    if (session?.isOpen === true && this.mode_ !== undefined) {
      await withTimeout(this.publishRetained(session, this.mode_.statusTopic, last(this.mode_)), 2000).catch(() => {});
      await session.close();
    } else session?.destroy('closed');
    this.setUp(false);
  }

  /** Probes the broker (when the options need it), then connects; a failed probe is tried again. */
  private async probe(firstTry: boolean): Promise<void> {
    const o = this.options;
    let caps: BrokerCapabilities | undefined;
    if (o.protocolVersion === 'auto' || o.shareGroup !== null) {
      try {
        caps = await probeBroker(o.url, {
          timeoutMs: o.timeoutMs,
          ...(o.credential !== undefined ? { username: o.credential.username, password: o.credential.password } : {}),
          ...(o.tls !== undefined ? { tls: o.tls } : {}),
        });
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        if (this.closed) return;
        if (error instanceof MqttTlsError) {
          this.tlsProblem = error.message;
          this.hooks.tlsFailure(this, error);
        } else this.dropReason = error.message;
        if (firstTry) this.settle(error);
        else this.hooks.reconnecting(this, error.message);
        if (o.reconnectPeriodMs > 0) this.retryTimer = setTimeout(() => void this.probe(false), o.reconnectPeriodMs);
        return;
      }
    }
    if (this.closed) return;
    this.mode_ = linkMode(o, caps);
    const timer = setTimeout(
      () => this.settle(new Error(`hub ${o.hubId}: not connected and subscribed within ${o.timeoutMs} ms`)),
      o.timeoutMs,
    );
    void this.first.then(() => clearTimeout(timer));
    void this.connect(this.mode_);
  }

  /** One connection: CONNECT, subscribe, announce; when it fails or ends, the next try is scheduled. */
  private async connect(mode: LinkMode): Promise<void> {
    const o = this.options;
    const v5 = mode.protocol === 5;
    this.will ??= this.hooks.statusBytes(this, false, true);
    let session: MqttSession;
    try {
      session = await MqttSession.open(
        {
          address: this.address,
          ...(o.tls !== undefined ? { tls: o.tls } : {}),
          v5,
          clientId: o.clientId,
          keepaliveSeconds: KEEPALIVE_SECONDS,
          will: { topic: mode.statusTopic, payload: this.will, qos: 1, retain: true },
          ...(o.credential !== undefined
            ? { username: o.credential.username, password: new TextEncoder().encode(o.credential.password) }
            : {}),
          ...(v5 && o.receiveMaximum !== undefined ? { receiveMaximum: o.receiveMaximum } : {}),
          maximumPacketSize: o.maximumPacketSize,
          connectTimeoutMs: o.timeoutMs,
          onTlsFailure: (failure) => {
            this.tlsProblem = failure.message;
            this.hooks.tlsFailure(this, failure);
          },
        },
        {
          message: (topic, payload) => this.hooks.message(this, topic, payload),
          oversized: (topic, bytes) => this.hooks.oversized(this, topic, bytes),
          closed: (reason) => {
            this.dropReason ??= reason;
            this.session = undefined;
            this.setUp(false);
            this.retry(mode, o.reconnectPeriodMs);
          },
        },
      );
    } catch (err) {
      if (this.closed) return;
      const error = err instanceof Error ? err : new Error(String(err));
      if (error instanceof MqttRefusedError) {
        // Loud, not a silent reconnect loop: the owner counts and reports it; a refusal at start fails it.
        this.dropReason = error.message;
        this.hooks.refused(this, error.message);
        this.settle(new Error(`hub ${o.hubId}: the broker ${o.url} refused the connection: ${error.message}`));
        return this.retry(mode, REFUSED_RETRY_MS);
      }
      if (!(error instanceof MqttTlsError)) this.dropReason = error.message;
      return this.retry(mode, o.reconnectPeriodMs);
    }
    if (this.closed) return void session.destroy('closed');
    this.session = session;
    this.hooks.connected(this);
    this.tlsProblem = undefined;
    try {
      const granted = await session.subscribe(mode.subscriptionTopic);
      if (granted.some((code) => code >= 0x80)) throw new Error(`broker refused subscription ${mode.subscriptionTopic}`);
      await this.publishRetained(session, mode.statusTopic, this.hooks.statusBytes(this, true, false));
      if (!this.closed && session.isOpen) this.setUp(true);
    } catch (err) {
      // Connection dropped mid-way (the next connect retries) or the broker refused: stay down.
      this.dropReason = err instanceof Error ? err.message : String(err);
      this.setUp(false);
    }
  }

  private retry(mode: LinkMode, afterMs: number): void {
    if (this.closed || afterMs <= 0) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.closed) return;
      this.hooks.reconnecting(this, this.problem ?? 'no answer yet');
      void this.connect(mode);
    }, afterMs);
  }

  private publishRetained(session: MqttSession, topic: string, payload: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) =>
      session.publish(topic, payload, 1, true, undefined, (err) => (err === undefined ? resolve() : reject(err))),
    );
  }

  private setUp(up: boolean): void {
    if (this.up_ === up) return;
    this.up_ = up;
    if (up) {
      this.dropReason = undefined;
      this.settle(undefined);
      this.hooks.up(this);
    } else {
      this.dropReason ??= 'the connection closed';
      this.hooks.down(this, this.dropReason);
    }
  }

  private settle(err: Error | undefined): void {
    const settle = this.settleFirst;
    this.settleFirst = undefined;
    settle?.(err);
  }
}

/** The status fields that say how a process listens on one broker. */
export function describeMode(mode: LinkMode | undefined): Pick<HubStatus, 'subscription' | 'shareGroup' | 'protocol' | 'note'> {
  if (mode === undefined) return { subscription: 'plain', protocol: 4, note: 'broker not reached yet' };
  return {
    subscription: mode.subscription,
    ...(mode.shareGroup !== undefined ? { shareGroup: mode.shareGroup } : {}),
    protocol: mode.protocol,
    ...(mode.note !== undefined ? { note: mode.note } : {}),
  };
}

export function brokerState(link: BrokerLink, online: boolean): BrokerState {
  const mode = link.mode;
  const problem = online ? undefined : link.problem;
  return {
    url: link.url,
    online,
    ...(mode !== undefined ? { subscription: mode.subscription, protocol: mode.protocol } : {}),
    ...(problem !== undefined ? { problem } : {}),
  };
}

/** How a link listens given what its broker can do. */
function linkMode(o: BrokerLinkOptions, caps: BrokerCapabilities | undefined): LinkMode {
  const protocol: MqttProtocolVersion = o.protocolVersion === 'auto' ? (caps?.mqtt5 ? 5 : 4) : o.protocolVersion;
  const shared = o.shareGroup !== null && caps?.sharedSubscriptions === true;
  const note =
    o.shareGroup !== null && !shared
      ? 'broker delivers nothing to shared subscriptions: plain subscription, run one hub process per role'
      : undefined;
  return {
    protocol,
    subscription: shared ? 'shared' : 'plain',
    ...(shared && o.shareGroup !== null ? { shareGroup: o.shareGroup } : {}),
    ...(note !== undefined ? { note } : {}),
    subscriptionTopic: topics.hubRequestSubscription(o.hubId, shared && o.shareGroup !== null ? o.shareGroup : undefined),
    // Shared: several processes serve the hub id, and one crashed process must not mark the others offline.
    statusTopic: shared ? processStatusTopic(o.hubId, o.clientId) : topics.hubStatus(o.hubId),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
