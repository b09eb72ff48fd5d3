/**
 * Cuts the byte stream from the broker into MQTT packets (session.ts). A packet arriving whole in one
 * read is handed over as a view of that read, with no copy; only a packet split across reads is
 * carried, and only up to the limit. A PUBLISH larger than the limit — which an MQTT 3.1.1 broker may
 * send, not knowing our limit — is neither buffered nor fatal: its header is read, the rest of its
 * bytes are let go as they pass, and it is reported as oversized (to be acknowledged and counted), so
 * one device's junk can neither fill a hub's memory nor cut its connection.
 */
import { MqttWireError, PUBLISH } from './packets.ts';

export interface FramerSink {
  packet(first: number, buf: Buffer, start: number, end: number): void;
  oversized(topic: string, qos: number, packetId: number, bytes: number): void;
}

export class Framer {
  /** Bytes of an incomplete packet (or oversized header) carried to the next read. */
  private carry: Buffer | undefined;
  /** Bytes of an oversized packet still to let go, and what to report once they have passed. */
  private skipping = 0;
  private skipped: { topic: string; qos: number; packetId: number; bytes: number } | undefined;

  constructor(
    private readonly limit: number,
    private readonly sink: FramerSink,
  ) {}

  /** Feeds one read; throws MqttWireError for a stream that is not MQTT. */
  push(data: Buffer): void {
    let buf = data;
    let at = 0;
    if (this.carry !== undefined) {
      buf = Buffer.concat([this.carry, data]);
      this.carry = undefined;
    }
    while (at < buf.length) {
      if (this.skipping > 0) {
        const n = Math.min(this.skipping, buf.length - at);
        this.skipping -= n;
        at += n;
        if (this.skipping === 0) this.reportSkipped();
        continue;
      }
      const header = readHeader(buf, at);
      if (header === undefined) break; // the remaining length is not all here yet
      const { bodyAt, remaining } = header;
      const size = bodyAt - at + remaining;
      if (size > this.limit) {
        if (buf[at]! >> 4 !== PUBLISH) throw new MqttWireError(`a ${size}-byte packet of type ${buf[at]! >> 4} exceeds our limit`);
        const qos = (buf[at]! >> 1) & 3;
        const fixed = bodyAt + 2 <= buf.length ? 2 + buf.readUInt16BE(bodyAt) + (qos > 0 ? 2 : 0) : undefined;
        if (fixed !== undefined && fixed > remaining) throw new MqttWireError('a PUBLISH whose topic runs past its packet');
        if (fixed === undefined || bodyAt + fixed > buf.length) break; // wait for the topic and packet id
        const topic = buf.toString('utf8', bodyAt + 2, bodyAt + fixed - (qos > 0 ? 2 : 0));
        const packetId = qos > 0 ? buf.readUInt16BE(bodyAt + fixed - 2) : 0;
        this.skipped = { topic, qos, packetId, bytes: size };
        this.skipping = remaining;
        at = bodyAt;
        continue;
      }
      if (bodyAt + remaining > buf.length) break;
      this.sink.packet(buf[at]!, buf, bodyAt, bodyAt + remaining);
      at = bodyAt + remaining;
    }
    if (at < buf.length) this.carry = Buffer.from(buf.subarray(at));
  }

  private reportSkipped(): void {
    const s = this.skipped!;
    this.skipped = undefined;
    this.sink.oversized(s.topic, s.qos, s.packetId, s.bytes);
  }
}

/** Where the body starts and how long it is, or undefined when the length is not all in `buf` yet. */
function readHeader(buf: Buffer, at: number): { bodyAt: number; remaining: number } | undefined {
  let remaining = 0;
  for (let i = 1; i <= 4; i++) {
    if (at + i >= buf.length) return undefined;
    const byte = buf[at + i]!;
    remaining += (byte & 0x7f) * 2 ** (7 * (i - 1));
    if ((byte & 0x80) === 0) return { bodyAt: at + i + 1, remaining };
  }
  throw new MqttWireError('MQTT remaining length longer than 4 bytes');
}
