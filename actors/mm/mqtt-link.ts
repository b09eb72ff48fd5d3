/**
 * `mm`'s real uplink: MQTT (3.1.1 or 5), QoS 1, TCP_NODELAY on every socket (actors/mqtt), in TLS
 * with the provisioned broker CA pinned for an `mqtts://` URL (docs/PROTOCOL.md §6.6). It
 * subscribes to its device's reply topics and its services' inbound topics, publishes requests to
 * its own request topics (`…/hub/<hubId>/request/<deviceId>`), and reconnects by itself; the
 * receiver hears about every up and down.
 *
 * It connects with the device's broker credential (docs/ARCHITECTURE.md §7.1): an access credential
 * for the device's own topics, not a signing key — mm still holds nothing that signs. It logs on
 * stderr (docs/ARCHITECTURE.md §7.3; stdout of a domain process carries events): connected, lost
 * (with the reason), restored, and an unreachable broker as a rate-limited warning while it retries.
 * A refused CONNECT is counted and logged (rate-limited), then retried every 30 s, not in a silent
 * loop. A TLS handshake failure (wrong CA, wrong host, not a TLS listener) is counted and logged
 * once per distinct failure: it keeps retrying, as the broker may be fixed, but never in silence.
 *
 * With backup brokers it fails over (docs/ARCHITECTURE.md §7.4; failover.ts decides when): a
 * connection not up within `failoverMs` is dropped — with whatever it still queued, so no service
 * backlog precedes the ticket requests on the next broker — and one to the next broker opened. On a
 * backup it probes the primary every `probeEveryMs` with a second connection, subscribed before it
 * carries anything, and promotes it; the backup connection lingers `lingerMs` for late replies. A
 * broker that keeps the connection open but answers nothing is found silent (silence.ts: a request
 * owed its PUBACK for `failoverMs`, nothing heard meanwhile) and left at once.
 *
 * It speaks MQTT 5 where the broker does and MQTT 3.1.1 where it refuses 5 (Aedes), and on MQTT 5
 * a ticket request expires after one ticket interval (docs/PROTOCOL.md §6): by then the device has
 * sent the next one, so a broker holding it for an absent hub drops it instead.
 */
import { connectMqtt, parseBrokerUrl, toBuffer, type MqttClient, type MqttProtocolVersion } from '../mqtt/index.ts';
import type { IClientPublishOptions } from 'mqtt';
import { instanceOfReplyTopic, laneOf, MAX_WIRE_BYTES, topics } from '../../proto/index.ts';
import type { HubLink, HubLinkSink, RequestKind } from './hub-link.ts';
import { Logger, type LogSettings } from '../log/index.ts';
import { RealClock, type Clock, type ClockHandle } from '../../runtime/index.ts';
import { DEFAULT_PROBE_EVERY_MS, FailoverPlan } from './failover.ts';
import { SilenceWatch } from './silence.ts';

export interface MqttLinkOptions {
  /** The primary broker (the provisioning file's first). */
  readonly url: string;
  /**
   * The backup brokers, in the provisioning file's order after the primary (docs/ARCHITECTURE.md
   * §7.4). They share `ca`, `servername` and the credential with the primary.
   */
  readonly backups?: readonly string[];
  /** Not up on the current broker for this long: move to the next (installMm gives I/2; default 5 s). */
  readonly failoverMs?: number;
  /** On a backup, try the primary again this often (default 30 s). */
  readonly probeEveryMs?: number;
  /** After a switch back, keep the backup connection this long for replies already on their way (default 5 s). */
  readonly lingerMs?: number;
  readonly deviceId: string;
  readonly services: readonly string[];
  /**
   * The ticket interval (installMm gives the board's): on MQTT 5 a request expires after it, in whole
   * seconds (at least 1), and the keep-alive is derived from it (`mmKeepaliveSeconds`). Without it,
   * requests do not expire and the keep-alive is 60 s.
   */
  readonly intervalMs?: number;
  /** Default `'auto'`: MQTT 5, or MQTT 3.1.1 on a broker that refuses 5 (actors/mqtt/connect.ts). */
  readonly protocolVersion?: MqttProtocolVersion | 'auto';
  /**
   * For an `mqtts://` URL: the broker's CA certificate(s), PEM text (the provisioning file's
   * `brokerCa`; text, not a path, so it travels in a domain process's bootstrap). Without it the
   * system's CA store is used.
   */
  readonly ca?: string;
  /** The name the broker's certificate must carry; default the URL's host. */
  readonly servername?: string;
  /** Inbound messages larger than this are dropped unread (a reply envelope is ~0.3 KB). */
  readonly maxInboundBytes?: number;
  /**
   * Service payload bytes handed to MQTT.js and not yet acknowledged by the broker (PUBACK) at most;
   * past it `publishService` refuses (default 1 MiB). Bounds what a fast service can queue in `mm`.
   */
  readonly maxServiceInflightBytes?: number;
  /** The device's broker account (username = device id); absent on a broker without authentication. */
  readonly username?: string;
  readonly password?: string;
  /** How mm logs (data: it travels in a domain process's bootstrap); default problems only (`warn`), format by terminal. */
  readonly log?: LogSettings;
}

export interface MqttLinkCounters {
  published: number;
  publishFailed: number;
  received: number;
  droppedOversized: number;
  droppedUnrouted: number;
  connects: number;
  /** Service publishes refused because `maxServiceInflightBytes` were unacknowledged. */
  serviceRefused: number;
  /** CONNECTs the broker refused (bad or revoked credential). */
  connectRefused: number;
  /** TLS handshakes that failed (untrusted or wrong certificate, not a TLS listener). */
  tlsFailures: number;
  /** Moves to the next broker (docs/ARCHITECTURE.md §7.4). */
  failovers: number;
  /** Returns to the primary from a backup. */
  switchBacks: number;
  /** Connections to the primary opened from a backup to see whether it is back. */
  probes: number;
  /**
   * Times the current broker was found silent — connection open, a request owed its PUBACK for
   * `failoverMs` and nothing heard (docs/ARCHITECTURE.md §7.4); each is also a failover.
   */
  silences: number;
}

/**
 * mm's MQTT keep-alive for ticket interval `intervalMs`: one interval in whole seconds, at least 5,
 * at most 60. MQTT.js pings after a keep-alive with nothing received and gives up half a keep-alive
 * later, so an idle link (no request owed a PUBACK) notices a silent broker within 1.5 × that; the
 * floor keeps a loaded machine's event-loop stalls from passing for a dead broker.
 */
export function mmKeepaliveSeconds(intervalMs: number): number {
  return Math.min(60, Math.max(5, Math.ceil(intervalMs / 1000)));
}

/** A ticket request's MQTT 5 Message Expiry Interval: the ticket interval in whole seconds, at least 1. */
export function requestExpirySeconds(intervalMs: number): number {
  return Math.max(1, Math.floor(intervalMs / 1000));
}

/** One MQTT.js client: the link's connection to one broker (or a probe of the primary). */
interface Connection {
  readonly client: MqttClient;
  readonly index: number;
  readonly url: string;
  /** Subscribed: replies can arrive and requests can go. */
  up: boolean;
  /** Was up before: up again is "restored". */
  everUp: boolean;
  /** Why the broker is out of reach, for the log. */
  lastError: string | undefined;
  /** Settles each service publish still unacknowledged on this connection (run once, when dropped). */
  readonly unsettled: Set<() => void>;
}

export class MqttHubLink implements HubLink {
  readonly counters: MqttLinkCounters = {
    published: 0,
    publishFailed: 0,
    received: 0,
    droppedOversized: 0,
    droppedUnrouted: 0,
    connects: 0,
    serviceRefused: 0,
    connectRefused: 0,
    tlsFailures: 0,
    failovers: 0,
    switchBacks: 0,
    probes: 0,
    silences: 0,
  };
  /** The most recent TLS failure, as said on stderr (said again only when it changes). */
  lastTlsFailure: string | undefined;
  /** The connection requests go on. */
  private main: Connection | null = null;
  /** A connection to the primary opened from a backup, not yet promoted. */
  private candidate: Connection | null = null;
  /** Backup connections kept a little after a switch back, for replies already on their way. */
  private readonly lingering = new Map<Connection, ClockHandle>();
  private readonly brokers: readonly string[];
  private readonly plan: FailoverPlan;
  /** Whether the current broker has gone silent; only with a backup to move to (a lone broker is left to keep-alive). */
  private readonly silence: SilenceWatch | undefined;
  private readonly failoverMs: number;
  private readonly ticketRequestOptions: IClientPublishOptions;
  private readonly serviceTopics: Map<string, string>;
  private readonly maxServiceInflight: number;
  /** Service payload bytes published and not yet acknowledged (or failed). */
  private serviceInflight = 0;
  /** A service publish was refused since the sink last heard `writable`. */
  private refusedSince = false;
  private sink: HubLinkSink | null = null;
  /** The link failed over away from the primary and is not back on it yet. */
  private offPrimary = false;
  private readonly log: Logger;

  /**
   * `logger`: where to log instead of the one `o.log` describes (tests, in-process hosts). `clock`:
   * the failover's timers (a ManualClock in tests); default real time. Throws MqttUrlError for a
   * broker URL that is not one.
   */
  constructor(
    private readonly o: MqttLinkOptions,
    logger?: Logger,
    private readonly clock: Clock = new RealClock(),
  ) {
    this.log = logger ?? Logger.create({ level: 'warn', ...o.log, component: `mm ${o.deviceId}` });
    this.serviceTopics = new Map(o.services.map((s) => [topics.serviceIn(o.deviceId, s), s]));
    this.maxServiceInflight = o.maxServiceInflightBytes ?? 1024 * 1024;
    this.brokers = [o.url, ...(o.backups ?? [])];
    for (const url of this.brokers) parseBrokerUrl(url);
    this.failoverMs = o.failoverMs ?? 5000;
    this.plan = new FailoverPlan({
      brokers: this.brokers.length,
      failoverMs: this.failoverMs,
      probeEveryMs: o.probeEveryMs ?? DEFAULT_PROBE_EVERY_MS,
      clock,
      actions: { failover: (from, to, reason) => this.failover(from, to, reason), probe: () => this.probe() },
    });
    // The threshold is failoverMs, the time a lost connection gets to come back before the link
    // leaves: a live broker answers a PUBACK in milliseconds, and failoverMs is at least 100 ms (by
    // default I/2, seconds on real boards), so only a broker that has stopped serving us waits it out.
    // Anything heard restarts the wait (silence.ts), so a link busy with service data does not flap.
    this.silence =
      this.brokers.length < 2
        ? undefined
        : new SilenceWatch({ clock, silentMs: this.failoverMs, silent: (waitedMs) => this.silent(waitedMs) });
    this.ticketRequestOptions =
      o.intervalMs === undefined
        ? LANE_REQUEST_OPTIONS
        : { qos: 1, retain: false, properties: { messageExpiryInterval: requestExpirySeconds(o.intervalMs) } };
  }

  /** Requests on the current broker still owed their PUBACK (0 without backup brokers: nothing is watched). */
  get owedPubacks(): number {
    return this.silence?.owedCount ?? 0;
  }

  /** Service payload bytes published and not yet acknowledged by the broker. */
  get serviceInflightBytes(): number {
    return this.serviceInflight;
  }

  /** The broker requests go to now. */
  get currentBroker(): string {
    return this.main?.url ?? this.brokers[this.plan.current]!;
  }

  start(sink: HubLinkSink): void {
    this.sink = sink;
    this.main = this.open(0, false);
    this.plan.opened();
  }

  publishRequest(hubId: string, envelope: Uint8Array, kind: RequestKind = 'lane'): void {
    const c = this.main;
    // Only a request written on a connection that is up is owed a PUBACK; one queued while down is
    // the lost-connection timer's business.
    const watch = c !== null && c.up ? this.silence : undefined;
    const token = watch?.sent();
    const options = kind === 'ticket' ? this.ticketRequestOptions : LANE_REQUEST_OPTIONS;
    this.publish(topics.hubRequest(hubId, this.o.deviceId), envelope, options, () => {
      if (token !== undefined) watch?.acked(token);
    });
  }

  publishService(service: string, stream: string, payload: Uint8Array): boolean {
    if (this.serviceInflight > 0 && this.serviceInflight + payload.length > this.maxServiceInflight) {
      this.counters.serviceRefused++;
      this.refusedSince = true;
      return false;
    }
    const bytes = payload.length;
    this.serviceInflight += bytes;
    this.publish(topics.serviceOut(service, this.o.deviceId, stream), payload, SERVICE_OPTIONS, () => {
      this.serviceInflight -= bytes;
      // Room again once half the budget is free: services resume without flapping at the edge.
      if (this.refusedSince && this.serviceInflight <= this.maxServiceInflight / 2) {
        this.refusedSince = false;
        this.sink?.writable();
      }
    });
    return true;
  }

  close(): void {
    const all = [this.main, this.candidate, ...this.lingering.keys()];
    this.main = null;
    this.candidate = null;
    for (const handle of this.lingering.values()) this.clock.cancel(handle);
    this.lingering.clear();
    this.plan.close();
    this.silence?.close();
    this.sink = null;
    this.log.close();
    for (const c of all) if (c !== null) this.drop(c);
  }

  /** Opens a connection to broker `index`: the link's own (`probe` false) or a one-shot probe of the primary. */
  private open(index: number, probe: boolean): Connection {
    const url = this.brokers[index]!;
    // The pin is for TLS brokers; a plain (loopback) one in the list has nothing to pin.
    const tls = parseBrokerUrl(url).tls
      ? {
          ...(this.o.ca !== undefined ? { ca: this.o.ca } : {}),
          ...(this.o.servername !== undefined ? { servername: this.o.servername } : {}),
        }
      : {};
    let conn: Connection | undefined;
    const client = connectMqtt(url, {
      protocolVersion: this.o.protocolVersion ?? 'auto',
      keepaliveSeconds: this.o.intervalMs === undefined ? 60 : mmKeepaliveSeconds(this.o.intervalMs),
      clientId: `dominion-mm-${this.o.deviceId}-${randomSuffix()}`,
      ...(this.o.username !== undefined ? { username: this.o.username } : {}),
      ...(this.o.password !== undefined ? { password: this.o.password } : {}),
      ...(Object.keys(tls).length > 0 ? { tls } : {}),
      // A probe is one attempt, given as long as a failover gives a broker.
      ...(probe ? { reconnectPeriodMs: 0, connectTimeoutMs: this.failoverMs } : {}),
      onTlsFailure: (failure) => {
        this.counters.tlsFailures++;
        if (conn !== undefined) conn.lastError = failure.message;
        if (failure.message === this.lastTlsFailure) return;
        this.lastTlsFailure = failure.message;
        this.log.error('TLS handshake with the broker failed; retrying', { broker: url, reason: failure.message });
      },
      onSocketError: (err) => void (conn !== undefined && (conn.lastError = err.message)),
      onRefused: (reason) => {
        this.counters.connectRefused++;
        if (conn !== undefined) conn.lastError = `refused: ${reason}`;
        this.log.limited('broker-refused', 'error', 'the broker refused the connection; retrying in 30 s', { broker: url, reason });
      },
    });
    const c: Connection = { client, index, url, up: false, everUp: false, lastError: undefined, unsettled: new Set() };
    conn = c;
    const max = this.o.maxInboundBytes ?? 8 * 1024;
    // Image chunks are the one large thing a hub sends: a chunk envelope up to the envelope limit.
    const maxChunk = Math.max(max, MAX_WIRE_BYTES.signedEnvelope);
    client.on('error', (err) => void (c.lastError = err.message));
    client.on('reconnect', () => {
      if (this.main !== c) return;
      const reason = c.lastError ?? 'no answer yet';
      this.plan.attemptFailed(reason);
      this.log.limited('broker-unreachable', 'warn', 'broker unreachable; still reconnecting', { broker: url, reason });
    });
    client.on('connect', () => {
      if (this.main !== c && this.candidate !== c) return; // a lingering connection: it only drains
      this.counters.connects++;
      this.lastTlsFailure = undefined;
      // Subscribed before anything goes on it: a reply to a request sent here can always come back.
      client.subscribe([topics.replySubscription(this.o.deviceId), ...this.serviceTopics.keys()], { qos: 1 }, () => {
        c.up = true;
        c.lastError = undefined;
        if (this.candidate === c) return this.promote(c);
        if (this.main !== c) return;
        this.silence?.reset();
        if (index === 0 && this.offPrimary) {
          this.offPrimary = false;
          this.counters.switchBacks++;
          this.log.info(`back on primary ${url}`, { broker: url });
        } else this.log.info(c.everUp ? 'broker connection restored' : 'broker connected', { broker: url });
        c.everUp = true;
        this.plan.connected();
        this.sink?.connection(true);
      });
    });
    const down = (): void => {
      if (this.candidate === c) {
        // The primary is still out of reach (or went again before it was promoted): stay, probe later.
        this.candidate = null;
        this.drop(c);
        this.plan.probeFailed();
        return;
      }
      if (!c.up) return;
      c.up = false;
      if (this.main !== c) return;
      const reason = c.lastError ?? 'the connection closed';
      this.silence?.reset();
      this.log.warn('broker connection lost; reconnecting', { broker: url, reason });
      this.plan.lost(reason);
      this.sink?.connection(false);
    };
    client.on('close', down);
    client.on('offline', down);
    // Any packet from the broker proves it alive (silence.ts).
    client.on('packetreceive', () => void (this.main === c && this.silence?.heard()));
    client.on('message', (topic, payload) => {
      this.counters.received++;
      const sink = this.sink;
      if (sink === null) return;
      const instance = instanceOfReplyTopic(topic, this.o.deviceId);
      if (payload.length > (instance !== undefined && laneOf(instance)?.kind === 'image' ? maxChunk : max)) {
        this.counters.droppedOversized++;
        return;
      }
      const bytes = new Uint8Array(payload.buffer, payload.byteOffset, payload.length).slice();
      if (instance !== undefined) return sink.reply(instance, bytes);
      const service = this.serviceTopics.get(topic);
      if (service !== undefined) return sink.service(service, bytes);
      this.counters.droppedUnrouted++;
    });
    return c;
  }

  /** The failover plan's move: drop the current connection (and its queue) and open one to broker `to`. */
  private failover(from: number, to: number, reason: string): void {
    if (this.sink === null) return;
    this.counters.failovers++;
    const fromUrl = this.brokers[from]!;
    const toUrl = this.brokers[to]!;
    this.log.warn(`failing over from ${fromUrl} to ${toUrl} (${reason})`, { broker: toUrl, from: fromUrl, reason });
    if (from === 0) this.offPrimary = true;
    const probing = this.candidate;
    this.candidate = null;
    if (probing !== null) this.drop(probing);
    const old = this.main;
    // Its unsent requests and service data go with it: the receiver asks again on the new broker,
    // and no service backlog is replayed ahead of those requests.
    if (old !== null) this.drop(old);
    this.silence?.reset();
    this.main = this.open(to, false);
    this.plan.opened();
  }

  /** The current broker is silent (silence.ts): count it, tell the receiver the link is down, move on. */
  private silent(waitedMs: number): void {
    const c = this.main;
    if (this.sink === null || c === null || !c.up) return;
    if (!this.plan.silent(`broker silent: no PUBACK for ${waitedMs} ms`)) return;
    this.counters.silences++;
    // The failover dropped it; the receiver asks again once the next broker is up.
    this.sink.connection(false);
  }

  /** On a backup: a second connection to the primary, promoted once it is subscribed. */
  private probe(): void {
    if (this.sink === null || this.candidate !== null) return;
    this.counters.probes++;
    this.candidate = this.open(0, true);
  }

  /** The primary's connection is subscribed: requests go there from now on (docs/ARCHITECTURE.md §7.4). */
  private promote(c: Connection): void {
    const old = this.main;
    this.candidate = null;
    this.main = c;
    this.silence?.reset();
    // It stays: reconnecting as any main connection does.
    c.client.options.reconnectPeriod = 1000;
    this.offPrimary = false;
    this.counters.switchBacks++;
    this.log.info(`back on primary ${c.url}`, { broker: c.url, from: old?.url });
    this.plan.probeUp();
    if (old !== null) {
      const wasUp = old.up;
      old.client.options.reconnectPeriod = 0;
      this.lingering.set(
        old,
        this.clock.schedule(this.clock.now() + (this.o.lingerMs ?? 5000), () => {
          this.lingering.delete(old);
          this.drop(old);
        }),
      );
      // The backup had gone down meanwhile: the receiver heard so, and now hears the link is back.
      if (!wasUp) this.sink?.connection(true);
    }
  }

  /** Ends a connection at once; whatever it still held unacknowledged counts as failed. */
  private drop(c: Connection): void {
    c.up = false;
    // Ended means ended: MQTT.js would otherwise reconnect once a socket still connecting opens.
    c.client.options.reconnectPeriod = 0;
    c.client.end(true);
    c.client.stream?.destroy();
    for (const settle of [...c.unsettled]) settle();
  }

  /** `settled` runs once: when the broker acknowledged the message, MQTT.js gave up on it, or its connection was dropped. */
  private publish(topic: string, payload: Uint8Array, options: IClientPublishOptions, settled?: () => void): void {
    const c = this.main;
    if (c === null) {
      this.counters.publishFailed++;
      settled?.();
      return;
    }
    let done = false;
    const settle = (failed: boolean): void => {
      if (done) return;
      done = true;
      c.unsettled.delete(dropped);
      if (failed) this.counters.publishFailed++;
      else this.counters.published++;
      settled?.();
    };
    const dropped = (): void => settle(true);
    c.unsettled.add(dropped);
    c.client.publish(topic, toBuffer(payload), options, (err) => settle(err !== undefined && err !== null));
  }
}

/** Service data: QoS 1, no expiry (a sealed record is kept until delivered; docs/PROTOCOL.md §14). */
const SERVICE_OPTIONS: IClientPublishOptions = { qos: 1, retain: false };
/** Boot and image requests: QoS 1, no expiry (the asking domain times out and asks again by itself). */
const LANE_REQUEST_OPTIONS: IClientPublishOptions = { qos: 1, retain: false };

function randomSuffix(): string {
  return Math.floor(Math.random() * 0xffffff).toString(16);
}
