/**
 * Channel ends in two "processes" joined by a byte stream (runtime/stream-link.ts): frames cross as
 * bytes in arbitrary chunks, a lying length prefix is refused and counted without losing the stream,
 * a backed-up stream refuses sends instead of queueing without bound, a closed one refuses as closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChannelEndpoint, createTestKit, defineChannel, linkStream, rawCodec, type ByteStream } from '../../runtime/index.ts';

/** One direction of an in-memory stream; `chunk` splits every write into pieces of that size. */
class FakeStream implements ByteStream {
  writableLength = 0;
  destroyed = false;
  peer: FakeStream | null = null;
  written: Uint8Array[] = [];
  held = false;
  private data: Array<(c: Uint8Array) => void> = [];
  private close: Array<() => void> = [];

  constructor(private readonly chunk = 3) {}

  write(bytes: Uint8Array): boolean {
    this.written.push(bytes.slice());
    if (this.held) {
      this.writableLength += bytes.length;
      return false;
    }
    for (let i = 0; i < bytes.length; i += this.chunk) this.peer!.emit(bytes.slice(i, i + this.chunk));
    return true;
  }

  emit(chunk: Uint8Array): void {
    for (const l of this.data) l(chunk);
  }

  end(): void {
    this.destroyed = true;
    for (const l of this.close) l();
  }

  on(event: 'data' | 'close', listener: ((c: Uint8Array) => void) | (() => void)): this {
    if (event === 'data') this.data.push(listener as (c: Uint8Array) => void);
    else this.close.push(listener as () => void);
    return this;
  }
}

function setup() {
  const kit = createTestKit();
  const left = kit.system.domain('left', { priority: 1 });
  const right = kit.system.domain('right', { priority: 2 });
  const blob = rawCodec('test.Blob');
  const spec = defineChannel({ name: 'lr', types: [blob], maxFrameBytes: 64 });
  const a = new ChannelEndpoint(spec, left, 4, 'a');
  const b = new ChannelEndpoint(spec, right, 4, 'b');
  const ab = new FakeStream();
  const ba = new FakeStream();
  ab.peer = ba;
  ba.peer = ab;
  const la = linkStream(a, ab, { maxBufferedBytes: 32 });
  const lb = linkStream(b, ba);
  left.start();
  right.start();
  const got = kit.probe<Uint8Array>('rx');
  b.route(blob, got, (m) => m);
  return { kit, a, b, blob, ab, ba, la, lb, got };
}

test('frames cross a stream in small chunks and arrive whole, decoded on the receiving side', () => {
  const { kit, a, b, blob, got } = setup();
  assert.equal(a.send(blob, Uint8Array.of(1, 2, 3, 4, 5)), true);
  assert.equal(a.send(blob, Uint8Array.of(9)), true);
  kit.run();
  assert.deepEqual(
    got.take().map((m) => [...m]),
    [[1, 2, 3, 4, 5], [9]],
  );
  assert.equal(a.counters.sent, 2);
  assert.equal(b.counters.delivered, 2);
});

test('a frame declaring more than the limit is refused and counted; the stream stays in step', () => {
  const { kit, b, ba, lb, got } = setup();
  const lie = new Uint8Array(4 + 2 + 100);
  new DataView(lie.buffer).setUint32(0, 2 + 100);
  ba.emit(lie.subarray(0, 10));
  ba.emit(lie.subarray(10));
  const ok = Uint8Array.of(0, 0, 0, 3, 0, 0, 7); // a valid frame of type 0 with payload [7]
  ba.emit(ok);
  kit.run();
  assert.equal(lb.framingErrors(), 1);
  assert.equal(b.counters.oversized, 1);
  assert.deepEqual(
    got.take().map((m) => [...m]),
    [[7]],
  );
});

test('a stream backed up past its limit refuses sends as receiver-full; a closed one as closed', () => {
  const { a, ab, blob } = setup();
  ab.held = true; // the peer stops reading: bytes pile up unsent
  let accepted = 0;
  for (let i = 0; i < 10; i++) if (a.send(blob, new Uint8Array(10))) accepted++;
  assert.ok(accepted >= 1 && accepted < 10, `accepted ${accepted}`);
  assert.equal(a.counters['receiver-full'], 10 - accepted);
  ab.held = false;
  ab.writableLength = 0;
  ab.end();
  assert.equal(a.send(blob, Uint8Array.of(1)), false);
  assert.equal(a.counters.closed, 1);
});

test('frames arriving while the receiving domain is stopped are counted as closed, not lost silently', () => {
  const { kit, a, b, blob, got } = setup();
  b.domain.stop();
  a.send(blob, Uint8Array.of(1));
  kit.run();
  assert.equal(got.received.length, 0);
  assert.equal(b.counters.closed, 1);
});
