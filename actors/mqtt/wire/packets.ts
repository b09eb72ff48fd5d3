/**
 * MQTT 5 and 3.1.1 packets, framed by hand for the hubs' request/reply path (docs/ARCHITECTURE.md
 * §7, "The hub's MQTT session"): only what a client that subscribes at QoS 1 and publishes at QoS 0/1
 * meets — CONNECT/CONNACK, SUBSCRIBE/SUBACK, PUBLISH, PUBACK, PINGREQ/PINGRESP, DISCONNECT.
 *
 * Encoders write into a caller's buffer (no intermediate objects); the decoder reads one packet whose
 * frame the caller has already bounded (session.ts) and returns views into it, never copies of the
 * payload. Anything else a broker may not send such a client is a `MqttWireError`, never a throw of
 * another kind.
 */

export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const SUBACK = 9;
export const PINGRESP = 13;
export const DISCONNECT = 14;

/** A packet the broker should not have sent, or sent malformed: the connection cannot go on. */
export class MqttWireError extends Error {
  override readonly name = 'MqttWireError';
}

export type IncomingPacket =
  | {
      readonly type: typeof CONNACK;
      readonly sessionPresent: boolean;
      readonly code: number;
      /** MQTT 5: the broker's Receive Maximum (65,535 when absent) and Maximum Packet Size (0 = none). */
      readonly receiveMaximum: number;
      readonly maximumPacketSize: number;
      readonly reason?: string;
    }
  | {
      readonly type: typeof PUBLISH;
      readonly qos: 0 | 1;
      readonly packetId: number;
      readonly topic: string;
      readonly payload: Buffer;
    }
  | { readonly type: typeof PUBACK; readonly packetId: number; readonly code: number }
  | { readonly type: typeof SUBACK; readonly packetId: number; readonly codes: readonly number[] }
  | { readonly type: typeof PINGRESP }
  | { readonly type: typeof DISCONNECT; readonly code: number; readonly reason?: string };

// --- sizes -------------------------------------------------------------------------------------

/** Bytes of MQTT's variable byte integer for `n` (1–4; n < 268,435,456). */
export function varIntSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4;
}

function writeVarInt(out: Buffer, at: number, n: number): number {
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n > 0) byte |= 0x80;
    out[at++] = byte;
  } while (n > 0);
  return at;
}

function writeString(out: Buffer, at: number, s: string, bytes: number): number {
  out.writeUInt16BE(bytes, at);
  out.write(s, at + 2, bytes, 'utf8');
  return at + 2 + bytes;
}

function writeBinary(out: Buffer, at: number, b: Uint8Array): number {
  out.writeUInt16BE(b.length, at);
  out.set(b, at + 2);
  return at + 2 + b.length;
}

/** The frame's total size, header included, for a remaining length. */
export function frameSize(remaining: number): number {
  return 1 + varIntSize(remaining) + remaining;
}

// --- encoders ----------------------------------------------------------------------------------

export interface ConnectFields {
  readonly v5: boolean;
  readonly clientId: string;
  readonly keepaliveSeconds: number;
  readonly will?: { readonly topic: string; readonly payload: Uint8Array; readonly qos: 0 | 1; readonly retain: boolean };
  readonly username?: string;
  readonly password?: Uint8Array;
  /** MQTT 5: what we accept (the broker drops larger packets to us, and keeps the rest queued). */
  readonly receiveMaximum?: number;
  readonly maximumPacketSize?: number;
}

/** A CONNECT packet (clean start / clean session; MQTT 5 session expiry 0). */
export function encodeConnect(c: ConnectFields): Buffer {
  const utf8 = Buffer.byteLength;
  const props = c.v5 ? (c.receiveMaximum !== undefined ? 3 : 0) + (c.maximumPacketSize !== undefined ? 5 : 0) : -1;
  const willTopic = c.will !== undefined ? utf8(c.will.topic) : 0;
  const user = c.username !== undefined ? utf8(c.username) : 0;
  let remaining = 10 + (props >= 0 ? varIntSize(props) + props : 0) + 2 + utf8(c.clientId);
  if (c.will !== undefined) remaining += (c.v5 ? 1 : 0) + 2 + willTopic + 2 + c.will.payload.length;
  if (c.username !== undefined) remaining += 2 + user;
  if (c.password !== undefined) remaining += 2 + c.password.length;
  const out = Buffer.allocUnsafe(frameSize(remaining));
  let at = writeVarInt(out, ((out[0] = 0x10), 1), remaining);
  at = writeString(out, at, 'MQTT', 4);
  out[at++] = c.v5 ? 5 : 4;
  let flags = 0x02; // clean start
  if (c.will !== undefined) flags |= 0x04 | (c.will.qos << 3) | (c.will.retain ? 0x20 : 0);
  if (c.password !== undefined) flags |= 0x40;
  if (c.username !== undefined) flags |= 0x80;
  out[at++] = flags;
  out.writeUInt16BE(c.keepaliveSeconds, at);
  at += 2;
  if (props >= 0) {
    at = writeVarInt(out, at, props);
    if (c.receiveMaximum !== undefined) at = ((out[at] = 0x21), out.writeUInt16BE(c.receiveMaximum, at + 1));
    if (c.maximumPacketSize !== undefined) at = ((out[at] = 0x27), out.writeUInt32BE(c.maximumPacketSize, at + 1));
  }
  at = writeString(out, at, c.clientId, utf8(c.clientId));
  if (c.will !== undefined) {
    if (c.v5) out[at++] = 0; // no will properties
    at = writeString(out, at, c.will.topic, willTopic);
    at = writeBinary(out, at, c.will.payload);
  }
  if (c.username !== undefined) at = writeString(out, at, c.username, user);
  if (c.password !== undefined) at = writeBinary(out, at, c.password);
  return out;
}

/** SUBSCRIBE to one filter at QoS 1. */
export function encodeSubscribe(v5: boolean, packetId: number, filter: string): Buffer {
  const bytes = Buffer.byteLength(filter);
  const remaining = 2 + (v5 ? 1 : 0) + 2 + bytes + 1;
  const out = Buffer.allocUnsafe(frameSize(remaining));
  let at = writeVarInt(out, ((out[0] = 0x82), 1), remaining);
  at = out.writeUInt16BE(packetId, at);
  if (v5) out[at++] = 0;
  at = writeString(out, at, filter, bytes);
  out[at] = 1;
  return out;
}

/** The size of a PUBLISH, for `writePublish` (topic length in bytes). */
export function publishSize(v5: boolean, qos: 0 | 1, topicBytes: number, payloadBytes: number, expirySeconds: number | undefined): number {
  return frameSize(publishRemaining(v5, qos, topicBytes, payloadBytes, expirySeconds));
}

function publishRemaining(v5: boolean, qos: 0 | 1, topicBytes: number, payloadBytes: number, expiry: number | undefined): number {
  return 2 + topicBytes + (qos > 0 ? 2 : 0) + (v5 ? (expiry !== undefined ? 6 : 1) : 0) + payloadBytes;
}

/** Writes a PUBLISH at `at` (room for `publishSize` bytes); returns the offset after it. */
export function writePublish(
  out: Buffer,
  at: number,
  p: {
    readonly v5: boolean;
    readonly qos: 0 | 1;
    readonly retain: boolean;
    readonly packetId: number;
    readonly topic: string;
    readonly topicBytes: number;
    readonly payload: Uint8Array;
    readonly expirySeconds?: number;
  },
): number {
  out[at] = 0x30 | (p.qos << 1) | (p.retain ? 1 : 0);
  at = writeVarInt(out, at + 1, publishRemaining(p.v5, p.qos, p.topicBytes, p.payload.length, p.expirySeconds));
  at = writeString(out, at, p.topic, p.topicBytes);
  if (p.qos > 0) at = out.writeUInt16BE(p.packetId, at);
  if (p.v5) {
    if (p.expirySeconds === undefined) out[at++] = 0;
    else at = ((out[at] = 5), (out[at + 1] = 0x02), out.writeUInt32BE(p.expirySeconds, at + 2));
  }
  out.set(p.payload, at);
  return at + p.payload.length;
}

/** Writes a PUBACK (success) at `at`; 4 bytes. */
export function writePuback(out: Buffer, at: number, packetId: number): number {
  out[at] = 0x40;
  out[at + 1] = 2;
  return out.writeUInt16BE(packetId, at + 2);
}

export const PINGREQ_BYTES = Buffer.from([0xc0, 0]);
/** DISCONNECT, normal (no Will): the same two bytes on 3.1.1 and 5 (reason code 0 omitted). */
export const DISCONNECT_BYTES = Buffer.from([0xe0, 0]);

// --- decoder -----------------------------------------------------------------------------------

/**
 * The packet whose header byte is `first` and whose body is `buf[start, end)`. The caller has framed
 * it (remaining length read, bounded). Payload and topic are views/strings: nothing is copied.
 */
export function decodePacket(first: number, buf: Buffer, start: number, end: number, v5: boolean): IncomingPacket {
  const type = first >> 4;
  const r = new Reader(buf, start, end);
  switch (type) {
    case PUBLISH: {
      const qos = (first >> 1) & 3;
      if (qos > 1) throw new MqttWireError(`PUBLISH at QoS ${qos} on a QoS 1 subscription`);
      const topic = r.string();
      const packetId = qos > 0 ? r.u16() : 0;
      if (v5) r.skip(r.varInt()); // no topic aliases were allowed; nothing else here concerns us
      return { type, qos: qos as 0 | 1, packetId, topic, payload: buf.subarray(r.at, end) };
    }
    case PUBACK: {
      const packetId = r.u16();
      return { type, packetId, code: r.at < end ? r.u8() : 0 };
    }
    case CONNACK: {
      const sessionPresent = (r.u8() & 1) === 1;
      const code = r.u8();
      const props = v5 && r.at < end ? properties(r) : undefined;
      return {
        type,
        sessionPresent,
        code,
        receiveMaximum: props?.receiveMaximum ?? 65_535,
        maximumPacketSize: props?.maximumPacketSize ?? 0,
        ...(props?.reason !== undefined ? { reason: props.reason } : {}),
      };
    }
    case SUBACK: {
      const packetId = r.u16();
      if (v5) r.skip(r.varInt());
      const codes: number[] = [];
      while (r.at < end) codes.push(r.u8());
      return { type, packetId, codes };
    }
    case PINGRESP:
      return { type };
    case DISCONNECT: {
      const code = r.at < end ? r.u8() : 0;
      const props = v5 && r.at < end ? properties(r) : undefined;
      return { type, code, ...(props?.reason !== undefined ? { reason: props.reason } : {}) };
    }
    default:
      throw new MqttWireError(`unexpected MQTT packet type ${type}`);
  }
}

/** How each MQTT 5 property is laid out (MQTT 5 §2.2.2.2), so any we do not use is skipped exactly. */
const PROPERTY_LAYOUT: Readonly<Record<number, 'byte' | 'u16' | 'u32' | 'varint' | 'bytes' | 'pair'>> = {
  0x01: 'byte', 0x17: 'byte', 0x19: 'byte', 0x24: 'byte', 0x25: 'byte', 0x28: 'byte', 0x29: 'byte', 0x2a: 'byte',
  0x13: 'u16', 0x21: 'u16', 0x22: 'u16', 0x23: 'u16',
  0x02: 'u32', 0x11: 'u32', 0x18: 'u32', 0x27: 'u32',
  0x0b: 'varint',
  0x03: 'bytes', 0x08: 'bytes', 0x09: 'bytes', 0x12: 'bytes', 0x15: 'bytes', 0x16: 'bytes', 0x1a: 'bytes', 0x1c: 'bytes', 0x1f: 'bytes',
  0x26: 'pair',
}; // prettier-ignore

/** The MQTT 5 properties a CONNACK or DISCONNECT may carry: the ones we use kept, the rest skipped. */
function properties(r: Reader): { receiveMaximum?: number; maximumPacketSize?: number; reason?: string } {
  const length = r.varInt();
  const end = r.at + length;
  if (end > r.end) throw new MqttWireError('MQTT properties run past the packet');
  const out: { receiveMaximum?: number; maximumPacketSize?: number; reason?: string } = {};
  while (r.at < end) {
    const id = r.varInt();
    const layout = PROPERTY_LAYOUT[id];
    if (id === 0x21) out.receiveMaximum = r.u16();
    else if (id === 0x27) out.maximumPacketSize = r.u32();
    else if (id === 0x1f) out.reason = r.string().slice(0, 200);
    else if (layout === 'byte') r.skip(1);
    else if (layout === 'u16') r.skip(2);
    else if (layout === 'u32') r.skip(4);
    else if (layout === 'varint') r.varInt();
    else if (layout === 'bytes') r.skip(r.u16());
    else if (layout === 'pair') (r.skip(r.u16()), r.skip(r.u16()));
    else throw new MqttWireError(`unknown MQTT property 0x${id.toString(16)}`);
  }
  if (r.at !== end) throw new MqttWireError('MQTT properties run past their length');
  return out;
}

/** Bounded reads from one packet's body: every read checks what remains. */
class Reader {
  constructor(
    readonly buf: Buffer,
    public at: number,
    readonly end: number,
  ) {}

  private need(n: number): void {
    if (this.at + n > this.end) throw new MqttWireError('MQTT packet shorter than its fields');
  }

  u8(): number {
    this.need(1);
    return this.buf[this.at++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }

  varInt(): number {
    let value = 0;
    for (let i = 0; i < 4; i++) {
      const byte = this.u8();
      value += (byte & 0x7f) * 2 ** (7 * i);
      if ((byte & 0x80) === 0) return value;
    }
    throw new MqttWireError('MQTT variable byte integer longer than 4 bytes');
  }

  skip(n: number): void {
    this.need(n);
    this.at += n;
  }

  string(): string {
    const n = this.u16();
    this.need(n);
    const s = this.buf.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }
}
