/**
 * The table-driven codec (proto/lite-wire.ts, proto/lite-messages.ts) against the generated code it
 * stands in for in `sw` and the AWDTs:
 *
 * - every table mirrors its generated descriptor (field numbers, names, types, oneofs, lists);
 * - `createLite`, `toBinaryLite` and `fromBinaryLite` give what `create`, `toBinary` and `fromBinary`
 *   give, for arbitrary messages (property tests, both directions);
 * - for malformed, truncated, mutated and junk input, both decoders accept the same inputs with the
 *   same result and refuse the rest with the same error; the bounded codecs agree on
 *   `oversized`/`malformed`/`invalid`, the detail and the validator's problems;
 * - the golden vectors decode and re-encode byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import * as proto from '../../proto/index.ts';
import {
  codecs,
  create,
  createLite,
  fromBinary,
  fromBinaryLite,
  LITE_MESSAGES,
  ProtoDecodeError,
  ProtoEncodeError,
  RECURSION_LIMIT,
  ResetReason,
  ResetReasonSchema,
  toBinary,
  toBinaryLite,
  UpdateState,
  UpdateStateSchema,
  WithholdReason,
  WithholdReasonSchema,
  type BoundedCodec,
  type LiteMessage,
} from '../../proto/index.ts';
import { BOOL, BYTES, ENUM, STRING, UINT32, UINT64 } from '../../proto/lite-wire.ts';
import {
  sampleBootRequest,
  sampleBootTicket,
  sampleDeviceRequest,
  sampleEnvelope,
  sampleServiceRequest,
  sampleTicketReply,
  sampleUpdateReply,
  sampleWithheldReply,
} from './fixtures.ts';

type Msg = proto.MessageShape<DescMessage>;

/** Every generated message schema, by type name. */
const SCHEMAS = new Map<string, DescMessage>(
  (Object.values(proto) as unknown[])
    .filter((v): v is DescMessage => typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'message')
    .map((d) => [d.typeName, d]),
);
const schemaOf = (table: LiteMessage): DescMessage => {
  const desc = SCHEMAS.get(table.typeName);
  assert.ok(desc, `no generated schema for ${table.typeName}`);
  return desc;
};

/** Every table, nested ones included. */
function allTables(): LiteMessage[] {
  const seen = new Map<string, LiteMessage>();
  const walk = (t: LiteMessage): void => {
    if (seen.has(t.typeName)) return;
    seen.set(t.typeName, t);
    for (const [, , kind] of t.fields) if (typeof kind === 'object') walk(kind);
  };
  LITE_MESSAGES.forEach(walk);
  return [...seen.values()];
}

const SCALAR_KIND: Partial<Record<ScalarType, number>> = {
  [ScalarType.STRING]: STRING,
  [ScalarType.BYTES]: BYTES,
  [ScalarType.BOOL]: BOOL,
  [ScalarType.UINT32]: UINT32,
  [ScalarType.UINT64]: UINT64,
};

test('every table mirrors its generated descriptor, and every top-level message has one', () => {
  const tables = allTables();
  for (const table of tables) {
    const desc = schemaOf(table);
    const where = table.typeName;
    assert.equal(desc.file.edition, 999, `${where}: proto3`); // implicit presence, open enums
    assert.deepEqual(
      table.fields.map((f) => f[0]),
      desc.fields.map((f) => f.number),
      `${where}: the same fields, in declaration order`,
    );
    assert.deepEqual(
      table.fields.map((f) => f[0]),
      [...table.fields.map((f) => f[0])].sort((a, b) => a - b),
      `${where}: in field-number order`,
    );
    table.fields.forEach(([no, name, kind, extra], i) => {
      const f: DescField = desc.fields[i]!;
      const at = `${where}.${f.name} (${no})`;
      assert.equal(name, f.localName, at);
      assert.equal(typeof extra === 'string' ? extra : undefined, f.oneof?.localName, `${at}: oneof`);
      assert.equal(extra === true, f.fieldKind === 'list', `${at}: repeated`);
      const messageOf = f.fieldKind === 'message' ? f.message : f.fieldKind === 'list' && f.listKind === 'message' ? f.message : undefined;
      if (messageOf !== undefined) {
        assert.equal(typeof kind === 'object' && kind.typeName, messageOf.typeName, `${at}: message type`);
        assert.ok(!(f as { delimitedEncoding?: boolean }).delimitedEncoding, `${at}: length-prefixed`);
      } else if (f.fieldKind === 'enum') {
        assert.equal(kind, ENUM, at);
        assert.ok(f.enum.open, `${at}: open enum`);
      } else if (f.fieldKind === 'scalar') {
        assert.equal(kind, SCALAR_KIND[f.scalar], `${at}: scalar type ${ScalarType[f.scalar]}`);
        assert.ok(f.presence === 2 /* IMPLICIT */, `${at}: implicit presence`);
        if (f.scalar === ScalarType.STRING) assert.ok(f.utf8Validation !== false, `${at}: UTF-8 checked`);
      } else assert.fail(`${at}: a ${f.fieldKind} field the table cannot hold`);
    });
  }
  // The top-level messages: exactly those with a generated codec (codecs.ts).
  assert.deepEqual(
    LITE_MESSAGES.map((t) => t.typeName),
    Object.values(codecs).map((c) => c.name),
  );
});

test("validate.ts checks enums by the generated TypeScript enums: they hold exactly the descriptors' values", () => {
  for (const [values, desc] of [
    [ResetReason, ResetReasonSchema],
    [UpdateState, UpdateStateSchema],
    [WithholdReason, WithholdReasonSchema],
  ] as const) {
    const numbers = Object.keys(values)
      .filter((k) => typeof (values as Record<string, unknown>)[k] === 'string')
      .map(Number)
      .sort((a, b) => a - b);
    assert.deepEqual(
      numbers,
      desc.values.map((v) => v.number).sort((a, b) => a - b),
      desc.name,
    );
  }
});

// ── Arbitrary messages, built from the generated descriptors (not from the tables under test) ──────

const anyString = fc.oneof(
  fc.constant(''),
  fc.string({ maxLength: 24 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constantFrom('\ufeffbom', 'lone \ud800 high', 'lone \udc00 low', 'x'.repeat(200)),
);

function scalarArb(f: DescField & { fieldKind: 'scalar' | 'enum' }): fc.Arbitrary<unknown> {
  if (f.fieldKind === 'enum')
    return fc.oneof(fc.constantFrom(...f.enum.values.map((v) => v.number)), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
  switch (f.scalar) {
    case ScalarType.STRING:
      return anyString;
    case ScalarType.BYTES:
      return fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 70 }), fc.uint8Array({ minLength: 128, maxLength: 300 }));
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.UINT32:
      return fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 0xffffffff }));
    case ScalarType.UINT64:
      return fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 300n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
    default:
      throw new Error(`no arbitrary for ${ScalarType[f.scalar]}`);
  }
}

/** An init object for `desc`: any subset of its fields, with values anywhere in their types' ranges. */
function initArb(desc: DescMessage): fc.Arbitrary<Record<string, unknown>> {
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  const single = (f: DescField): fc.Arbitrary<unknown> =>
    f.fieldKind === 'message' || (f.fieldKind === 'list' && f.listKind === 'message')
      ? fc.constant(null).chain(() => initArb(f.message!))
      : scalarArb(f as DescField & { fieldKind: 'scalar' | 'enum' });
  for (const member of desc.members) {
    if (member.kind === 'oneof') {
      parts[member.localName] = fc.oneof(
        fc.constant({ case: undefined }),
        ...member.fields.map((f) => single(f).map((value) => ({ case: f.localName, value }))),
      );
    } else if (member.fieldKind === 'list') parts[member.localName] = fc.array(single(member), { maxLength: 3 });
    else parts[member.localName] = fc.oneof({ arbitrary: single(member), weight: 9 }, { arbitrary: fc.constant(null), weight: 1 }); // null: unset
  }
  return fc.record(parts, { requiredKeys: [] });
}

const DECODE_OPTIONS = { readUnknownFields: false, recursionLimit: RECURSION_LIMIT } as const;

const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const varint = (n: number | bigint): Uint8Array => {
  const out: number[] = [];
  let v = BigInt(n);
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
};

/** What a decoder made of some bytes: the message, or the error's message. */
function outcome(decode: () => unknown): { ok: true; message: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, message: decode() };
  } catch (e) {
    return { ok: false, error: e instanceof Error ? e.message : String(e) };
  }
}

/** Both decoders on the same bytes: the same message, or the same refusal. */
function sameDecoding(table: LiteMessage, desc: DescMessage, bytes: Uint8Array): void {
  const viaLite = outcome(() => fromBinaryLite(table, bytes));
  const viaGenerated = outcome(() => fromBinary(desc, bytes, DECODE_OPTIONS));
  assert.deepStrictEqual(viaLite, viaGenerated, `${table.typeName} from ${Buffer.from(bytes).toString('hex')}`);
}

/**
 * Junk that reaches every branch of the reader: records with any field number (0, known, unknown) and
 * any wire type (6 and 7 too), varints of any length, lengths past the end, groups (nested, unclosed,
 * mismatched), and nested messages whose fields run past their declared length.
 */
const record: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 7 }), fc.uint8Array({ maxLength: 12 }))
    .map(([no, wt, rest]) => concat(varint((no << 3) | wt), rest)),
  fc
    .tuple(fc.integer({ min: 1, max: 13 }), fc.uint8Array({ maxLength: 20 }))
    .map(([no, body]) => concat(varint((no << 3) | 2), varint(body.length), body)),
  fc
    .tuple(fc.integer({ min: 1, max: 13 }), fc.integer({ min: 0, max: 12 }), fc.boolean())
    .map(([no, extra, end]) => concat(varint((no << 3) | 0), new Uint8Array(extra).fill(0x80), end ? Uint8Array.of(1) : new Uint8Array(0))),
  fc
    .tuple(fc.integer({ min: 1, max: 13 }), fc.uint8Array({ minLength: 4, maxLength: 9 }), fc.integer({ min: 0, max: 0x7f }))
    .map(([no, middle, last]) =>
      concat(
        varint(no << 3),
        middle.map((b) => b | 0x80),
        Uint8Array.of(last),
      ),
    ), // 6–11-byte varints
  fc
    .tuple(fc.integer({ min: 1, max: 13 }), fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 14 }))
    .map(([no, depth, closeAs]) =>
      concat(
        ...Array.from({ length: depth }, () => varint((no << 3) | 3)),
        ...Array.from({ length: depth }, (_, i) => varint(((i === 0 ? closeAs || no : no) << 3) | 4)),
      ),
    ),
  fc.constantFrom(
    Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x10), // a tag past uint32
    Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f), // the largest tag
    Uint8Array.of(0x22, 0x02, 0x0a, 0x05, 0x61, 0x62, 0x63, 0x64, 0x65), // field 4 runs past its length
    Uint8Array.of(0x2a, 0xff, 0xff, 0xff, 0xff, 0x0f), // a length of 2^32 − 1
  ),
);
const junk = fc.array(record, { maxLength: 6 }).map((rs) => concat(...rs));

/** A valid encoding, then cut, bit-flipped, spliced with junk or appended to. */
function mutated(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(valid, fc.nat(), fc.integer({ min: 0, max: 255 }), junk, fc.integer({ min: 0, max: 3 }))
    .map(([b, at, byte, extra, how]) => {
      const i = b.length === 0 ? 0 : at % b.length;
      switch (how) {
        case 0:
          return b.subarray(0, i);
        case 1: {
          const c = b.slice();
          if (c.length > 0) c[i] ^= byte || 1;
          return c;
        }
        case 2:
          return concat(b.subarray(0, i), extra, b.subarray(i));
        default:
          return concat(b, extra);
      }
    });
}

for (const table of LITE_MESSAGES) {
  const name = table.typeName.replace('dominion.v1.', '');

  test(`${name}: createLite, toBinaryLite and fromBinaryLite agree with the generated code`, () => {
    const desc = schemaOf(table);
    fc.assert(
      fc.property(initArb(desc), (init) => {
        const generated = create(desc, init) as Msg;
        assert.deepStrictEqual(createLite(table, init as never), generated, 'create');
        const bytes = toBinary(desc, generated);
        assert.deepStrictEqual(toBinaryLite(table, createLite(table, init as never)), bytes, 'lite encode → the same bytes');
        assert.deepStrictEqual(toBinaryLite(table, generated), bytes, 'lite encodes a generated message');
        assert.deepStrictEqual(fromBinaryLite(table, bytes), fromBinary(desc, bytes, DECODE_OPTIONS), 'lite decode of generated bytes');
        assert.deepStrictEqual(fromBinary(desc, toBinaryLite(table, generated), DECODE_OPTIONS), fromBinaryLite(table, bytes), 'both ways');
      }),
      { numRuns: 300 },
    );
  });

  test(`${name}: malformed, truncated and junk input is refused by both decoders alike, or read alike`, () => {
    const desc = schemaOf(table);
    const valid = initArb(desc).map((init) => toBinary(desc, create(desc, init) as Msg));
    fc.assert(
      fc.property(fc.oneof(junk, mutated(valid), fc.uint8Array({ maxLength: 40 })), (bytes) => sameDecoding(table, desc, bytes)),
      { numRuns: 600 },
    );
  });
}

test('known edge cases decode alike: wire-type mismatch, merging, overruns, long varints, groups, recursion', () => {
  const reply = schemaOf(LITE_MESSAGES[2]!);
  const request = schemaOf(LITE_MESSAGES[1]!);
  const cases: Array<[DescMessage, number[]]> = [
    [reply, [0x08, 0x05]], // field 1 (a string) sent as a varint: read as a string of length 5 → EOF
    [reply, [0x0d, 0x01, 0x41]], // field 1 with wire type 5: still read as a string
    [reply, [0x22, 0x02, 0x20, 0x05, 0x22, 0x02, 0x28, 0x07]], // ticket twice: merged
    [reply, [0x22, 0x02, 0x20, 0x05, 0x2a, 0x00, 0x22, 0x02, 0x28, 0x07]], // another case between: replaced
    [request, [0x22, 0x02, 0x0a, 0x05, 0x08, 0x01, 0x10, 0x02, 0x18]], // a nested message running past its length
    [reply, [0x48, ...new Array(15).fill(0xff), 0x01, 0x0a, 0x01, 0x41]], // an unknown varint of 17 bytes is skipped
    [request, [0x28, ...new Array(9).fill(0xff), 0x7f]], // a 10-byte uint64 with bits past 64: truncated
    [request, [0x28, ...new Array(10).fill(0xff), 0x01]], // an 11-byte one
    [schemaOf(LITE_MESSAGES[4]!), [0x20, ...new Array(9).fill(0xff), 0x7f]], // a uint32 sent in ten bytes
    [request, [0x22, 0x09, 0x0a, 0x07, 0x38, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]], // runtime.device.recovery: only bit 35 set
    [request, [0x22, 0x04, 0x0a, 0x02, 0x38, 0x02]], // a bool of 2
    [reply, [0x4b, 0x4b, 0x4b, 0x4c, 0x4c, 0x4c]], // nested unknown groups
    [reply, [...new Array(8).fill(0x4b), ...new Array(8).fill(0x4c)]], // deeper than the recursion limit
    [reply, [0x4b, 0x54]], // a group closed by another field's end tag
    [reply, [0x4c]], // an end tag alone
    [reply, [0x0a, 0x03, 0xef, 0xbb, 0xbf]], // a leading U+FEFF is kept
    [reply, [0x0a, 0x02, 0xc3, 0x28]], // invalid UTF-8
    [reply, [0x00]], // field 0
    [reply, [0x0f]], // wire type 7
  ];
  for (const [desc, bytes] of cases) {
    const table = LITE_MESSAGES.find((t) => t.typeName === desc.typeName)!;
    sameDecoding(table, desc, Uint8Array.from(bytes));
  }
});

// ── The bounded, validating codecs ─────────────────────────────────────────────────────────────────

const PAIRS: Array<[BoundedCodec<Msg>, BoundedCodec<Msg>, () => Msg]> = [
  [proto.signedEnvelopeLiteCodec as BoundedCodec<Msg>, codecs.signedEnvelope as BoundedCodec<Msg>, sampleEnvelope],
  [proto.ticketRequestLiteCodec as BoundedCodec<Msg>, codecs.ticketRequest as BoundedCodec<Msg>, sampleDeviceRequest],
  [proto.ticketRequestLiteCodec as BoundedCodec<Msg>, codecs.ticketRequest as BoundedCodec<Msg>, sampleServiceRequest],
  [proto.ticketReplyLiteCodec as BoundedCodec<Msg>, codecs.ticketReply as BoundedCodec<Msg>, sampleTicketReply],
  [proto.ticketReplyLiteCodec as BoundedCodec<Msg>, codecs.ticketReply as BoundedCodec<Msg>, sampleWithheldReply],
  [proto.ticketReplyLiteCodec as BoundedCodec<Msg>, codecs.ticketReply as BoundedCodec<Msg>, sampleUpdateReply],
  [proto.bootRequestLiteCodec as BoundedCodec<Msg>, codecs.bootRequest as BoundedCodec<Msg>, sampleBootRequest],
  [proto.bootTicketLiteCodec as BoundedCodec<Msg>, codecs.bootTicket as BoundedCodec<Msg>, sampleBootTicket],
];

/** The lite codecs, in the order of LITE_MESSAGES and of `codecs`. */
const LITE_CODECS = [
  proto.signedEnvelopeLiteCodec,
  proto.ticketRequestLiteCodec,
  proto.ticketReplyLiteCodec,
  proto.bootRequestLiteCodec,
  proto.bootTicketLiteCodec,
  proto.imageRequestLiteCodec,
  proto.imageChunkLiteCodec,
  proto.serviceMessageLiteCodec,
  proto.serviceSealLiteCodec,
] as unknown as BoundedCodec<Msg>[];
const GENERATED_CODECS = Object.values(codecs) as unknown as BoundedCodec<Msg>[];

/** A codec's verdict, comparable across codecs. */
function verdict(codec: BoundedCodec<Msg>, bytes: Uint8Array): unknown {
  const r = codec.tryDecode(bytes);
  if (r.ok) return { ok: true, message: r.message };
  return { ok: false, code: r.error.code, typeName: r.error.typeName, detail: r.error.detail, problems: r.error.problems };
}

test('the lite codecs have the names and frame limits of the generated ones', () => {
  assert.deepEqual(
    LITE_CODECS.map((c) => [c.name, c.maxBytes]),
    GENERATED_CODECS.map((c) => [c.name, c.maxBytes]),
  );
  assert.deepEqual(
    LITE_CODECS.map((c) => c.name),
    LITE_MESSAGES.map((t) => t.typeName),
  );
});

test('lite and generated codecs give the same verdict: ok, oversized, malformed or invalid with the same problems', () => {
  for (const [lite, generated, sample] of PAIRS) {
    const bytes = toBinary(SCHEMAS.get(lite.name)!, sample());
    const ok = verdict(lite, bytes);
    assert.deepStrictEqual(ok, verdict(generated, bytes), lite.name);
    assert.equal((ok as { ok: boolean }).ok, true, `${lite.name}: the sample is valid`);
    assert.deepStrictEqual(lite.encode(lite.decode(bytes)), bytes, `${lite.name}: re-encodes byte for byte`);
    fc.assert(
      fc.property(mutated(fc.constant(bytes)), (b) => {
        assert.deepStrictEqual(verdict(lite, b), verdict(generated, b));
      }),
      { numRuns: 300 },
    );
    // Oversized before parsing; not a byte array.
    const big = new Uint8Array(lite.maxBytes + 1);
    assert.deepStrictEqual(verdict(lite, big), verdict(generated, big));
    assert.equal(lite.tryDecode(big).ok === false && (lite.tryDecode(big) as { error: ProtoDecodeError }).error.code, 'oversized');
    const notBytes = 'abc' as unknown as Uint8Array;
    assert.deepStrictEqual(verdict(lite, notBytes), verdict(generated, notBytes));
    assert.throws(
      () => lite.decode(big),
      (e: unknown) => e instanceof ProtoDecodeError && e.code === 'oversized',
    );
  }
});

test('arbitrary (mostly invalid) messages get the same verdict from both codecs', () => {
  LITE_MESSAGES.forEach((table, i) => {
    const desc = schemaOf(table);
    const [lite, generated] = [LITE_CODECS[i]!, GENERATED_CODECS[i]!];
    fc.assert(
      fc.property(initArb(desc), (init) => {
        const bytes = toBinary(desc, create(desc, init) as Msg);
        assert.deepStrictEqual(verdict(lite, bytes), verdict(generated, bytes));
      }),
      { numRuns: 150 },
    );
  });
});

test('encoding over the frame limit throws ProtoEncodeError from both; values out of range throw from both', () => {
  const env = create(proto.SignedEnvelopeSchema, { payload: new Uint8Array(proto.MAX_WIRE_BYTES.signedEnvelope) });
  assert.throws(() => proto.signedEnvelopeLiteCodec.encode(env), ProtoEncodeError);
  assert.throws(() => codecs.signedEnvelope.encode(env), ProtoEncodeError);
  const bad: Array<[DescMessage, LiteMessage, Record<string, unknown>]> = [
    [proto.DeferralTicketSchema, proto.DeferralTicketLite, { deferralMs: -1 }],
    [proto.DeferralTicketSchema, proto.DeferralTicketLite, { deferralMs: 2 ** 32 }],
    [proto.DeferralTicketSchema, proto.DeferralTicketLite, { deferralMs: 1.5 }],
    [proto.DeferralTicketSchema, proto.DeferralTicketLite, { issuedAtMs: -1n }],
    [proto.DeferralTicketSchema, proto.DeferralTicketLite, { issuedAtMs: 2n ** 64n }],
    [proto.WithheldSchema, proto.WithheldLite, { reason: 2 ** 31 }],
    [proto.SignedEnvelopeSchema, proto.SignedEnvelopeLite, { payload: 'not bytes' }],
  ];
  for (const [desc, table, init] of bad) {
    const msg = { ...(create(desc) as Msg), ...init } as Msg;
    assert.throws(() => toBinary(desc, msg), `generated: ${JSON.stringify(init, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))}`);
    assert.throws(() => toBinaryLite(table, msg), /cannot encode field/);
  }
  // A message of another type is refused, as by the generated code.
  assert.throws(() => toBinaryLite(proto.TicketReplyLite, create(proto.TicketRequestSchema) as never));
  // A negative enum value is written in ten bytes, as generated.
  const negative = create(proto.WithheldSchema, { reason: -2 as WithholdReason });
  assert.deepStrictEqual(toBinaryLite(proto.WithheldLite, negative), toBinary(proto.WithheldSchema, negative));
});

test('the golden vectors decode with the lite codecs to what the generated ones give, and re-encode byte for byte', () => {
  const vectors = JSON.parse(readFileSync(new URL('../vectors/ticket-v1.json', import.meta.url), 'utf8')) as Record<
    string,
    { payload: string; envelope: string; context: string }
  >;
  const fromHex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));
  for (const key of ['request', 'ticketReply', 'updateRequiredReply', 'malformedRequest', 'malformedReply']) {
    const v = vectors[key]!;
    const envelope = fromHex(v.envelope);
    const env = proto.signedEnvelopeLiteCodec.decode(envelope);
    assert.deepStrictEqual(env, codecs.signedEnvelope.decode(envelope), key);
    assert.deepStrictEqual(toBinaryLite(proto.SignedEnvelopeLite, env), envelope, `${key}: envelope bytes`);
    const payload = fromHex(v.payload);
    const [table, desc] = v.context.endsWith('request')
      ? [proto.TicketRequestLite, proto.TicketRequestSchema]
      : [proto.TicketReplyLite, proto.TicketReplySchema];
    const msg = fromBinaryLite(table as LiteMessage, payload);
    assert.deepStrictEqual(msg, fromBinary(desc, payload, DECODE_OPTIONS), `${key}: payload`);
    assert.deepStrictEqual(toBinaryLite(table as LiteMessage, msg), payload, `${key}: payload bytes`);
  }
});

test('lengths of every varint size, and a buffer that grows, encode alike: big payloads, long strings, 256 actors', () => {
  for (const size of [0, 1, 127, 128, 16_383, 16_384, 70_000, 2_097_152]) {
    const env = create(proto.SignedEnvelopeSchema, { payload: new Uint8Array(size).fill(7), context: 'é'.repeat(size % 300) });
    const bytes = toBinary(proto.SignedEnvelopeSchema, env);
    assert.deepStrictEqual(toBinaryLite(proto.SignedEnvelopeLite, env), bytes, `payload of ${size}`);
    assert.deepStrictEqual(fromBinaryLite(proto.SignedEnvelopeLite, bytes), fromBinary(proto.SignedEnvelopeSchema, bytes, DECODE_OPTIONS));
  }
  const big = create(proto.TicketRequestSchema, {
    deviceId: 'board-0042',
    instance: 'sm:weather',
    nonce: new Uint8Array(32).fill(1),
    uptimeMs: 2n ** 40n,
    runtime: {
      report: {
        case: 'domain',
        value: {
          actors: Array.from({ length: 256 }, (_, i) => ({
            name: `actor-${i}-${'n'.repeat(100)}`,
            codeDigest: new Uint8Array(64).fill(i),
          })),
          slot: { label: 'sm:weather', version: 3n, slot: 'b', update: UpdateState.TRIAL, detail: 'd'.repeat(256) },
        },
      },
    },
  });
  const bytes = toBinary(proto.TicketRequestSchema, big);
  assert.ok(bytes.length > 16_384);
  assert.deepStrictEqual(toBinaryLite(proto.TicketRequestLite, big), bytes);
  assert.deepStrictEqual(fromBinaryLite(proto.TicketRequestLite, bytes), fromBinary(proto.TicketRequestSchema, bytes, DECODE_OPTIONS));
});

test('decoded bytes fields never alias the caller\u2019s buffer (the codec copies), unless asked not to copy', () => {
  const bytes = toBinary(proto.SignedEnvelopeSchema, sampleEnvelope());
  const env = proto.signedEnvelopeLiteCodec.decode(bytes);
  const before = Uint8Array.from(env.payload);
  bytes.fill(0);
  assert.deepStrictEqual(env.payload, before);
  const shared = proto.liteCodec(proto.SignedEnvelopeLite, 1 << 20, { copyInput: false });
  const again = toBinary(proto.SignedEnvelopeSchema, sampleEnvelope());
  const view = shared.decode(again);
  again.fill(0);
  assert.ok(view.payload.every((b) => b === 0));
});

test('encodes never share bytes: each output is its own, also after an encode that failed midway', () => {
  // The writer reuses one scratch buffer and hands out arena-carved copies (proto/lite-wire.ts).
  const first = toBinaryLite(proto.SignedEnvelopeLite, sampleEnvelope());
  const kept = Uint8Array.from(first);
  // A deferral out of uint32 range: the encode throws after its strings and nonce are in the scratch.
  const bad = createLite(proto.TicketReplyLite, {
    deviceId: 'dev-1',
    instance: 'device',
    nonce: new Uint8Array(32),
    outcome: { case: 'ticket', value: createLite(proto.DeferralTicketLite, { deviceId: 'dev-1', instance: 'device', deferralMs: -1 }) },
  });
  assert.throws(() => toBinaryLite(proto.TicketReplyLite, bad), /invalid/);
  const outputs = Array.from({ length: 2000 }, (_, i) =>
    toBinaryLite(
      proto.SignedEnvelopeLite,
      createLite(proto.SignedEnvelopeLite, { payload: new Uint8Array(100).fill(i & 0xff), context: 'x' }),
    ),
  );
  assert.deepStrictEqual(first, kept, 'later encodes left the first output alone');
  outputs.forEach((out, i) => {
    const env = fromBinaryLite(proto.SignedEnvelopeLite, out);
    assert.ok(
      env.payload.every((b) => b === (i & 0xff)),
      `output ${i} intact`,
    );
  });
  outputs[0]!.fill(0xee);
  assert.ok(
    fromBinaryLite(proto.SignedEnvelopeLite, outputs[1]!).payload.every((b) => b === 1),
    'outputs do not overlap',
  );
});

test('strings at the edges of the writer’s ASCII fast path encode as the generated code does', () => {
  const cases = [
    '',
    'a',
    'x'.repeat(127),
    'x'.repeat(128),
    `${'x'.repeat(126)}é`,
    `é${'x'.repeat(126)}`,
    '\u007f',
    '\u0080',
    'dev-1\u0000',
    '\ud800',
  ];
  for (const deviceId of cases) {
    const msg = create(proto.TicketReplySchema, { deviceId, instance: 'device', nonce: new Uint8Array(32) });
    assert.deepStrictEqual(toBinaryLite(proto.TicketReplyLite, msg), toBinary(proto.TicketReplySchema, msg), JSON.stringify(deviceId));
  }
});
