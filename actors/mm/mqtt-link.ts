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
 */
import { connectMqtt, toBuffer, type MqttClient, type MqttProtocolVersion } from '../mqtt/index.ts';
import { instanceOfReplyTopic, laneOf, MAX_WIRE_BYTES, topics } from '../../proto/index.ts';
import type { HubLink, HubLinkSink } from './hub-link.ts';
import { Logger, type LogSettings } from '../log/index.ts';

export interface MqttLinkOptions {
  readonly url: string;
  readonly deviceId: string;
  readonly services: readonly string[];
  readonly protocolVersion?: MqttProtocolVersion;
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
  };
  /** The most recent TLS failure, as said on stderr (said again only when it changes). */
  lastTlsFailure: string | undefined;
  private client: MqttClient | null = null;
  private readonly serviceTopics: Map<string, string>;
  private readonly maxServiceInflight: number;
  /** Service payload bytes published and not yet acknowledged (or failed). */
  private serviceInflight = 0;
  /** A service publish was refused since the sink last heard `writable`. */
  private refusedSince = false;
  private sink: HubLinkSink | null = null;
  private readonly log: Logger;

  /** `logger`: where to log instead of the one `o.log` describes (tests, in-process hosts). */
  constructor(
    private readonly o: MqttLinkOptions,
    logger?: Logger,
  ) {
    this.log = logger ?? Logger.create({ level: 'warn', ...o.log, component: `mm ${o.deviceId}` });
    this.serviceTopics = new Map(o.services.map((s) => [topics.serviceIn(o.deviceId, s), s]));
    this.maxServiceInflight = o.maxServiceInflightBytes ?? 1024 * 1024;
  }

  /** Service payload bytes published and not yet acknowledged by the broker. */
  get serviceInflightBytes(): number {
    return this.serviceInflight;
  }

  start(sink: HubLinkSink): void {
    this.sink = sink;
    const tls = {
      ...(this.o.ca !== undefined ? { ca: this.o.ca } : {}),
      ...(this.o.servername !== undefined ? { servername: this.o.servername } : {}),
    };
    /** The last connection error: why the broker is out of reach, for the log. */
    let lastError: string | undefined;
    const client = connectMqtt(this.o.url, {
      protocolVersion: this.o.protocolVersion ?? 4,
      clientId: `dominion-mm-${this.o.deviceId}-${randomSuffix()}`,
      ...(this.o.username !== undefined ? { username: this.o.username } : {}),
      ...(this.o.password !== undefined ? { password: this.o.password } : {}),
      ...(Object.keys(tls).length > 0 ? { tls } : {}),
      onTlsFailure: (failure) => {
        this.counters.tlsFailures++;
        if (failure.message === this.lastTlsFailure) return;
        this.lastTlsFailure = failure.message;
        this.log.error('TLS handshake with the broker failed; retrying', { broker: this.o.url, reason: failure.message });
      },
      onSocketError: (err) => void (lastError = err.message),
      onRefused: (reason) => {
        this.counters.connectRefused++;
        this.log.limited('broker-refused', 'error', 'the broker refused the connection; retrying in 30 s', { broker: this.o.url, reason });
      },
    });
    this.client = client;
    const max = this.o.maxInboundBytes ?? 8 * 1024;
    // Image chunks are the one large thing a hub sends: a chunk envelope up to the envelope limit.
    const maxChunk = Math.max(max, MAX_WIRE_BYTES.signedEnvelope);
    let up = false;
    let everUp = false;
    client.on('error', (err) => void (lastError = err.message));
    client.on('reconnect', () => {
      if (this.client !== client) return;
      this.log.limited('broker-unreachable', 'warn', 'broker unreachable; still reconnecting', {
        broker: this.o.url,
        reason: lastError ?? 'no answer yet',
      });
    });
    client.on('connect', () => {
      this.counters.connects++;
      this.lastTlsFailure = undefined;
      client.subscribe([topics.replySubscription(this.o.deviceId), ...this.serviceTopics.keys()], { qos: 1 }, () => {
        up = true;
        this.log.info(everUp ? 'broker connection restored' : 'broker connected', { broker: this.o.url });
        everUp = true;
        lastError = undefined;
        sink.connection(true);
      });
    });
    const down = (): void => {
      if (!up) return;
      up = false;
      if (this.client === client)
        this.log.warn('broker connection lost; reconnecting', { broker: this.o.url, reason: lastError ?? 'the connection closed' });
      sink.connection(false);
    };
    client.on('close', down);
    client.on('offline', down);
    client.on('message', (topic, payload) => {
      this.counters.received++;
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
  }

  publishRequest(hubId: string, envelope: Uint8Array): void {
    this.publish(topics.hubRequest(hubId, this.o.deviceId), envelope);
  }

  publishService(service: string, stream: string, payload: Uint8Array): boolean {
    if (this.serviceInflight > 0 && this.serviceInflight + payload.length > this.maxServiceInflight) {
      this.counters.serviceRefused++;
      this.refusedSince = true;
      return false;
    }
    const bytes = payload.length;
    this.serviceInflight += bytes;
    this.publish(topics.serviceOut(service, this.o.deviceId, stream), payload, () => {
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
    const client = this.client;
    this.client = null;
    this.sink = null;
    this.log.close();
    if (client === null) return;
    // Closed while still connecting, MQTT.js would reconnect once the socket opens: forbid it first.
    client.options.reconnectPeriod = 0;
    client.end(true);
    client.stream?.destroy();
  }

  /** `settled` runs once the broker acknowledged the message or MQTT.js gave up on it. */
  private publish(topic: string, payload: Uint8Array, settled?: () => void): void {
    const client = this.client;
    if (client === null) {
      this.counters.publishFailed++;
      settled?.();
      return;
    }
    client.publish(topic, toBuffer(payload), { qos: 1, retain: false }, (err) => {
      if (err) this.counters.publishFailed++;
      else this.counters.published++;
      settled?.();
    });
  }
}

function randomSuffix(): string {
  return Math.floor(Math.random() * 0xffffff).toString(16);
}
