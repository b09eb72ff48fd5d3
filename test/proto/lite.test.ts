import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ProxyEnvelopeSchema, ProxyRequestSchema, ServiceFrameSchema } from '../../proto/gen/dominion/v1/channel_pb.ts';
import { lite, ProtoDecodeError } from '../../proto/index.ts';

test('lite codecs and the generated code agree on the wire, both ways', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 40 }), fc.uint8Array({ maxLength: 300 }), (instance, envelope) => {
      const viaLite = lite.proxyEnvelope.encode({ instance, envelope });
      assert.deepEqual(viaLite, toBinary(ProxyEnvelopeSchema, create(ProxyEnvelopeSchema, { instance, envelope })));
      const back = fromBinary(ProxyEnvelopeSchema, viaLite);
      assert.equal(back.instance, instance);
      assert.deepEqual(back.envelope, envelope);
      assert.deepEqual(lite.proxyEnvelope.decode(viaLite), { instance, envelope });
      const req = lite.proxyRequest.encode({ instance });
      assert.deepEqual(req, toBinary(ProxyRequestSchema, create(ProxyRequestSchema, { instance })));
      const frame = toBinary(ServiceFrameSchema, create(ServiceFrameSchema, { stream: instance, payload: envelope }));
      assert.deepEqual(lite.serviceFrame.decode(frame), { stream: instance, payload: envelope });
      assert.equal(lite.serviceFrame.encodedSize({ stream: instance, payload: envelope }), frame.length);
    }),
    { numRuns: 300 },
  );
});

test('lite decoding skips unknown fields and refuses malformed or oversized input with ProtoDecodeError', () => {
  // unknown varint field 9 = 150, then instance "mm"
  assert.deepEqual(lite.proxyRequest.decode(new Uint8Array([0x48, 0x96, 0x01, 0x0a, 0x02, 0x6d, 0x6d])), { instance: 'mm' });
  const bad: Array<[string, Uint8Array]> = [
    ['truncated length', new Uint8Array([0x0a, 0x05, 0x61])],
    ['group wire type', new Uint8Array([0x0b])],
    ['field zero', new Uint8Array([0x02, 0x00])],
    ['wrong wire type for field 1', new Uint8Array([0x08, 0x01])],
    ['invalid utf-8', new Uint8Array([0x0a, 0x01, 0xff])],
    ['endless varint', new Uint8Array(12).fill(0xff)],
  ];
  for (const [what, bytes] of bad) {
    assert.throws(() => lite.proxyRequest.decode(bytes), (e: unknown) => e instanceof ProtoDecodeError && e.code === 'malformed', what);
  }
  assert.throws(() => lite.proxyRequest.decode(new Uint8Array(129)), (e: unknown) => e instanceof ProtoDecodeError && e.code === 'oversized');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try {
        lite.proxyEnvelope.decode(bytes);
      } catch (e) {
        assert.ok(e instanceof ProtoDecodeError, String(e));
      }
    }),
    { numRuns: 500 },
  );
});
