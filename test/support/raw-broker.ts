/**
 * A broker that speaks just enough MQTT (3.1.1 and 5) for one client to connect, subscribe and
 * publish at QoS 1, and records what it is sent, read off the wire: the CONNECT's protocol level and
 * each PUBLISH's topic and MQTT 5 properties. It can go silent (answer nothing more while keeping the
 * connection open, as a SIGSTOPped broker does) and refuse MQTT 5 as Aedes 1.x does (a 3.1.1 CONNACK
 * with return code 1). It routes nothing: tests of what a client sends and when it hears back.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';

export interface RawPublish {
  readonly topic: string;
  readonly qos: number;
  /** The protocol level of the connection it came on. */
  readonly level: number;
  /** MQTT 5 properties by identifier: Message Expiry Interval (0x02) and Payload Format (0x01) as numbers. */
  readonly properties: ReadonlyMap<number, number>;
}

export interface RawBroker {
  readonly url: string;
  /** Protocol level of every CONNECT, in order. */
  readonly connects: number[];
  readonly publishes: RawPublish[];
  /** Answer nothing from now on (connections stay open). */
  silent: boolean;
  /** Refuse an MQTT 5 CONNECT as Aedes 1.x does. */
  refuseV5: boolean;
  /** Publishes on these topics are recorded but never acknowledged (default none). */
  swallow: (topic: string) => boolean;
  close(): Promise<void>;
}

function varint(b: Buffer, at: number): [value: number, next: number] | undefined {
  let value = 0;
  for (let shift = 0; at < b.length; shift += 7) {
    const byte = b[at++]!;
    value += (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [value, at];
  }
  return undefined;
}

function withLength(type: number, body: Buffer): Buffer {
  assert.ok(body.length < 128, 'short packets only');
  return Buffer.concat([Buffer.from([type, body.length]), body]);
}

export async function startRawBroker(): Promise<RawBroker> {
  const sockets = new Set<Socket>();
  const broker: RawBroker = {
    url: '',
    connects: [],
    publishes: [],
    silent: false,
    refuseV5: false,
    swallow: () => false,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let level = 4;
    let got = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk]);
      for (;;) {
        const header = got.length > 1 ? varint(got, 1) : undefined;
        if (header === undefined || got.length < header[1] + header[0]) return;
        const [length, start] = header;
        const packet = got.subarray(0, start + length);
        got = got.subarray(start + length);
        if (!broker.silent) level = answer(packet, start, level, socket);
      }
    });
  });
  const answer = (p: Buffer, at: number, level: number, socket: Socket): number => {
    const type = p[0]! >> 4;
    if (type === 1) {
      // CONNECT: protocol name, level, flags, keep-alive.
      const nameLength = p.readUInt16BE(at);
      const connectLevel = p[at + 2 + nameLength]!;
      broker.connects.push(connectLevel);
      if (connectLevel === 5 && broker.refuseV5) {
        socket.end(Buffer.from([0x20, 0x02, 0x00, 0x01]));
        return connectLevel;
      }
      socket.write(connectLevel === 5 ? Buffer.from([0x20, 0x03, 0x00, 0x00, 0x00]) : Buffer.from([0x20, 0x02, 0x00, 0x00]));
      return connectLevel;
    }
    if (type === 8) {
      // SUBSCRIBE: packet id, (properties), then filters each with an options byte. Grant QoS 1.
      const id = p.subarray(at, at + 2);
      let q = at + 2;
      if (level === 5) {
        const [propsLength, next] = varint(p, q)!;
        q = next + propsLength;
      }
      let filters = 0;
      while (q < p.length) {
        q += 2 + p.readUInt16BE(q) + 1;
        filters++;
      }
      const codes = Buffer.alloc(filters, 1);
      socket.write(withLength(0x90, Buffer.concat([id, level === 5 ? Buffer.from([0]) : Buffer.alloc(0), codes])));
      return level;
    }
    if (type === 3) {
      const qos = (p[0]! >> 1) & 3;
      const topicLength = p.readUInt16BE(at);
      const topic = p.subarray(at + 2, at + 2 + topicLength).toString('utf8');
      let q = at + 2 + topicLength;
      const id = qos > 0 ? p.subarray(q, q + 2) : undefined;
      if (qos > 0) q += 2;
      const properties = new Map<number, number>();
      if (level === 5) {
        const [propsLength, start] = varint(p, q)!;
        for (let r = start; r < start + propsLength;) {
          const prop = p[r++]!;
          if (prop === 0x02) {
            properties.set(prop, p.readUInt32BE(r));
            r += 4;
          } else if (prop === 0x01) {
            properties.set(prop, p[r]!);
            r += 1;
          } else assert.fail(`publish property 0x${prop.toString(16)} is not one this broker reads`);
        }
      }
      broker.publishes.push({ topic, qos, level, properties });
      if (id !== undefined && !broker.swallow(topic)) socket.write(Buffer.concat([Buffer.from([0x40, 0x02]), id]));
      return level;
    }
    if (type === 12) socket.write(Buffer.from([0xd0, 0x00])); // PINGREQ
    return level;
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(broker, { url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}` });
}
