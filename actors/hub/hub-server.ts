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
 * audit row on disk (commit-pump.ts; an asynchronous store, PostgreSQL, keeps one commit in flight).
 * A commit that finds another process holding the lock is retried shortly; one that fails drops
 * that batch's replies (the devices retry), counted. An in-memory store commits and answers each
 * decision at once.
 *
 * Nothing arriving from the broker can crash it: every message handler is wrapped and counted.
 *
 * Several brokers (docs/ARCHITECTURE.md §7, "Several brokers"): one `BrokerLink` per broker
 * (broker-link.ts), each probed, subscribed and announced on its own; a request's reply goes out on
 * the broker it came from (the device is connected there). The process is online while any link is
 * up; its status lists every broker. A broker down at start is a warning (`start` resolves once the
 * others have had their first try, the link keeps trying); all down fails `start`.
 *
 * TLS (docs/PROTOCOL.md §6.6): with an `mqtts://` URL the broker's certificate is verified against
 * `tls.ca`. A handshake failure at start (of the only broker) rejects `start` with MqttTlsError;
 * later ones (a broker certificate replaced by one we do not trust) are counted, emitted as
 * `tlsFailure` and shown in `status().connectionProblem` while the hub is offline — it keeps
 * retrying, never silently.
 */
import { deviceOfRequestTopic, topics } from '../../proto/index.ts';
import { parseBrokerUrl, type MqttProtocolVersion, type MqttTlsError, type MqttTlsOptions } from '../mqtt/index.ts';
import { BrokerLink, brokerState, describeMode, type BrokerLinkHooks, type LinkMode } from './broker-link.ts';
import type { HubDecision } from './decide.ts';
import { CommitPump } from './commit-pump.ts';
import { PendingBatch, type Decided } from './effects.ts';
import type { HubCore } from './hub-core.ts';
import { encodeHubStatus, type BrokerState, type HubStatus } from './status.ts';

export interface HubServerOptions {
  readonly core: HubCore;
  /** The broker to serve: the same as `brokers: [brokerUrl]`. */
  readonly brokerUrl?: string;
  /** The brokers to serve, each with its own connection (at least one, no repeats); with `brokerUrl`, it comes first. */
  readonly brokers?: readonly string[];
  /** For `mqtts://` brokers: the pinned CA (and optionally a client certificate), for every one. */
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
  /**
   * MQTT 5: requests the broker may have sent this process unacknowledged (default RECEIVE_MAXIMUM).
   * Past its answer rate a hub's backlog then stays in the broker's bounded queue, not in its socket.
   */
  readonly receiveMaximum?: number;
  /**
   * Most decisions waiting for a commit (default 4 × maxBatch). While a commit is slow (PostgreSQL
   * far away, another process holding SQLite's lock) requests past this are dropped undecided,
   * counted: the devices ask again, and the process's memory and its answers' age stay bounded.
   */
  readonly maxPending?: number;
  /** The hub's broker credential (username `hub@<hubId>`, docs/ARCHITECTURE.md §7.1), for the probe and the connection. */
  readonly credential?: { readonly username: string; readonly password: string };
}

export interface HubServerStats {
  readonly connects: number;
  readonly received: number;
  readonly replied: number;
  /** Messages on a topic other than one of our request topics (`…/request/<deviceId>`). */
  readonly ignored: number;
  /**
   * Requests larger than the hub takes (96 KiB), let go unread: an MQTT 3.1.1 broker cannot be told
   * the limit (on MQTT 5 the broker drops them instead).
   */
  readonly oversizedDrops: number;
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
  /** Requests dropped undecided because `maxPending` decisions were already waiting for a commit. */
  readonly backlogDrops: number;
  /** Replies withheld because another hub process had answered the same request (asynchronous stores). */
  readonly replayedDrops: number;
  /** CONNECTs the broker refused (bad credential, not authorized): each one is also a `refused` event. */
  readonly refusals: number;
  /** TLS handshakes with the broker that failed (untrusted or wrong certificate). */
  readonly tlsFailures: number;
}

type Events = {
  /** The first broker came up, or the last went down: the process answers, or cannot. */
  online: [];
  offline: [];
  /** A broker's link came up (connected, subscribed, status published): its URL. */
  connected: [string];
  /** A broker's connection dropped while up: why, as far as the client knows (for the log), and the broker's URL. */
  disconnected: [string, string];
  /** The client tries a broker again (every `reconnectPeriodMs` while it is away): why it is away, and the broker's URL. */
  reconnecting: [string, string];
  /** A committed decision, and the device whose request topic it arrived on (named even when the signer is unknown). */
  decision: [HubDecision, string | undefined];
  /** A broker refused our CONNECT: why, and the broker's URL. */
  refused: [string, string];
  tlsFailure: [MqttTlsError, string];
  /** A batch whose commit failed (its replies dropped): the error, and how many failed in a row. */
  commitFailure: [unknown, number];
};
type Listener<E extends keyof Events> = (...args: Events[E]) => void;

/**
 * Requests the broker may have in flight to one hub process (MQTT 5 Receive Maximum; MQTT.js would
 * ask for 65,535). Offered more than it can answer, a hub that takes everything decides requests
 * their devices have long replaced, and its replies queue behind them: measured, 6,000 requests/s
 * offered to one hub gave 0 useful tickets/s; with 256 here and Mosquitto's default queue (1,000
 * messages per client, beyond which it drops; devices retry) it answered 2,655 tickets/s, p99 0.94 s
 * (docs/ARCHITECTURE.md §7, "Overload"; bench/RESULTS.md).
 */
export const RECEIVE_MAXIMUM = 256;

/** Largest MQTT packet we accept on MQTT 5: a maximal request envelope plus topic and headers. */
const MAX_PACKET_BYTES = 96 * 1024;

export class HubServer {
  private readonly core: HubCore;
  /** One per broker, in the order given. */
  private readonly links: readonly BrokerLink[];
  private readonly maxBatch: number;
  private readonly maxPending: number;
  private readonly pending = new PendingBatch();
  private turnOpen = false;
  private readonly pump: CommitPump;
  private readonly clock: () => number;
  private readonly listeners: { [E in keyof Events]: Set<Listener<E>> } = {
    online: new Set(),
    offline: new Set(),
    connected: new Set(),
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
  private online_ = false;
  private stopped = false;
  private readonly counts = {
    connects: 0,
    received: 0,
    replied: 0,
    ignored: 0,
    oversizedDrops: 0,
    publishFailures: 0,
    handlerFailures: 0,
    commits: 0,
    commitFailures: 0,
    uncommittedDrops: 0,
    notReadyDrops: 0,
    backlogDrops: 0,
    replayedDrops: 0,
    refusals: 0,
    tlsFailures: 0,
  };
  private lastRefusal: string | undefined;
  /** The request topic's device of each decision still pending (a refused signer names no device itself). */
  private readonly topicDevices = new WeakMap<HubDecision, string>();
  /** The broker each pending decision's request came on: its reply goes out there. */
  private readonly replyLinks = new WeakMap<HubDecision, BrokerLink>();
  /** Brokers that could not be reached at start (the process started on the others), and why. */
  private readonly startProblems_: { readonly url: string; readonly problem: string }[] = [];

  /**
   * Probes each broker as needed, connects, subscribes and publishes the online status on each.
   * Resolves once every broker has had its first try and at least one is up; rejects (closing the
   * others) when none is.
   */
  static async start(options: HubServerOptions): Promise<HubServer> {
    topics.hubRequestBase(options.hubId); // throws TopicError for a bad hub id
    const urls = brokerList(options);
    const wanted = options.shareGroup === undefined || options.shareGroup === 'auto' ? options.hubId : options.shareGroup;
    if (wanted !== null) topics.hubRequestSubscription(options.hubId, wanted); // a bad group name fails now, not on fallback
    const role = options.core.role;
    const server = new HubServer(options, urls, wanted, {
      hubId: options.hubId,
      role: role.kind,
      ...(role.kind === 'sh' ? { service: role.service } : {}),
      clientId: `hub-${options.hubId.slice(0, 40)}-${randomHex(4)}`,
    });
    const failures = await Promise.all(server.links.map((l) => l.firstAttempt()));
    if (server.links.some((l) => l.up)) {
      failures.forEach((err, i) => {
        if (err !== undefined) server.startProblems_.push({ url: urls[i]!, problem: err.message });
      });
      return server;
    }
    await server.stop();
    if (failures.length === 1 && failures[0] !== undefined) throw failures[0];
    throw new Error(
      `hub ${options.hubId}: no broker reachable: ${failures.map((err, i) => `${urls[i]}: ${err?.message ?? 'went down'}`).join('; ')}`,
    );
  }

  private constructor(
    options: HubServerOptions,
    urls: readonly string[],
    wanted: string | null,
    private readonly base: Pick<HubStatus, 'hubId' | 'role' | 'service' | 'clientId'>,
  ) {
    this.core = options.core;
    this.maxBatch = Math.max(1, Math.floor(options.maxBatch ?? 512));
    this.maxPending = Math.max(this.maxBatch, Math.floor(options.maxPending ?? 4 * this.maxBatch));
    this.clock = options.clock ?? Date.now;
    this.pump = new CommitPump(
      options.core.store,
      this.pending,
      { committed: (batch, replayed) => this.committed(batch, replayed), failed: (err, lost) => this.commitFailed(err, lost) },
      () => this.stopped,
    );
    const hooks: BrokerLinkHooks = {
      statusBytes: (link, online, will) => this.statusBytes(link, online, will),
      message: (link, topic, payload) => this.onMessage(link, topic, payload),
      oversized: () => void this.counts.oversizedDrops++,
      connected: () => void this.counts.connects++,
      up: (link) => this.linkChanged(link),
      down: (link, reason) => {
        if (!this.stopped) this.emit('disconnected', reason, link.url);
        this.linkChanged(link);
      },
      reconnecting: (link, reason) => {
        if (!this.stopped) this.emit('reconnecting', reason, link.url);
      },
      // Loud, not a silent reconnect loop: counted, kept for `refusal`, and an event the CLI logs.
      refused: (link, reason) => {
        this.counts.refusals++;
        this.lastRefusal = reason;
        this.emit('refused', reason, link.url);
      },
      tlsFailure: (link, failure) => {
        this.counts.tlsFailures++;
        this.emit('tlsFailure', failure, link.url);
      },
    };
    this.links = urls.map(
      (url) =>
        new BrokerLink(
          {
            url,
            hubId: options.hubId,
            clientId: base.clientId,
            shareGroup: wanted,
            protocolVersion: options.protocolVersion ?? 'auto',
            reconnectPeriodMs: options.reconnectPeriodMs ?? 1000,
            timeoutMs: options.startTimeoutMs ?? 10_000,
            maximumPacketSize: MAX_PACKET_BYTES,
            receiveMaximum: options.receiveMaximum ?? RECEIVE_MAXIMUM,
            ...(options.tls !== undefined ? { tls: options.tls } : {}),
            ...(options.credential !== undefined ? { credential: options.credential } : {}),
          },
          hooks,
        ),
    );
  }

  /** What this process publishes as its status (online as currently known; offline, why if TLS failed). */
  status(): HubStatus {
    const tls = this.online_ ? undefined : this.links.find((l) => l.tlsFailure !== undefined)?.tlsFailure;
    return {
      ...this.base,
      ...describeMode(this.primary.mode),
      online: this.online_,
      ...this.readiness(),
      brokers: this.brokers(),
      atMs: this.clock(),
      ...(tls !== undefined ? { connectionProblem: tls } : {}),
    };
  }

  /** Each broker as this process sees it, in the order given. */
  brokers(): BrokerState[] {
    return this.links.map((l) => brokerState(l, l.up));
  }

  /** Brokers that could not be reached at start (the process started on the others), and why. */
  get startProblems(): readonly { readonly url: string; readonly problem: string }[] {
    return this.startProblems_;
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
    if (!this.stopped) await Promise.all(this.links.map((l) => l.publishStatus(l.up)));
  }

  /**
   * The problem behind `notReady` went away (a PostgreSQL store whose server is back): answer again
   * and publish a ready status. Only for problems that can pass; a damaged SQLite file never does.
   */
  async recovered(): Promise<void> {
    if (this.problem === undefined) return;
    this.problem = undefined;
    this.failuresInRow = 0;
    if (!this.stopped) await Promise.all(this.links.map((l) => l.publishStatus(l.up)));
  }

  /** Why this process declared itself not ready, if it did. */
  get notReadyProblem(): string | undefined {
    return this.problem;
  }

  stats(): HubServerStats {
    return { ...this.counts, commitRetries: this.pump.retries };
  }

  get online(): boolean {
    return this.online_;
  }

  /** True from the moment `stop` is called: going offline then is no fault. */
  get stopping(): boolean {
    return this.stopped;
  }

  /** While offline: what keeps it from its brokers (the first broker's last connection error), if known. */
  get connectionError(): string | undefined {
    return this.online_ ? undefined : this.links.find((l) => l.problem !== undefined)?.problem;
  }

  /** Why the broker last refused our CONNECT, if it ever did. */
  get refusal(): string | undefined {
    return this.lastRefusal;
  }

  /** Where this process publishes its retained status and Will (on the first broker up; the same on all alike brokers). */
  get statusTopic(): string {
    return this.primary.mode?.statusTopic ?? topics.hubStatus(this.base.hubId);
  }

  /** The subscription actually made (`$share/<group>/...` or the plain request topic), on the first broker up. */
  get subscription(): string {
    return this.primary.mode?.subscriptionTopic ?? topics.hubRequestSubscription(this.base.hubId);
  }

  on<E extends keyof Events>(event: E, listener: Listener<E>): () => void {
    this.listeners[event].add(listener);
    return () => void this.listeners[event].delete(listener);
  }

  /**
   * Commits and answers what is pending, publishes the offline status (per-process: clears it) and
   * disconnects cleanly (so the Will is not sent) on every broker; idempotent.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    await this.pump.drain();
    this.stopped = true;
    await Promise.all(this.links.map((l) => l.close((mode) => this.lastStatus(l, mode))));
    this.setOnline(false);
  }

  private onMessage(link: BrokerLink, topic: string, payload: Buffer): void {
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
      if (this.pending.size >= this.maxPending) {
        this.counts.backlogDrops++;
        return;
      }
      this.beginTurn();
      const { decision } = this.core.handle(payload, this.clock(), this.pending, topicDevice);
      this.topicDevices.set(decision, topicDevice);
      this.replyLinks.set(decision, link);
      if (!this.core.store.batched || this.pending.size >= this.maxBatch) this.pump.flush();
    } catch {
      this.counts.handlerFailures++;
    }
  }

  /**
   * The first message of an event-loop turn schedules the turn's end (setImmediate runs after every
   * message already parsed from the socket): the batch is committed and its replies published there.
   * The links' sessions gather what a turn writes (PUBACKs, replies) into one socket write each.
   */
  private beginTurn(): void {
    if (this.turnOpen) return;
    this.turnOpen = true;
    setImmediate(() => {
      this.turnOpen = false;
      this.pump.flush();
    });
  }

  /** A batch the store committed: answer it (all but what another process had answered). */
  private committed(batch: readonly Decided[], replayed: ReadonlySet<number>): void {
    this.counts.commits++;
    this.failuresInRow = 0;
    batch.forEach(({ decision }, i) => {
      if (replayed.has(i)) return void this.counts.replayedDrops++;
      if (decision.reply !== undefined && !this.stopped)
        this.publishReply(decision, decision.reply.topic, decision.reply.payload, decision.reply.expirySeconds);
      this.emit('decision', decision, this.topicDevices.get(decision));
    });
  }

  /** A batch the store could not commit: its replies never go out (the devices retry). */
  private commitFailed(err: unknown, lost: readonly Decided[]): void {
    this.counts.commitFailures++;
    this.counts.uncommittedDrops += lost.filter((d) => d.decision.reply !== undefined).length;
    this.emit('commitFailure', err, ++this.failuresInRow);
  }

  /** On the broker the request came on: the device is connected there. */
  private publishReply(decision: HubDecision, topic: string, payload: Uint8Array, expirySeconds: number): void {
    const link = this.replyLinks.get(decision) ?? this.primary;
    link.publishReply(topic, payload, expirySeconds, (err) => {
      if (err) this.counts.publishFailures++;
      else this.counts.replied++;
    });
  }

  /** The first broker up, else the first probed, else the first: what `status()` describes. */
  private get primary(): BrokerLink {
    return this.links.find((l) => l.up) ?? this.links.find((l) => l.mode !== undefined) ?? this.links[0]!;
  }

  /**
   * The status published on `link`: how the process listens there, online as given, readiness, and
   * (not in the Will, registered once per connection and so stale by the time it is sent) every broker.
   */
  private statusBytes(link: BrokerLink, online: boolean, will: boolean): Uint8Array {
    const brokers = will ? {} : { brokers: this.links.map((l) => brokerState(l, l === link ? online : l.up)) };
    return encodeHubStatus({ ...this.base, ...describeMode(link.mode), online, ...this.readiness(), ...brokers, atMs: this.clock() });
  }

  /** At a clean stop: a per-process topic is cleared, unless not ready (its reason stays retained). */
  private lastStatus(link: BrokerLink, mode: LinkMode): Uint8Array {
    return mode.subscription === 'shared' && this.problem === undefined ? new Uint8Array(0) : this.statusBytes(link, false, false);
  }

  /**
   * A link came up or went down: the process's online state, and every up broker's status, follow.
   * The link that came up too: its own status went out while it connected, computed before any
   * other link that came up meanwhile (two links connecting at once would each keep a stale list).
   */
  private linkChanged(link: BrokerLink): void {
    if (link.up) this.emit('connected', link.url);
    this.setOnline(this.links.some((l) => l.up));
    if (!this.stopped) for (const l of this.links) if (l.up) void l.publishStatus(true);
  }

  private readiness(): { ready: boolean; problem?: string } {
    return this.problem === undefined ? { ready: true } : { ready: false, problem: this.problem };
  }

  private setOnline(online: boolean): void {
    if (this.online_ === online) return;
    this.online_ = online;
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
}

/** The brokers to serve: `brokerUrl` first, then `brokers`; at least one, each a broker URL, none twice. */
function brokerList(options: HubServerOptions): string[] {
  const urls = [...(options.brokerUrl !== undefined ? [options.brokerUrl] : []), ...(options.brokers ?? [])];
  if (urls.length === 0) throw new Error(`hub ${options.hubId}: no broker given`);
  const seen = new Set<string>();
  for (const url of urls) {
    const a = parseBrokerUrl(url); // throws MqttUrlError for a bad one
    // One client id on every broker: the same broker twice would have its two connections take each other over.
    const key = `${a.host}:${a.port}`;
    if (seen.has(key)) throw new Error(`hub ${options.hubId}: broker ${url} given twice`);
    seen.add(key);
  }
  return urls;
}

function randomHex(bytes: number): string {
  return Buffer.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
}
