/**
 * Semantic validation of decoded dominion.v1 messages: what the protobuf parser cannot check.
 *
 * Each `validateX` returns the list of problems (empty when the message is valid); `requireValid`
 * throws a ProtoValidationError naming the first bad field. Field paths use the *proto* field names
 * (`runtime.domain.actors[2].name`), the names that appear on the wire and in the .proto files.
 *
 * These checks are about shape, not trust: a valid request may still carry lies (a leaked key can sign
 * anything) and a valid reply may still answer another nonce. Signatures, hub policy and the AWDT's
 * nonce check do that part.
 */
import type { SignedEnvelope } from './gen/dominion/v1/envelope_pb.ts';
import type { BootImage, BootRequest, BootTicket } from './gen/dominion/v1/boot_pb.ts';
import type { ImageChunk, ImageRequest } from './gen/dominion/v1/image_pb.ts';
import type { ActorReport, DeviceState, DomainReport, RuntimeInfo, SlotReport } from './gen/dominion/v1/runtime_info_pb.ts';
import { ResetReason, UpdateState } from './gen/dominion/v1/runtime_info_pb.ts';
import type { DeferralTicket, TicketReply, TicketRequest, UpdateRequired, Withheld } from './gen/dominion/v1/ticket_pb.ts';
import { WithholdReason } from './gen/dominion/v1/ticket_pb.ts';
import { instanceProblem } from './instance.ts';
import type { Instance } from './instance.ts';
import {
  ACTOR_NAME_MAX,
  CONTEXT_MAX,
  DETAIL_MAX,
  DEVICE_ID_MAX,
  DIGEST_MAX_BYTES,
  IMAGE_CHUNK_MAX,
  KEY_ID_MAX_BYTES,
  MANIFEST_MAX_BYTES,
  MANIFEST_SIGNATURE_MAX_BYTES,
  MAX_ACTORS,
  MAX_BOOT_IMAGES,
  NONCE_BYTES,
  SIGNATURE_BYTES,
  TOPIC_MAX,
  VERSION_MAX,
} from './limits.ts';

/** One thing wrong with one field. */
export interface ValidationProblem {
  /** Path of the field, with proto field names: `nonce`, `runtime.domain.actors[3].code_digest`. */
  readonly field: string;
  /** What is wrong with it. */
  readonly problem: string;
}

/** A decoded message that is well-formed protobuf but not a valid dominion.v1 message. */
export class ProtoValidationError extends Error {
  override readonly name = 'ProtoValidationError';
  /** The first offending field (see `problems` for all of them). */
  readonly field: string;
  constructor(
    /** The fully qualified protobuf type, e.g. `dominion.v1.TicketRequest`. */
    readonly typeName: string,
    readonly problems: readonly ValidationProblem[],
  ) {
    super(`invalid ${typeName}: ${problems.map((p) => `${p.field}: ${p.problem}`).join('; ')}`);
    this.field = problems[0]?.field ?? '';
  }
}

/** The messages that travel on their own (each inside a SignedEnvelope, or the envelope itself). */
export type DominionMessage = TicketRequest | TicketReply | BootRequest | BootTicket | ImageRequest | ImageChunk | SignedEnvelope;

const DEVICE_ID = /^[A-Za-z0-9._-]{1,64}$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const VISIBLE_ASCII = /^[\x21-\x7e]*$/;
// C0 controls, DEL, C1 controls, and lone surrogates (which would not survive UTF-8 encoding intact).
const CONTROL_OR_LONE_SURROGATE = /[\x00-\x1f\x7f-\x9f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

class Problems {
  readonly list: ValidationProblem[] = [];
  add(field: string, problem: string): void {
    this.list.push({ field, problem });
  }
}

// ---------------------------------------------------------------------------------------------
// Field checks

function deviceId(p: Problems, field: string, value: string): void {
  if (value.length === 0) p.add(field, 'must be set');
  else if (value.length > DEVICE_ID_MAX) p.add(field, `must be at most ${DEVICE_ID_MAX} characters, got ${value.length}`);
  else if (!DEVICE_ID.test(value)) p.add(field, 'must contain only [A-Za-z0-9._-]');
}

/** Checks an instance name; returns it typed when valid. */
function instance(p: Problems, field: string, value: string): Instance | undefined {
  const problem = instanceProblem(value);
  if (problem === undefined) return value as Instance;
  p.add(field, value.length === 0 ? 'must be set' : problem);
  return undefined;
}

function exactBytes(p: Problems, field: string, value: Uint8Array, size: number): void {
  if (value.byteLength !== size) p.add(field, `must be exactly ${size} bytes, got ${value.byteLength}`);
}

function boundedBytes(p: Problems, field: string, value: Uint8Array, min: number, max: number): void {
  if (value.byteLength < min) p.add(field, min === 1 ? 'must be set' : `must be at least ${min} bytes, got ${value.byteLength}`);
  else if (value.byteLength > max) p.add(field, `must be at most ${max} bytes, got ${value.byteLength}`);
}

function digest(p: Problems, field: string, value: Uint8Array, required: boolean): void {
  boundedBytes(p, field, value, required ? 1 : 0, DIGEST_MAX_BYTES);
}

/** A string of 1..max characters from `charset` (ASCII-only charsets, so length = characters = bytes). */
function asciiString(p: Problems, field: string, value: string, max: number, charset: RegExp, what: string): void {
  if (value.length === 0) p.add(field, 'must be set');
  else if (value.length > max) p.add(field, `must be at most ${max} characters, got ${value.length}`);
  else if (!charset.test(value)) p.add(field, `must contain only ${what}`);
}

/** Free text: at most `max` code points, no control characters. */
function text(p: Problems, field: string, value: string, max: number): void {
  let codePoints = 0;
  for (const _ of value) codePoints++;
  if (codePoints > max) p.add(field, `must be at most ${max} characters, got ${codePoints}`);
  else if (CONTROL_OR_LONE_SURROGATE.test(value)) p.add(field, 'must not contain control characters');
}

function positive(p: Problems, field: string, value: number | bigint): void {
  if (value <= 0) p.add(field, 'must be greater than 0');
}

/**
 * A value the enum defines. `values` is the generated TypeScript enum, whose reverse mapping (number →
 * name) holds exactly the .proto's values; test/proto/lite-messages.test.ts checks it against the
 * descriptor. (Not the descriptor itself: that would pull the protobuf runtime into every bundle that
 * validates.)
 */
function enumValue(
  p: Problems,
  field: string,
  value: number,
  values: Record<number, string>,
  name: string,
  allowUnspecified: boolean,
): void {
  if (typeof value !== 'number' || typeof values[value] !== 'string') p.add(field, `unknown ${name} value ${value}`);
  else if (value === 0 && !allowUnspecified) p.add(field, 'must be set (not UNSPECIFIED)');
}

function join(prefix: string, field: string): string {
  return prefix === '' ? field : `${prefix}.${field}`;
}

// ---------------------------------------------------------------------------------------------
// Runtime information

function checkRuntimeInfo(p: Problems, field: string, info: RuntimeInfo | undefined, inst: Instance | undefined): void {
  if (info === undefined) {
    p.add(field, 'must be set');
    return;
  }
  const report = info.report;
  if (report.case === undefined) {
    p.add(join(field, 'report'), 'must be set (device or domain)');
    return;
  }
  if (inst !== undefined) {
    const expected = inst === 'device' ? 'device' : 'domain';
    if (report.case !== expected) {
      p.add(
        join(field, report.case),
        `instance ${inst} must report ${expected === 'device' ? 'a DeviceState (device)' : 'a DomainReport (domain)'}`,
      );
    }
  }
  if (report.case === 'device') checkDeviceState(p, join(field, 'device'), report.value);
  else checkDomainReport(p, join(field, 'domain'), report.value);
}

function checkDeviceState(p: Problems, prefix: string, state: DeviceState): void {
  // UNSPECIFIED is allowed here: some boards cannot tell why they reset. Policy decides what it means.
  enumValue(p, join(prefix, 'last_reset_reason'), state.lastResetReason, ResetReason, 'ResetReason', true);
  asciiString(p, join(prefix, 'firmware_version'), state.firmwareVersion, VERSION_MAX, PRINTABLE_ASCII, 'printable ASCII');
  digest(p, join(prefix, 'manifest_digest'), state.manifestDigest, true);
  digest(p, join(prefix, 'hypervisor_image_digest'), state.hypervisorImageDigest, false);
  if (state.slots.length > 2) p.add(join(prefix, 'slots'), `must have at most 2 entries, got ${state.slots.length}`);
  else state.slots.forEach((slot, i) => checkSlotReport(p, `${join(prefix, 'slots')}[${i}]`, slot));
}

function checkSlotReport(p: Problems, prefix: string, slot: SlotReport): void {
  const label = join(prefix, 'label');
  if (slot.label !== 'sw' && slot.label !== 'hypervisor') instance(p, label, slot.label);
  if (slot.slot !== '' && slot.slot !== 'a' && slot.slot !== 'b') p.add(join(prefix, 'slot'), 'must be "a", "b" or empty');
  enumValue(p, join(prefix, 'update'), slot.update, UpdateState, 'UpdateState', true);
  text(p, join(prefix, 'detail'), slot.detail, DETAIL_MAX);
}

/** A domain label: "sw", "hypervisor", "mm" or "sm:<service>" (an instance name but "device"). */
function label(p: Problems, field: string, value: string): void {
  if (value === 'sw' || value === 'hypervisor') return;
  if (value === 'device') p.add(field, 'must be a domain label ("sw", "hypervisor", "mm" or "sm:<service>"), not "device"');
  else instance(p, field, value);
}

function checkDomainReport(p: Problems, prefix: string, report: DomainReport): void {
  digest(p, join(prefix, 'image_digest'), report.imageDigest, false);
  if (report.actors.length > MAX_ACTORS) {
    // Do not walk thousands of entries to report each: the count alone disqualifies the report.
    p.add(join(prefix, 'actors'), `must have at most ${MAX_ACTORS} entries, got ${report.actors.length}`);
    return;
  }
  report.actors.forEach((actor, i) => checkActorReport(p, `${join(prefix, 'actors')}[${i}]`, actor));
  if (report.slot !== undefined) checkSlotReport(p, join(prefix, 'slot'), report.slot);
}

function checkActorReport(p: Problems, prefix: string, actor: ActorReport): void {
  asciiString(p, join(prefix, 'name'), actor.name, ACTOR_NAME_MAX, PRINTABLE_ASCII, 'printable ASCII');
  digest(p, join(prefix, 'code_digest'), actor.codeDigest, false);
}

// ---------------------------------------------------------------------------------------------
// Messages

/** Problems with a TicketRequest (see ticket.proto). */
export function validateTicketRequest(req: TicketRequest): ValidationProblem[] {
  const p = new Problems();
  deviceId(p, 'device_id', req.deviceId);
  const inst = instance(p, 'instance', req.instance);
  exactBytes(p, 'nonce', req.nonce, NONCE_BYTES);
  checkRuntimeInfo(p, 'runtime', req.runtime, inst);
  return p.list;
}

/** Problems with a TicketReply, including consistency of a ticket with the reply that carries it. */
export function validateTicketReply(reply: TicketReply): ValidationProblem[] {
  const p = new Problems();
  deviceId(p, 'device_id', reply.deviceId);
  const inst = instance(p, 'instance', reply.instance);
  exactBytes(p, 'nonce', reply.nonce, NONCE_BYTES);
  const outcome = reply.outcome;
  switch (outcome.case) {
    case undefined:
      p.add('outcome', 'must be set (ticket, withheld or update_required)');
      break;
    case 'ticket':
      checkDeferralTicket(p, 'ticket', outcome.value, reply);
      break;
    case 'withheld':
      checkWithheld(p, 'withheld', outcome.value);
      break;
    case 'updateRequired':
      checkUpdateRequired(p, 'update_required', outcome.value, inst);
      break;
  }
  return p.list;
}

function checkDeferralTicket(p: Problems, prefix: string, ticket: DeferralTicket, reply: TicketReply): void {
  deviceId(p, join(prefix, 'device_id'), ticket.deviceId);
  instance(p, join(prefix, 'instance'), ticket.instance);
  exactBytes(p, join(prefix, 'nonce'), ticket.nonce, NONCE_BYTES);
  if (ticket.deviceId !== reply.deviceId) p.add(join(prefix, 'device_id'), "must equal the reply's device_id");
  if (ticket.instance !== reply.instance) p.add(join(prefix, 'instance'), "must equal the reply's instance");
  if (!sameBytes(ticket.nonce, reply.nonce)) p.add(join(prefix, 'nonce'), "must equal the reply's nonce");
  positive(p, join(prefix, 'deferral_ms'), ticket.deferralMs);
}

function checkWithheld(p: Problems, prefix: string, withheld: Withheld): void {
  enumValue(p, join(prefix, 'reason'), withheld.reason, WithholdReason, 'WithholdReason', false);
  text(p, join(prefix, 'detail'), withheld.detail, DETAIL_MAX);
}

function checkUpdateRequired(p: Problems, prefix: string, update: UpdateRequired, inst: Instance | undefined): void {
  const domainField = join(prefix, 'domain');
  const domain = instance(p, domainField, update.domain);
  if (domain !== undefined && inst !== undefined && domain !== inst) {
    p.add(domainField, `must equal the reply's instance ${inst}: a hub may only update what that instance guards`);
  }
  asciiString(p, join(prefix, 'version'), update.version, VERSION_MAX, PRINTABLE_ASCII, 'printable ASCII');
  digest(p, join(prefix, 'image_digest'), update.imageDigest, true);
  const topicField = join(prefix, 'fetch_topic');
  asciiString(p, topicField, update.fetchTopic, TOPIC_MAX, VISIBLE_ASCII, 'visible ASCII (no spaces)');
  if (/[+#]/.test(update.fetchTopic)) p.add(topicField, 'must not contain MQTT wildcards (+ or #)');
  if (update.fetchTopic.startsWith('$')) p.add(topicField, 'must not be a $-prefixed system topic');
  positive(p, join(prefix, 'size_bytes'), update.sizeBytes);
  positive(p, join(prefix, 'release_version'), update.releaseVersion);
}

/** Problems with a BootRequest (see boot.proto). */
export function validateBootRequest(req: BootRequest): ValidationProblem[] {
  const p = new Problems();
  deviceId(p, 'device_id', req.deviceId);
  exactBytes(p, 'boot_nonce', req.bootNonce, NONCE_BYTES);
  digest(p, 'manifest_digest', req.manifestDigest, true);
  asciiString(p, 'firmware_version', req.firmwareVersion, VERSION_MAX, PRINTABLE_ASCII, 'printable ASCII');
  if (req.images.length === 0) p.add('images', 'must be set');
  else if (req.images.length > MAX_BOOT_IMAGES) p.add('images', `must have at most ${MAX_BOOT_IMAGES} entries, got ${req.images.length}`);
  else {
    const seen = new Set<string>();
    req.images.forEach((image: BootImage, i) => {
      const prefix = `images[${i}]`;
      label(p, join(prefix, 'label'), image.label);
      if (seen.has(image.label)) p.add(join(prefix, 'label'), 'must be unique');
      seen.add(image.label);
      positive(p, join(prefix, 'version'), image.version);
      digest(p, join(prefix, 'digest'), image.digest, true);
    });
  }
  return p.list;
}

/** Problems with a BootTicket (see boot.proto). */
export function validateBootTicket(ticket: BootTicket): ValidationProblem[] {
  const p = new Problems();
  deviceId(p, 'device_id', ticket.deviceId);
  exactBytes(p, 'boot_nonce', ticket.bootNonce, NONCE_BYTES);
  digest(p, 'manifest_digest', ticket.manifestDigest, true);
  digest(p, 'images_digest', ticket.imagesDigest, true);
  if (ticket.withheld !== undefined) {
    checkWithheld(p, 'withheld', ticket.withheld);
    if (ticket.initialTimeoutMs !== 0) p.add('initial_timeout_ms', 'must be 0 when the boot is withheld');
  } else positive(p, 'initial_timeout_ms', ticket.initialTimeoutMs);
  return p.list;
}

/** Problems with an ImageRequest (see image.proto). */
export function validateImageRequest(req: ImageRequest): ValidationProblem[] {
  const p = new Problems();
  deviceId(p, 'device_id', req.deviceId);
  const inst = instance(p, 'instance', req.instance);
  label(p, 'label', req.label);
  if (inst !== undefined && req.label !== '') {
    const allowed = inst === 'device' ? req.label === 'sw' || req.label === 'hypervisor' : req.label === inst;
    if (!allowed) p.add('label', `instance ${inst} may not ask for the image of ${req.label}`);
  }
  positive(p, 'version', req.version);
  if (req.maxBytes === 0 || req.maxBytes > IMAGE_CHUNK_MAX) p.add('max_bytes', `must be 1–${IMAGE_CHUNK_MAX}, got ${req.maxBytes}`);
  exactBytes(p, 'nonce', req.nonce, NONCE_BYTES);
  if (!DEVICE_ID.test(req.board)) p.add('board', req.board === '' ? 'must be set' : 'must be 1–64 of [A-Za-z0-9._-]');
  return p.list;
}

/** Problems with an ImageChunk (see image.proto). */
export function validateImageChunk(chunk: ImageChunk): ValidationProblem[] {
  const p = new Problems();
  deviceId(p, 'device_id', chunk.deviceId);
  instance(p, 'instance', chunk.instance);
  exactBytes(p, 'nonce', chunk.nonce, NONCE_BYTES);
  label(p, 'label', chunk.label);
  positive(p, 'version', chunk.version);
  if (chunk.refused !== undefined) {
    checkWithheld(p, 'refused', chunk.refused);
    if (chunk.data.byteLength > 0 || chunk.manifest.byteLength > 0) p.add('refused', 'a refusal carries no data');
    return p.list;
  }
  positive(p, 'total_bytes', chunk.totalBytes);
  boundedBytes(p, 'data', chunk.data, 0, IMAGE_CHUNK_MAX);
  if (chunk.offset + BigInt(chunk.data.byteLength) > chunk.totalBytes) p.add('data', 'runs past total_bytes');
  boundedBytes(p, 'manifest', chunk.manifest, 0, MANIFEST_MAX_BYTES);
  boundedBytes(p, 'manifest_signature', chunk.manifestSignature, 0, MANIFEST_SIGNATURE_MAX_BYTES);
  const first = chunk.offset === 0n;
  if (first && (chunk.manifest.byteLength === 0 || chunk.manifestSignature.byteLength === 0))
    p.add('manifest', 'must be set at offset 0, with manifest_signature');
  if (!first && (chunk.manifest.byteLength > 0 || chunk.manifestSignature.byteLength > 0)) p.add('manifest', 'only at offset 0');
  return p.list;
}

/**
 * Problems with a SignedEnvelope's shape (not its signature). With `expectedContext`, the context must
 * also be exactly that string, so an envelope for one message kind is refused where another is expected.
 */
export function validateSignedEnvelope(env: SignedEnvelope, expectedContext?: string): ValidationProblem[] {
  const p = new Problems();
  if (env.payload.byteLength === 0) p.add('payload', 'must be set');
  exactBytes(p, 'signature', env.signature, SIGNATURE_BYTES);
  boundedBytes(p, 'signer_key_id', env.signerKeyId, 1, KEY_ID_MAX_BYTES);
  // Visible ASCII excludes NUL, which separates context from payload in the signed bytes.
  asciiString(p, 'context', env.context, CONTEXT_MAX, VISIBLE_ASCII, 'visible ASCII (no spaces, no NUL)');
  if (expectedContext !== undefined && env.context !== expectedContext) {
    p.add('context', `must be ${JSON.stringify(expectedContext)}, got ${JSON.stringify(env.context.slice(0, CONTEXT_MAX))}`);
  }
  return p.list;
}

/** Problems with any top-level dominion.v1 message, chosen by its `$typeName`. */
export function problemsOf(msg: DominionMessage): ValidationProblem[] {
  switch (msg.$typeName) {
    case 'dominion.v1.TicketRequest':
      return validateTicketRequest(msg);
    case 'dominion.v1.TicketReply':
      return validateTicketReply(msg);
    case 'dominion.v1.BootRequest':
      return validateBootRequest(msg);
    case 'dominion.v1.BootTicket':
      return validateBootTicket(msg);
    case 'dominion.v1.ImageRequest':
      return validateImageRequest(msg);
    case 'dominion.v1.ImageChunk':
      return validateImageChunk(msg);
    case 'dominion.v1.SignedEnvelope':
      return validateSignedEnvelope(msg);
  }
}

/** Returns `msg` if it is valid; otherwise throws ProtoValidationError naming the first bad field. */
export function requireValid<T extends DominionMessage>(msg: T): T {
  const problems = problemsOf(msg);
  if (problems.length > 0) throw new ProtoValidationError(msg.$typeName, problems);
  return msg;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
