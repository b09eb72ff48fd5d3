import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  BootRequestSchema,
  BootTicketSchema,
  codecs,
  create,
  decodeBounded,
  MAX_WIRE_BYTES,
  protoCodec,
  ProtoDecodeError,
  ProtoEncodeError,
  SignedEnvelopeSchema,
  TicketReplySchema,
  TicketRequestSchema,
  toBinary,
  tryDecodeBounded,
} from '../../proto/index.ts';
import type { MessageCodec, TicketRequest } from '../../proto/index.ts';
import type { DescMessage } from '@bufbuild/protobuf';
import { sampleEnvelope, sampleServiceRequest } from './fixtures.ts';

const SCHEMAS: DescMessage[] = [SignedEnvelopeSchema, TicketRequestSchema, TicketReplySchema, BootRequestSchema, BootTicketSchema];

function decodeError(fn: () => unknown): ProtoDecodeError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ProtoDecodeError, `expected ProtoDecodeError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected decoding to fail');
}

test('oversized input is rejected before parsing', () => {
  const wire = toBinary(TicketRequestSchema, sampleServiceRequest());
  const error = decodeError(() => decodeBounded(TicketRequestSchema, wire, wire.byteLength - 1));
  assert.equal(error.code, 'oversized');
  assert.equal(error.typeName, 'dominion.v1.TicketRequest');
  assert.match(error.message, /dominion\.v1\.TicketRequest/);
  assert.match(error.message, new RegExp(`${wire.byteLength} bytes exceeds the limit of ${wire.byteLength - 1}`));
  // Exactly at the limit is fine.
  assert.equal(decodeBounded(TicketRequestSchema, wire, wire.byteLength).deviceId, 'board-0042');

  // "Before parsing": a megabyte of garbage that would fail to parse still reports oversized, and the
  // parser never sees it (a Uint8Array whose contents throw when read would otherwise blow up).
  const huge = new Uint8Array(1 << 20).fill(0xff);
  assert.equal(decodeError(() => decodeBounded(TicketRequestSchema, huge, 4096)).code, 'oversized');
  const untouchable = new Proxy(new Uint8Array(10_000), {
    get(target, key, receiver) {
      if (key === 'byteLength') return target.byteLength;
      throw new Error(`parser touched ${String(key)}`);
    },
  });
  assert.equal(decodeError(() => decodeBounded(TicketRequestSchema, untouchable, 4096)).code, 'oversized');
});

test('malformed bytes are rejected with code malformed and a reason', () => {
  const fixed: Array<[string, number[]]> = [
    ['field number 0', [0x00]],
    ['wire type 7', [0x0f]],
    ['length past the end', [0x0a, 0x10, 0x41]],
    ['varint longer than 10 bytes', [0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
    ['unterminated varint', [0x28, 0xff]],
    ['invalid UTF-8 in a string', [0x0a, 0x02, 0xff, 0xfe]],
    ['start group without end', [0x0b]],
    ['stray end group', [0x0c]],
    ['nested groups deeper than the recursion limit', [...Array(20).fill(0x7b), ...Array(20).fill(0x7c)]],
    ['ascii text', [...Buffer.from('{"device_id":"x"}')]],
  ];
  for (const [what, input] of fixed) {
    const error = decodeError(() => decodeBounded(TicketRequestSchema, new Uint8Array(input), 1024));
    assert.equal(error.code, 'malformed', what);
    assert.match(error.message, /^cannot decode dominion\.v1\.TicketRequest: malformed: .+/, what);
  }
});

test('truncated encodings: cut inside a field → malformed; cut between fields → fewer fields, caught by validation', () => {
  const wire = toBinary(TicketRequestSchema, sampleServiceRequest());
  let boundaries = 0;
  for (let n = 0; n < wire.byteLength; n++) {
    const prefix = wire.subarray(0, n);
    const result = tryDecodeBounded(TicketRequestSchema, prefix, 4096);
    if (!result.ok) {
      assert.equal(result.error.code, 'malformed', `cut at ${n}`);
      continue;
    }
    // The prefix parsed: it must end exactly at a top-level field boundary (re-encodes to itself).
    assert.deepStrictEqual(toBinary(TicketRequestSchema, result.message), prefix, `cut at ${n}`);
    boundaries++;
    const checked = codecs.ticketRequest.tryDecode(prefix);
    // Only dropping the trailing uptime_ms (informational) leaves a valid request.
    const lastBoundary = wire.byteLength - toBinary(TicketRequestSchema, create(TicketRequestSchema, { uptimeMs: 86_400_000n })).byteLength;
    if (n === lastBoundary) assert.ok(checked.ok);
    else assert.ok(!checked.ok && checked.error.code === 'invalid', `cut at ${n} should fail validation`);
  }
  assert.equal(boundaries, 5); // empty, after device_id, instance, nonce, runtime
  assert.equal(decodeError(() => decodeBounded(TicketRequestSchema, wire.subarray(0, wire.byteLength - 1), 4096)).code, 'malformed');
});

test('property: decodeBounded on arbitrary bytes returns a message or throws ProtoDecodeError, nothing else', () => {
  for (const schema of SCHEMAS) {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 1, max: 700 }), (input, maxBytes) => {
        try {
          decodeBounded(schema, input, maxBytes);
          return input.byteLength <= maxBytes;
        } catch (error) {
          return error instanceof ProtoDecodeError && input.byteLength > maxBytes === (error.code === 'oversized');
        }
      }),
      { numRuns: 500 },
    );
  }
});

test('property: bit-flipped valid encodings decode or fail with ProtoDecodeError', () => {
  const wire = toBinary(SignedEnvelopeSchema, sampleEnvelope());
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(wire.byteLength - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }),
      (flips) => {
        const mutated = wire.slice();
        for (const [at, mask] of flips) mutated[at] ^= mask;
        for (const codec of [codecs.signedEnvelope, codecs.ticketRequest]) {
          try {
            codec.decode(mutated);
          } catch (error) {
            if (!(error instanceof ProtoDecodeError)) return false;
          }
        }
        return true;
      },
    ),
    { numRuns: 1000 },
  );
});

test('non-byte input is invalid, not a crash; a bad limit is a programming error', () => {
  const notBytes = [null, undefined, 'abc', 42, {}, new ArrayBuffer(4), new Uint16Array(2)] as unknown as Uint8Array[];
  for (const input of notBytes) {
    assert.equal(decodeError(() => decodeBounded(TicketRequestSchema, input, 64)).code, 'invalid');
  }
  assert.ok(decodeBounded(TicketRequestSchema, Buffer.from([0x0a, 0x01, 0x78]), 64).deviceId === 'x');
  for (const limit of [0, -1, 1.5, Number.NaN, Infinity]) {
    assert.throws(() => decodeBounded(TicketRequestSchema, new Uint8Array(), limit), RangeError);
    assert.throws(() => protoCodec(TicketRequestSchema, limit), RangeError);
  }
});

test('unknown fields are dropped, not carried along', () => {
  const wire = toBinary(TicketRequestSchema, sampleServiceRequest());
  // Append field 99 (length-delimited, "junk") and a nested group field 100.
  const junk = new Uint8Array([0x9a, 0x06, 0x04, 0x6a, 0x75, 0x6e, 0x6b, 0xa3, 0x06, 0x08, 0x01, 0xa4, 0x06]);
  const withJunk = new Uint8Array([...wire, ...junk]);
  const decoded = decodeBounded(TicketRequestSchema, withJunk, 4096);
  assert.equal(decoded.$unknown, undefined);
  assert.deepStrictEqual(toBinary(TicketRequestSchema, decoded), wire);
});

test("decoded bytes fields never alias the caller's buffer", () => {
  const frame = toBinary(TicketRequestSchema, sampleServiceRequest());
  const decoded = decodeBounded(TicketRequestSchema, frame, 4096);
  const nonce = decoded.nonce.slice();
  frame.fill(0); // the transport reuses its buffer for the next frame
  assert.deepStrictEqual(decoded.nonce, nonce);
});

test('protoCodec has the MessageCodec shape, enforces its limit both ways and validates on decode', () => {
  const codec: MessageCodec<TicketRequest> = codecs.ticketRequest;
  assert.equal(codec.name, 'dominion.v1.TicketRequest');
  assert.equal(codecs.ticketRequest.maxBytes, MAX_WIRE_BYTES.ticketRequest);
  const msg = sampleServiceRequest();
  assert.deepStrictEqual(codec.decode(codec.encode(msg)), msg);

  const tiny = protoCodec(TicketRequestSchema, 100);
  assert.throws(
    () => tiny.encode(msg),
    (e: unknown) => e instanceof ProtoEncodeError && /dominion\.v1\.TicketRequest/.test(e.message),
  );
  assert.equal(decodeError(() => tiny.decode(toBinary(TicketRequestSchema, msg))).code, 'oversized');

  const bad = create(TicketRequestSchema, { ...msg, nonce: new Uint8Array(31) });
  const error = decodeError(() => codec.decode(toBinary(TicketRequestSchema, bad)));
  assert.equal(error.code, 'invalid');
  assert.deepStrictEqual(
    error.problems.map((p) => p.field),
    ['nonce'],
  );
  assert.match(error.message, /dominion\.v1\.TicketRequest: invalid: nonce: must be exactly 32 bytes, got 31/);
  // Without a validator, the same bytes decode.
  assert.equal(protoCodec(TicketRequestSchema, 4096).decode(toBinary(TicketRequestSchema, bad)).nonce.byteLength, 31);
});
