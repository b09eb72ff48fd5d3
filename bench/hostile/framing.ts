/**
 * MQTT framing, just enough for a proxy that acts on whole packets (MQTT 3.1.1 and 5 share it): the
 * fixed header (type and flags, then the remaining length as a 1–4 byte varint), and the head of a
 * PUBLISH (topic, QoS, packet id). Everything after the packet id — MQTT 5 properties and the
 * payload — is carried as opaque bytes, so a copy re-encoded at QoS 0 keeps them as they were.
 */

export const PUBLISH = 3;
export const PUBACK = 4;

/** A stream that does not frame as MQTT: the proxy closes that connection and counts it. */
export class FramingError extends Error {
  override readonly name = 'FramingError';
}

/** Splits a byte stream into whole MQTT packets, however the stream was chunked. */
export class PacketSplitter {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(private readonly maxPacketBytes = 1024 * 1024) {}

  /** Every packet `chunk` completes, each a Buffer holding fixed header and body. */
  push(chunk: Buffer): Buffer[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const packets: Buffer[] = [];
    for (;;) {
      const head = remainingLength(this.buffered);
      if (head === undefined) break;
      const total = head.headerBytes + head.length;
      if (total > this.maxPacketBytes) throw new FramingError(`packet of ${total} bytes exceeds the limit of ${this.maxPacketBytes}`);
      if (this.buffered.length < total) break;
      packets.push(this.buffered.subarray(0, total));
      this.buffered = this.buffered.subarray(total);
    }
    return packets;
  }

  /** Bytes received that do not yet make a whole packet. */
  get pending(): number {
    return this.buffered.length;
  }
}

/** The remaining length of the packet at the start of `b`, or `undefined` while its header is incomplete. */
function remainingLength(b: Buffer): { length: number; headerBytes: number } | undefined {
  let length = 0;
  for (let i = 1; i <= 4; i++) {
    if (i >= b.length) return undefined;
    const byte = b[i]!;
    length += (byte & 0x7f) * 128 ** (i - 1);
    if ((byte & 0x80) === 0) return { length, headerBytes: i + 1 };
  }
  throw new FramingError('remaining length longer than 4 bytes');
}

/** The packet type (1 CONNECT … 15 AUTH) of a framed packet. */
export function packetType(packet: Buffer): number {
  return packet[0]! >> 4;
}

export interface PublishHead {
  readonly topic: string;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly dup: boolean;
  /** Present for QoS 1 and 2. */
  readonly packetId: number | undefined;
  /** Offset of what follows the packet id (MQTT 5 properties, then the payload). */
  readonly restOffset: number;
}

/** The head of a framed PUBLISH; throws `FramingError` if it is not a well-formed one. */
export function parsePublish(packet: Buffer): PublishHead {
  if (packetType(packet) !== PUBLISH) throw new FramingError(`not a PUBLISH (type ${packetType(packet)})`);
  const flags = packet[0]! & 0x0f;
  const qos = (flags >> 1) & 3;
  if (qos === 3) throw new FramingError('PUBLISH with QoS 3');
  const head = remainingLength(packet)!;
  let at = head.headerBytes;
  if (at + 2 > packet.length) throw new FramingError('PUBLISH too short for its topic length');
  const topicLength = packet.readUInt16BE(at);
  at += 2;
  if (at + topicLength > packet.length) throw new FramingError('PUBLISH topic runs past the packet');
  const topic = packet.toString('utf8', at, at + topicLength);
  at += topicLength;
  let packetId: number | undefined;
  if (qos > 0) {
    if (at + 2 > packet.length) throw new FramingError('PUBLISH too short for its packet id');
    packetId = packet.readUInt16BE(at);
    at += 2;
  }
  return { topic, qos: qos as 0 | 1 | 2, retain: (flags & 1) === 1, dup: (flags & 8) === 8, packetId, restOffset: at };
}

/** The fixed header for a packet of `type`/`flags` with a body of `length` bytes. */
export function fixedHeader(type: number, flags: number, length: number): Buffer {
  const bytes = [(type << 4) | (flags & 0x0f)];
  let n = length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0);
  if (bytes.length > 5) throw new FramingError(`body of ${length} bytes is too long for MQTT`);
  return Buffer.from(bytes);
}

/**
 * The same message as a QoS 0 PUBLISH (no packet id, DUP cleared, RETAIN kept). Copies the proxy adds
 * go out at QoS 0 so that neither end's session state (packet ids in flight) is disturbed by them.
 */
export function publishAtQos0(packet: Buffer, head: PublishHead = parsePublish(packet)): Buffer {
  const topicStart = remainingLength(packet)!.headerBytes;
  const topicEnd = topicStart + 2 + Buffer.byteLength(head.topic);
  const body = Buffer.concat([packet.subarray(topicStart, topicEnd), packet.subarray(head.restOffset)]);
  return Buffer.concat([fixedHeader(PUBLISH, head.retain ? 1 : 0, body.length), body]);
}

/** A PUBLISH of `payload` on `topic` (QoS 0, or 1 with `packetId`); MQTT 5 callers pass `properties` (default none). */
export function encodePublish(
  topic: string,
  payload: Uint8Array,
  o: { qos?: 0 | 1; packetId?: number; mqtt5?: boolean; retain?: boolean } = {},
): Buffer {
  const qos = o.qos ?? 0;
  const t = Buffer.from(topic, 'utf8');
  const parts = [Buffer.from([t.length >> 8, t.length & 0xff]), t];
  if (qos > 0) parts.push(Buffer.from([(o.packetId ?? 1) >> 8, (o.packetId ?? 1) & 0xff]));
  if (o.mqtt5 === true) parts.push(Buffer.from([0]));
  parts.push(Buffer.from(payload));
  const body = Buffer.concat(parts);
  return Buffer.concat([fixedHeader(PUBLISH, (qos << 1) | (o.retain === true ? 1 : 0), body.length), body]);
}

/** PUBACK for `packetId` (success; valid in MQTT 3.1.1 and 5, where a missing reason code means success). */
export function encodePuback(packetId: number): Buffer {
  return Buffer.from([PUBACK << 4, 2, packetId >> 8, packetId & 0xff]);
}
