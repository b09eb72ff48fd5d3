import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  ProxyEnvelopeSchema,
  ProxyRequestSchema,
  ServiceFrameSchema,
  ServiceRefusedSchema,
  ServiceResumeSchema,
  BootGrantedSchema,
} from '../../proto/gen/dominion/v1/channel_pb.ts';
import { HYPERVISOR_MM, lite, ProtoDecodeError, serviceChannel, SW_HYPERVISOR } from '../../proto/index.ts';

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

test("the service channel's refused and resume frames agree with the generated code", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 64 }), (stream) => {
      const refused = lite.serviceRefused.encode({ stream });
      assert.deepEqual(refused, toBinary(ServiceRefusedSchema, create(ServiceRefusedSchema, { stream })));
      assert.deepEqual(lite.serviceRefused.decode(refused), { stream });
    }),
    { numRuns: 100 },
  );
  assert.deepEqual(lite.serviceResume.encode({}), toBinary(ServiceResumeSchema, create(ServiceResumeSchema, {})));
  assert.deepEqual(lite.bootGranted.encode({}), toBinary(BootGrantedSchema, create(BootGrantedSchema, {})));
  assert.equal(lite.bootGranted.name, BootGrantedSchema.typeName);
  // A newer mm may add fields to ServiceResume: an older service skips them.
  assert.deepEqual(lite.serviceResume.decode(new Uint8Array([0x0a, 0x02, 0x68, 0x69])), {});
  assert.throws(() => lite.serviceResume.decode(new Uint8Array([0x0b])), ProtoDecodeError);
  assert.throws(
    () => lite.serviceResume.decode(new Uint8Array(65)),
    (e: unknown) => e instanceof ProtoDecodeError && e.code === 'oversized',
  );
});

test('the channel table: what crosses each border, in a fixed order (type id = position), within its limit', () => {
  const names = (c: { types: readonly { name: string }[] }) => c.types.map((t) => t.name);
  assert.deepEqual(names(SW_HYPERVISOR), ['dominion.v1.ProxyRequest', 'dominion.v1.ProxyEnvelope', 'dominion.v1.BootGranted']);
  assert.deepEqual(names(HYPERVISOR_MM), ['dominion.v1.ProxyRequest', 'dominion.v1.ProxyEnvelope']);
  const sm = serviceChannel('sensor');
  assert.equal(sm.name, 'mm-sm.sensor');
  assert.deepEqual(sm.between, ['mm', 'sm:sensor']);
  assert.deepEqual(names(sm), ['dominion.v1.ServiceFrame', 'dominion.v1.ServiceRefused', 'dominion.v1.ServiceResume']);
  // Every type's largest message fits its channel's frame (6-byte header).
  for (const c of [SW_HYPERVISOR, HYPERVISOR_MM, sm])
    for (const t of c.types) assert.ok(t.maxBytes + 6 <= c.maxFrameBytes, `${c.name}: ${t.name}`);
  assert.ok(Object.isFrozen(SW_HYPERVISOR) && Object.isFrozen(SW_HYPERVISOR.types));
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
    assert.throws(
      () => lite.proxyRequest.decode(bytes),
      (e: unknown) => e instanceof ProtoDecodeError && e.code === 'malformed',
      what,
    );
  }
  assert.throws(
    () => lite.proxyRequest.decode(new Uint8Array(129)),
    (e: unknown) => e instanceof ProtoDecodeError && e.code === 'oversized',
  );
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
