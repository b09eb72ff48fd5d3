/**
 * One MQTT connection for a hub's request/reply path (docs/ARCHITECTURE.md §7, "The hub's MQTT
 * session"), in place of MQTT.js there: measured, MQTT.js's per-packet machinery cost a hub more than
 * its decision path (bench/RESULTS.md). It does what a QoS 1 request/reply server needs and no more:
 *
 * - one socket (TCP_NODELAY; TLS with the pinned CA as connect.ts builds it), framed by hand
 *   (packets.ts); frames larger than the Maximum Packet Size we announced end the connection;
 * - every write of one event-loop turn (PUBACKs, replies, PINGREQ) leaves in one socket write, at
 *   the end of the turn (setImmediate), from one buffer: no cork bookkeeping for its owner;
 * - QoS 1 publishes respect the broker's Receive Maximum (MQTT.js ignores it): beyond it they wait,
 *   bounded, in order; a PUBACK with a failure code, or the connection's end, fails them;
 * - a request (QoS 1 PUBLISH) is acknowledged as soon as its owner's hook has returned;
 * - keep-alive: a PINGREQ after a quiet interval; no answer within it ends the connection, so a
 *   silent broker is noticed in at most 1.5 keep-alive intervals.
 *
 * No reconnecting: a session lives as long as its socket; its owner (BrokerLink) opens the next one.
 */
import type net from 'node:net';
import type { BrokerAddress, MqttTlsError, MqttTlsOptions } from '../index.ts';
import { noDelaySocket, noDelayTlsSocket } from '../connect.ts';
import { Framer } from './framer.ts';
import {
  CONNACK,
  decodePacket,
  DISCONNECT,
  DISCONNECT_BYTES,
  encodeConnect,
  encodeSubscribe,
  MqttWireError,
  PINGREQ_BYTES,
  PINGRESP,
  PUBACK,
  PUBLISH,
  publishSize,
  SUBACK,
  writePublish,
  writePuback,
  type ConnectFields,
  type IncomingPacket,
} from './packets.ts';
import { connectRefusalReason } from './reasons.ts';

export interface MqttSessionOptions extends Omit<ConnectFields, 'maximumPacketSize'> {
  readonly address: BrokerAddress;
  readonly tls?: MqttTlsOptions;
  /** The largest packet we take (announced on MQTT 5; enforced on both). */
  readonly maximumPacketSize: number;
  readonly connectTimeoutMs: number;
  /** QoS 1 publishes waiting beyond the broker's Receive Maximum; more fail at once. Default 4096. */
  readonly maxQueued?: number;
  readonly onTlsFailure?: (failure: MqttTlsError) => void;
}

export interface MqttSessionHooks {
  /** A message on a subscription; `payload` is a view valid for as long as it is referenced. */
  message(topic: string, payload: Buffer): void;
  /**
   * A message larger than our Maximum Packet Size (an MQTT 3.1.1 broker does not know it), let go
   * unread and acknowledged.
   */
  oversized(topic: string, bytes: number): void;
  /** The connection is over (after `open` resolved), and why. Called once. */
  closed(reason: string): void;
}

/** The broker answered CONNECT with a refusal: its reason, as MQTT.js words it ("Connection refused: …"). */
export class MqttRefusedError extends Error {
  override readonly name = 'MqttRefusedError';
  constructor(
    readonly code: number,
    v5: boolean,
  ) {
    super(connectRefusalReason(code, v5));
  }
}

type Done = (err?: Error) => void;

interface Outgoing {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly retain: boolean;
  readonly expirySeconds: number | undefined;
  readonly done: Done;
}

const CHUNK_BYTES = 32 * 1024;

export class MqttSession {
  private readonly v5: boolean;
  private readonly socket: net.Socket;
  private readonly framer: Framer;
  /** This turn's writes: whole chunks, then the one being filled. */
  private readonly full: Buffer[] = [];
  private chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  private used = 0;
  private flushScheduled = false;
  private nextId = 1;
  private readonly inFlight = new Map<number, Done>();
  private readonly queued: Outgoing[] = [];
  private readonly subscribing = new Map<number, (codes: readonly number[] | Error) => void>();
  private sendQuota = 65_535;
  private brokerMaxPacket = 0;
  private keepalive: NodeJS.Timeout | undefined;
  private lastWriteMs = Date.now();
  private pingSentMs: number | undefined;
  private connected = false;
  private ended: string | undefined;
  private readonly maxQueued: number;
  private settleOpen: ((err?: Error) => void) | undefined;
  private hooks: MqttSessionHooks = { message: () => {}, oversized: () => {}, closed: () => {} };

  /** Connects and resolves at a successful CONNACK; rejects with MqttRefusedError, MqttTlsError or the socket's error. */
  static open(options: MqttSessionOptions, hooks: MqttSessionHooks): Promise<MqttSession> {
    const session = new MqttSession(options);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => session.end(`no CONNACK within ${options.connectTimeoutMs} ms`), options.connectTimeoutMs);
      session.settleOpen = (err) => {
        clearTimeout(timer);
        session.settleOpen = undefined;
        if (err !== undefined) return reject(err);
        session.hooks = hooks;
        resolve(session);
      };
    });
  }

  private constructor(private readonly options: MqttSessionOptions) {
    this.v5 = options.v5;
    this.maxQueued = options.maxQueued ?? 4096;
    this.framer = new Framer(options.maximumPacketSize, {
      packet: (first, buf, start, end) => {
        if (this.ended === undefined) this.handle(decodePacket(first, buf, start, end, this.v5));
      },
      oversized: (topic, qos, packetId, bytes) => {
        if (this.ended !== undefined) return;
        if (!this.connected) throw new MqttWireError('an oversized packet before CONNACK');
        if (qos > 1) throw new MqttWireError(`PUBLISH at QoS ${qos} on a QoS 1 subscription`);
        this.hooks.oversized(topic, bytes);
        if (qos === 1) this.puback(packetId);
      },
    });
    let tlsFailure: MqttTlsError | undefined;
    this.socket = options.address.tls
      ? noDelayTlsSocket(options.address, options.tls, (f) => {
          tlsFailure = f;
          options.onTlsFailure?.(f);
        })
      : noDelaySocket(options.address);
    this.socket.on(options.address.tls ? 'secureConnect' : 'connect', () => {
      const { address: _a, tls: _t, connectTimeoutMs: _c, maxQueued: _q, onTlsFailure: _f, ...fields } = options;
      this.socket.write(encodeConnect(fields));
    });
    this.socket.on('data', (data: Buffer) => this.read(data));
    this.socket.on('error', (err) => this.end(tlsFailure?.message ?? err.message, tlsFailure ?? err));
    this.socket.on('close', () => this.end('the connection closed'));
  }

  /** Subscribes to one filter at QoS 1; resolves with the broker's reason codes (≥ 0x80: refused). */
  subscribe(filter: string): Promise<readonly number[]> {
    return new Promise((resolve, reject) => {
      if (this.ended !== undefined) return reject(new Error(this.ended));
      const id = this.takeId();
      this.subscribing.set(id, (r) => (r instanceof Error ? reject(r) : resolve(r)));
      this.put(encodeSubscribe(this.v5, id, filter));
    });
  }

  /** Publishes; `done` is called at the PUBACK (QoS 1), at once (QoS 0), or with the error that kept it from the broker. */
  publish(topic: string, payload: Uint8Array, qos: 0 | 1, retain: boolean, expirySeconds: number | undefined, done: Done): void {
    if (this.ended !== undefined) return done(new Error(this.ended));
    if (qos === 0) {
      if (this.write({ topic, payload, retain, expirySeconds, done }, 0, 0)) done();
      return;
    }
    if (this.inFlight.size >= this.sendQuota) {
      if (this.queued.length >= this.maxQueued) return done(new Error(`more than ${this.maxQueued} publishes wait on the broker`));
      this.queued.push({ topic, payload, retain, expirySeconds, done });
      return;
    }
    this.send({ topic, payload, retain, expirySeconds, done });
  }

  /** Sends DISCONNECT (so no Will) and closes; resolves once the socket is closed. */
  close(): Promise<void> {
    if (this.ended !== undefined) return Promise.resolve();
    this.flush();
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    this.socket.end(DISCONNECT_BYTES);
    const timer = setTimeout(() => this.socket.destroy(), 2000);
    return closed.finally(() => clearTimeout(timer));
  }

  /** Ends the connection at once, without DISCONNECT: the broker sends the Will. */
  destroy(reason: string): void {
    this.end(reason);
  }

  get isOpen(): boolean {
    return this.connected && this.ended === undefined;
  }

  private send(o: Outgoing): void {
    const id = this.takeId();
    this.inFlight.set(id, o.done);
    this.write(o, 1, id);
  }

  /** Writes the PUBLISH; false (and `done` told why) when the broker would not take it. */
  private write(o: Outgoing, qos: 0 | 1, packetId: number): boolean {
    const topicBytes = Buffer.byteLength(o.topic);
    const size = publishSize(this.v5, qos, topicBytes, o.payload.length, this.v5 ? o.expirySeconds : undefined);
    if (this.brokerMaxPacket > 0 && size > this.brokerMaxPacket) {
      this.inFlight.delete(packetId);
      o.done(new Error(`a ${size}-byte packet exceeds the broker's Maximum Packet Size ${this.brokerMaxPacket}`));
      return false;
    }
    const at = this.reserve(size);
    writePublish(this.chunk, at, {
      v5: this.v5,
      qos,
      retain: o.retain,
      packetId,
      topic: o.topic,
      topicBytes,
      payload: o.payload,
      ...(this.v5 && o.expirySeconds !== undefined ? { expirySeconds: o.expirySeconds } : {}),
    });
    return true;
  }

  /** A packet id not in use (1–65,535). */
  private takeId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = id === 65_535 ? 1 : id + 1;
      if (!this.inFlight.has(id) && !this.subscribing.has(id)) return id;
    }
  }

  /** Room for `size` bytes in this turn's buffer; the turn's end is scheduled. */
  private reserve(size: number): number {
    if (this.used + size > this.chunk.length) {
      if (this.used > 0) this.full.push(this.chunk.subarray(0, this.used));
      this.chunk = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, size));
      this.used = 0;
    }
    const at = this.used;
    this.used += size;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return at;
  }

  // reserve() may start a new chunk: take the offset first, then read this.chunk.
  private put(bytes: Buffer): void {
    const at = this.reserve(bytes.length);
    bytes.copy(this.chunk, at);
  }

  private puback(packetId: number): void {
    const at = this.reserve(4);
    writePuback(this.chunk, at, packetId);
  }

  /** Writes what this turn gathered, in one socket write. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.used === 0 && this.full.length === 0) return;
    const last = this.chunk.subarray(0, this.used);
    // The socket may keep a reference until the kernel took it all: the next turn gets a new chunk.
    this.chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    this.used = 0;
    this.lastWriteMs = Date.now();
    if (this.ended !== undefined) return void (this.full.length = 0);
    if (this.full.length === 0) return void this.socket.write(last);
    this.socket.write(Buffer.concat([...this.full.splice(0), last]));
  }

  /** One read: its packets handled in order; a stream that is not MQTT ends the connection. */
  private read(data: Buffer): void {
    try {
      this.framer.push(data);
    } catch (err) {
      this.end(`protocol error: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private handle(p: IncomingPacket): void {
    if (!this.connected && p.type !== CONNACK) throw new MqttWireError(`packet type ${p.type} before CONNACK`);
    switch (p.type) {
      case PUBLISH:
        try {
          this.hooks.message(p.topic, p.payload);
        } catch {
          // The owner's bug must not cost the connection (hooks should not throw; hub-server counts its own).
        }
        if (p.qos === 1) this.puback(p.packetId);
        return;
      case PUBACK: {
        const done = this.inFlight.get(p.packetId);
        if (done === undefined) return; // a duplicate, or one failed already
        this.inFlight.delete(p.packetId);
        // Refill the freed slot; one the broker would not take frees it again at once.
        while (this.queued.length > 0 && this.inFlight.size < this.sendQuota) this.send(this.queued.shift()!);
        return done(p.code >= 0x80 ? new Error(`the broker refused the publish (reason code ${p.code})`) : undefined);
      }
      case SUBACK:
        this.subscribing.get(p.packetId)?.(p.codes);
        this.subscribing.delete(p.packetId);
        return;
      case PINGRESP:
        this.pingSentMs = undefined;
        return;
      case DISCONNECT:
        return this.end(`the broker sent DISCONNECT (reason code ${p.code}${p.reason !== undefined ? `: ${p.reason}` : ''})`);
      case CONNACK:
        if (this.connected) throw new MqttWireError('a second CONNACK');
        if (p.code !== 0) {
          const refused = new MqttRefusedError(p.code, this.v5);
          return this.end(refused.message, refused);
        }
        this.connected = true;
        this.sendQuota = Math.max(1, p.receiveMaximum);
        this.brokerMaxPacket = p.maximumPacketSize;
        this.startKeepalive();
        return this.settleOpen?.();
    }
  }

  private startKeepalive(): void {
    const periodMs = this.options.keepaliveSeconds * 1000;
    if (periodMs <= 0) return;
    // Checked at a quarter of the period: a PINGREQ once a period has passed without a write, and
    // the end when its PINGRESP has not come within half a period.
    this.keepalive = setInterval(
      () => {
        const now = Date.now();
        if (this.pingSentMs !== undefined && now - this.pingSentMs > periodMs / 2)
          return this.end(`no PINGRESP within ${Math.round(periodMs / 2000)} s: the broker is silent`);
        if (this.pingSentMs === undefined && now - this.lastWriteMs >= periodMs) {
          this.pingSentMs = now;
          this.put(PINGREQ_BYTES);
        }
      },
      Math.max(250, periodMs / 4),
    );
    this.keepalive.unref();
  }

  private end(reason: string, err?: Error): void {
    if (this.ended !== undefined) return;
    this.ended = reason;
    clearInterval(this.keepalive);
    this.socket.destroy();
    const failure = new Error(`the connection to the broker ended: ${reason}`);
    for (const done of this.inFlight.values()) done(failure);
    this.inFlight.clear();
    for (const o of this.queued.splice(0)) o.done(failure);
    for (const settle of this.subscribing.values()) settle(failure);
    this.subscribing.clear();
    if (this.settleOpen !== undefined) return this.settleOpen(err ?? new Error(reason));
    this.hooks.closed(reason);
  }
}
