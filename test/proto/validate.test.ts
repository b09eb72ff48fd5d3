import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BootRequestSchema,
  BootTicketSchema,
  codecs,
  create,
  IMAGE_CHUNK_MAX,
  ImageChunkSchema,
  ImageRequestSchema,
  MANIFEST_MAX_BYTES,
  MANIFEST_SIGNATURE_MAX_BYTES,
  MAX_BOOT_IMAGES,
  MAX_WIRE_BYTES,
  ProtoValidationError,
  requireValid,
  RuntimeInfoSchema,
  SignedEnvelopeSchema,
  SIGNATURE_CONTEXT,
  TicketReplySchema,
  TicketRequestSchema,
  toBinary,
  validateBootRequest,
  validateBootTicket,
  validateImageChunk,
  validateImageRequest,
  validateSignedEnvelope,
  validateTicketReply,
  validateTicketRequest,
  WithheldSchema,
  WithholdReason,
  ResetReason,
} from '../../proto/index.ts';
import type { TicketReply, TicketRequest, ValidationProblem } from '../../proto/index.ts';
import {
  NONCE,
  SHA512,
  bytes,
  sampleBootRequest,
  sampleBootTicket,
  sampleDeviceRequest,
  sampleEnvelope,
  sampleServiceRequest,
  sampleTicketReply,
  sampleUpdateReply,
  sampleWithheldReply,
} from './fixtures.ts';

const fields = (problems: ValidationProblem[]): string[] => problems.map((p) => p.field);

test('the samples are valid', () => {
  assert.deepStrictEqual(validateTicketRequest(sampleServiceRequest()), []);
  assert.deepStrictEqual(validateTicketRequest(sampleDeviceRequest()), []);
  assert.deepStrictEqual(validateTicketReply(sampleTicketReply()), []);
  assert.deepStrictEqual(validateTicketReply(sampleWithheldReply()), []);
  assert.deepStrictEqual(validateTicketReply(sampleUpdateReply()), []);
  assert.deepStrictEqual(validateBootRequest(sampleBootRequest()), []);
  assert.deepStrictEqual(validateBootTicket(sampleBootTicket()), []);
  assert.deepStrictEqual(validateSignedEnvelope(sampleEnvelope(), SIGNATURE_CONTEXT.ticketRequest), []);
});

test('TicketRequest problems name the field', () => {
  const check = (change: (r: TicketRequest) => void, expected: string[], pattern?: RegExp): void => {
    const req = sampleServiceRequest();
    change(req);
    const problems = validateTicketRequest(req);
    assert.deepStrictEqual(fields(problems), expected);
    if (pattern) assert.match(problems[0]!.problem, pattern);
  };
  check((r) => (r.deviceId = ''), ['device_id'], /must be set/);
  check((r) => (r.deviceId = 'x'.repeat(65)), ['device_id'], /at most 64/);
  check((r) => (r.deviceId = 'dev/1'), ['device_id'], /A-Za-z0-9/);
  check((r) => (r.instance = 'sm:Weather'), ['instance'], /service name/);
  check((r) => (r.instance = ''), ['instance'], /must be set/);
  check((r) => (r.nonce = new Uint8Array(33)), ['nonce'], /exactly 32 bytes, got 33/);
  check((r) => (r.runtime = undefined), ['runtime'], /must be set/);
  check((r) => (r.runtime = create(RuntimeInfoSchema)), ['runtime.report'], /device or domain/);
  check((r) => (r.instance = 'device'), ['runtime.domain'], /DeviceState/);
  check(
    (r) => ((r.runtime!.report.value as { imageDigest: Uint8Array }).imageDigest = new Uint8Array(65)),
    ['runtime.domain.image_digest'],
    /at most 64 bytes/,
  );
  const domain = () => sampleServiceRequest().runtime!.report;
  check(
    (r) => {
      const report = domain();
      if (report.case === 'domain') report.value.actors[1]!.name = 'n'.repeat(129);
      r.runtime!.report = report;
    },
    ['runtime.domain.actors[1].name'],
    /at most 128/,
  );
  check(
    (r) => {
      const report = domain();
      if (report.case === 'domain') report.value.actors[2]!.codeDigest = new Uint8Array(100);
      r.runtime!.report = report;
    },
    ['runtime.domain.actors[2].code_digest'],
  );
  check(
    (r) => {
      const report = domain();
      if (report.case === 'domain') report.value.actors = Array.from({ length: 257 }, () => report.value.actors[0]!);
      r.runtime!.report = report;
    },
    ['runtime.domain.actors'],
    /at most 256 entries, got 257/,
  );

  // A device instance must carry a DeviceState, and vice versa.
  const device = sampleDeviceRequest();
  device.instance = 'mm';
  assert.deepStrictEqual(fields(validateTicketRequest(device)), ['runtime.device']);
  const dev = sampleDeviceRequest();
  if (dev.runtime!.report.case === 'device') {
    dev.runtime!.report.value.lastResetReason = 99 as ResetReason; // an open enum: unknown numbers arrive off the wire
    dev.runtime!.report.value.manifestDigest = new Uint8Array();
  }
  assert.deepStrictEqual(fields(validateTicketRequest(dev)), ['runtime.device.last_reset_reason', 'runtime.device.manifest_digest']);
});

test('several problems are all reported; requireValid throws naming the first field', () => {
  const req = sampleServiceRequest();
  req.deviceId = '';
  req.nonce = new Uint8Array(0);
  assert.deepStrictEqual(fields(validateTicketRequest(req)), ['device_id', 'nonce']);
  assert.throws(
    () => requireValid(req),
    (e: unknown) =>
      e instanceof ProtoValidationError &&
      e.field === 'device_id' &&
      e.typeName === 'dominion.v1.TicketRequest' &&
      e.problems.length === 2 &&
      /^invalid dominion\.v1\.TicketRequest: device_id: must be set; nonce: must be exactly 32 bytes, got 0$/.test(e.message),
  );
  assert.equal(requireValid(sampleTicketReply()).deviceId, 'board-0042');
});

test('TicketReply problems name the field', () => {
  const check = (reply: TicketReply, expected: string[]): void => assert.deepStrictEqual(fields(validateTicketReply(reply)), expected);
  const noOutcome = sampleTicketReply();
  noOutcome.outcome = { case: undefined };
  check(noOutcome, ['outcome']);

  const mismatched = sampleTicketReply();
  if (mismatched.outcome.case === 'ticket') {
    mismatched.outcome.value.nonce = bytes(32, 99);
    mismatched.outcome.value.instance = 'mm';
    mismatched.outcome.value.deferralMs = 0;
  }
  check(mismatched, ['ticket.instance', 'ticket.nonce', 'ticket.deferral_ms']);

  const unspecified = sampleWithheldReply();
  if (unspecified.outcome.case === 'withheld') unspecified.outcome.value.reason = WithholdReason.UNSPECIFIED;
  check(unspecified, ['withheld.reason']);
  const unknownReason = sampleWithheldReply();
  if (unknownReason.outcome.case === 'withheld') {
    unknownReason.outcome.value.reason = 42 as WithholdReason;
    unknownReason.outcome.value.detail = 'line\nbreak';
  }
  check(unknownReason, ['withheld.reason', 'withheld.detail']);

  const update = sampleUpdateReply();
  if (update.outcome.case === 'updateRequired') {
    update.outcome.value.domain = 'mm'; // an SH for sm:weather may not update mm
    update.outcome.value.fetchTopic = 'dominion/v1/images/#';
    update.outcome.value.sizeBytes = 0n;
    update.outcome.value.imageDigest = new Uint8Array();
    update.outcome.value.releaseVersion = 0n;
  }
  check(update, [
    'update_required.domain',
    'update_required.image_digest',
    'update_required.fetch_topic',
    'update_required.size_bytes',
    'update_required.release_version',
  ]);
});

test('BootRequest, BootTicket and SignedEnvelope problems name the field', () => {
  const req = sampleBootRequest();
  req.bootNonce = new Uint8Array(16);
  req.firmwareVersion = '';
  req.images[1]!.label = 'device';
  req.images[2]!.label = 'sw';
  req.images[3]!.version = 0n;
  assert.deepStrictEqual(fields(validateBootRequest(req)), [
    'boot_nonce',
    'firmware_version',
    'images[1].label',
    'images[2].label',
    'images[3].version',
  ]);
  req.images = [];
  assert.deepStrictEqual(fields(validateBootRequest(req)).slice(-1), ['images']);

  const ticket = sampleBootTicket();
  ticket.initialTimeoutMs = 0;
  ticket.deviceId = 'bad id';
  ticket.imagesDigest = new Uint8Array();
  assert.deepStrictEqual(fields(validateBootTicket(ticket)), ['device_id', 'images_digest', 'initial_timeout_ms']);
  const refused = sampleBootTicket();
  refused.withheld = create(WithheldSchema, { reason: WithholdReason.QUARANTINED });
  assert.deepStrictEqual(fields(validateBootTicket(refused)), ['initial_timeout_ms'], 'a refusal grants no time');
  refused.initialTimeoutMs = 0;
  assert.deepStrictEqual(validateBootTicket(refused), []);

  const image = create(ImageRequestSchema, {
    deviceId: 'board-0042',
    instance: 'mm',
    label: 'sw',
    version: 0n,
    maxBytes: 40_000,
    nonce: NONCE,
    board: 'rpi4',
  });
  assert.deepStrictEqual(fields(validateImageRequest(image)), ['label', 'version', 'max_bytes'], 'mm may fetch only its own image');
  const chunk = create(ImageChunkSchema, {
    deviceId: 'board-0042',
    instance: 'mm',
    nonce: NONCE,
    label: 'mm',
    version: 2n,
    offset: 10n,
    totalBytes: 12n,
    data: bytes(3, 1),
    manifest: bytes(4, 2),
  });
  assert.deepStrictEqual(fields(validateImageChunk(chunk)), ['data', 'manifest'], 'past the end, and a manifest off offset 0');

  const env = sampleEnvelope();
  env.context = 'dominion/v1/ticket-request\0';
  env.signature = new Uint8Array(63);
  assert.deepStrictEqual(fields(validateSignedEnvelope(env)), ['signature', 'context']);
  assert.match(validateSignedEnvelope(env)[1]!.problem, /no NUL/);
  assert.deepStrictEqual(fields(validateSignedEnvelope(sampleEnvelope(), SIGNATURE_CONTEXT.ticketReply)), ['context']);
  assert.deepStrictEqual(fields(validateSignedEnvelope(create(SignedEnvelopeSchema))), [
    'payload',
    'signature',
    'signer_key_id',
    'context',
  ]);
});

test('frame limits fit the largest valid message of each kind', (t) => {
  const U32 = 2 ** 32 - 1;
  const U64 = 2n ** 64n - 1n;
  const deviceId = 'D'.repeat(64);
  const instance = `sm:${'s'.repeat(32)}`;
  const largestRequest = create(TicketRequestSchema, {
    deviceId,
    instance,
    nonce: NONCE,
    runtime: {
      report: {
        case: 'domain',
        value: {
          actors: Array.from({ length: 256 }, (_, i) => ({
            name: '~'.repeat(128),
            codeDigest: SHA512(i + 1),
            restarts: U32,
            mailboxCapacity: U32,
            mailboxHighWater: U32,
            mailboxDrops: U64,
          })),
          restarts: U32,
          memoryBytes: U64,
          imageDigest: SHA512(1),
          boots: U32,
        },
      },
    },
    uptimeMs: U64,
  });
  const largestWithheld = create(TicketReplySchema, {
    deviceId,
    instance,
    nonce: NONCE,
    outcome: { case: 'withheld', value: { reason: WithholdReason.MALFORMED, detail: '😀'.repeat(256) } },
  });
  const largestUpdate = create(TicketReplySchema, {
    deviceId,
    instance,
    nonce: NONCE,
    outcome: {
      case: 'updateRequired',
      value: {
        domain: instance,
        version: 'v'.repeat(64),
        imageDigest: SHA512(2),
        fetchTopic: 't'.repeat(256),
        sizeBytes: U64,
        releaseVersion: U64,
      },
    },
  });
  const largestBootRequest = create(BootRequestSchema, {
    deviceId,
    bootNonce: NONCE,
    manifestDigest: SHA512(3),
    firmwareVersion: 'v'.repeat(64),
    bootCount: U64,
    images: Array.from({ length: MAX_BOOT_IMAGES }, (_, i) => ({
      label: i < 3 ? ['sw', 'hypervisor', 'mm'][i]! : `sm:${String(i).padStart(32, 's')}`,
      version: U64,
      digest: SHA512(i),
    })),
  });
  const largestBootTicket = create(BootTicketSchema, {
    deviceId,
    bootNonce: NONCE,
    manifestDigest: SHA512(3),
    initialTimeoutMs: U32,
    imagesDigest: SHA512(4),
  });
  const largestImageRequest = create(ImageRequestSchema, {
    deviceId,
    instance,
    label: instance,
    version: U64,
    offset: U64,
    maxBytes: IMAGE_CHUNK_MAX,
    nonce: NONCE,
    board: 'b'.repeat(64),
  });
  const largestChunk = create(ImageChunkSchema, {
    deviceId,
    instance,
    nonce: NONCE,
    label: instance,
    version: U64,
    offset: 0n,
    totalBytes: U64,
    data: new Uint8Array(IMAGE_CHUNK_MAX),
    manifest: new Uint8Array(MANIFEST_MAX_BYTES),
    manifestSignature: new Uint8Array(MANIFEST_SIGNATURE_MAX_BYTES),
  });
  const requestBytes = codecs.ticketRequest.encode(requireValid(largestRequest));
  const largestEnvelope = create(SignedEnvelopeSchema, {
    payload: new Uint8Array(MAX_WIRE_BYTES.ticketRequest),
    signature: bytes(64, 1),
    signerKeyId: bytes(64, 2),
    context: 'c'.repeat(64),
  });
  const sizes = {
    ticketRequest: requestBytes.byteLength,
    ticketReply: Math.max(
      codecs.ticketReply.encode(requireValid(largestWithheld)).byteLength,
      codecs.ticketReply.encode(requireValid(largestUpdate)).byteLength,
    ),
    bootRequest: codecs.bootRequest.encode(requireValid(largestBootRequest)).byteLength,
    bootTicket: codecs.bootTicket.encode(requireValid(largestBootTicket)).byteLength,
    imageRequest: codecs.imageRequest.encode(requireValid(largestImageRequest)).byteLength,
    imageChunk: codecs.imageChunk.encode(requireValid(largestChunk)).byteLength,
    signedEnvelope: codecs.signedEnvelope.encode(requireValid(largestEnvelope)).byteLength,
  };
  for (const [kind, size] of Object.entries(sizes)) {
    const limit = MAX_WIRE_BYTES[kind as keyof typeof MAX_WIRE_BYTES];
    t.diagnostic(`largest valid ${kind}: ${size} bytes (limit ${limit})`);
    assert.ok(size <= limit, `${kind}: ${size} > ${limit}`);
  }
  // And they decode through the validating codecs.
  assert.deepStrictEqual(codecs.ticketRequest.decode(requestBytes), largestRequest);
  assert.ok(toBinary(TicketRequestSchema, largestRequest).byteLength === requestBytes.byteLength);
});
