/**
 * What a client asks for in its CONNECT (actors/mqtt/connect.ts), read off the wire by a listener that
 * parses just that packet: on MQTT 5, Receive Maximum (how many requests the broker may have in flight
 * to a hub: its overload bound, docs/ARCHITECTURE.md §7, "Overload") and Maximum Packet Size; on
 * MQTT 3.1.1, no properties at all.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { connectMqtt, type ConnectMqttOptions } from '../../actors/mqtt/index.ts';
import { RECEIVE_MAXIMUM } from '../../actors/hub/hub-server.ts';

interface Connect {
  readonly level: number;
  /** MQTT 5 CONNECT properties by identifier (two- and four-byte integers only; others are skipped). */
  readonly properties: ReadonlyMap<number, number>;
}

function varint(b: Buffer, at: number): [value: number, next: number] {
  let value = 0;
  for (let shift = 0; ; shift += 7) {
    const byte = b[at++]!;
    value += (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [value, at];
  }
}

/** The CONNECT's level and properties, from the first packet a client sends. */
function parseConnect(b: Buffer): Connect {
  assert.equal(b[0]! >> 4, 1, 'the first packet is a CONNECT');
  let [, at] = varint(b, 1);
  const nameLength = b.readUInt16BE(at);
  at += 2 + nameLength;
  const level = b[at]!;
  at += 1 + 1 + 2; // level, flags, keep-alive
  const properties = new Map<number, number>();
  if (level !== 5) return { level, properties };
  const [length, start] = varint(b, at);
  const sizes: Record<number, number> = { 0x11: 4, 0x21: 2, 0x22: 2, 0x27: 4, 0x17: 1, 0x19: 1 };
  for (let p = start; p < start + length;) {
    const id = b[p++]!;
    const size = sizes[id];
    assert.ok(size !== undefined, `property 0x${id.toString(16)} is one this test knows`);
    properties.set(id, size === 4 ? b.readUInt32BE(p) : size === 2 ? b.readUInt16BE(p) : b[p]!);
    p += size;
  }
  return { level, properties };
}

async function connectOf(options: ConnectMqttOptions): Promise<Connect> {
  const server = createServer();
  const first = new Promise<Buffer>((resolve) =>
    server.on('connection', (socket) => {
      let got = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        const [length, at] = got.length > 1 ? varint(got, 1) : [Infinity, 0];
        if (got.length >= at + length) {
          resolve(got);
          socket.destroy();
        }
      });
    }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = connectMqtt(`mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, { ...options, reconnectPeriodMs: 0 });
  try {
    return parseConnect(await first);
  } finally {
    client.end(true);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('CONNECT properties', () => {
  it('MQTT 5: Receive Maximum and Maximum Packet Size are asked for as given', async () => {
    const c = await connectOf({ protocolVersion: 5, receiveMaximum: RECEIVE_MAXIMUM, maximumPacketSize: 96 * 1024 });
    assert.equal(c.level, 5);
    assert.equal(c.properties.get(0x21), RECEIVE_MAXIMUM);
    assert.equal(c.properties.get(0x27), 96 * 1024);
  });

  it("MQTT 5 without them: MQTT.js's defaults, no Receive Maximum of ours", async () => {
    const c = await connectOf({ protocolVersion: 5 });
    assert.equal(c.level, 5);
    assert.notEqual(c.properties.get(0x21), RECEIVE_MAXIMUM);
  });

  it('MQTT 3.1.1 has no properties to ask with: the options are dropped, not sent malformed', async () => {
    const c = await connectOf({ protocolVersion: 4, receiveMaximum: 16, maximumPacketSize: 1024 });
    assert.equal(c.level, 4);
    assert.equal(c.properties.size, 0);
  });
});
