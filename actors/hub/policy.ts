/**
 * Hub policy (docs/ARCHITECTURE.md §2 step 6, §7): what the hub decides about an authenticated, enrolled,
 * active instance from the runtime information below it — a ticket for D ms, WITHHELD, or
 * UPDATE_REQUIRED — plus the operator's switches (withhold, resume, require an update).
 *
 * `HubPolicy` is the seam for a SQLite-backed policy; `MemoryPolicy` holds rules per instance name
 * (`device`, `mm`, `sm:<service>`, or `default`). Rules are checked when set, so a bad rule fails
 * at configuration time, not on a device's request.
 */
import {
  UpdateState,
  create,
  validateTicketReply,
  WithholdReason,
  TicketReplySchema,
  type Instance,
  type RuntimeInfo,
  DETAIL_MAX,
  NONCE_BYTES,
} from '../../proto/index.ts';
import { bytesEqual, hex } from '../crypto/index.ts';
import { bootControlsOf, type BootControls } from './boot-policy.ts';
import { labelsOfInstance } from './releases.ts';
import type { PolicyCode } from './reasons.ts';
import { compareVersions, parseVersion } from './version.ts';

export interface InstancePolicy {
  /** Deferral granted with each ticket, ms (MIN_DEFERRAL_MS … 2^32-1). */
  readonly deferralMs: number;
  /** Cap on any deferral this hub issues for the instance; default `deferralMs`. */
  readonly maxDeferralMs?: number;
  /** Actor names allowed in the instance's DomainReport; any other actor → WITHHELD. Unset = any. */
  readonly allowedActors?: readonly string[];
  /** Actor name → hex SHA-512 of its code; a reported digest that differs → WITHHELD. */
  readonly expectedDigests?: Readonly<Record<string, string>>;
  /**
   * The images the instance may run, as hex SHA-512 (`dominion digest`): a VM's reported image
   * digest (the bundle's SHA-512 in manifest.json, measured by the hypervisor), the `device`'s
   * manifest digest; any other → WITHHELD `image-mismatch`. Unlike `expectedDigests` this identifies
   * the code in every placement. List the release being rolled out too, or its devices are withheld.
   */
  readonly imageDigests?: readonly string[];
  /** `device` only: firmware older than this → UPDATE_REQUIRED (to `firmwareUpdate`), else WITHHELD. */
  readonly minFirmwareVersion?: string;
  /** `device` only: the firmware to demand when the running one is older than `minFirmwareVersion`. */
  readonly firmwareUpdate?: UpdateTarget;
}

/** What an instance must fetch and run before it gets tickets again (UpdateRequired, ticket.proto). */
export interface UpdateTarget {
  readonly version: string;
  /** SHA-512 of the release's manifest.json (the device checks the fetched manifest against it). */
  readonly imageDigest: Uint8Array;
  /** Where the device sends its ImageRequests: the request topic of the hub that serves the release. */
  readonly fetchTopic: string;
  readonly sizeBytes: number | bigint;
  /**
   * The release version the instance must run (a positive integer, per domain). Met once the
   * instance's slot reports show it running at least this release (`device`: both `sw` and
   * `hypervisor`).
   */
  readonly releaseVersion: number;
}

export type PolicyVerdict =
  | { readonly kind: 'ticket'; readonly code: 'granted' | 'update-rolled-back' | 'held-in-recovery'; readonly deferralMs: number }
  | {
      readonly kind: 'withheld';
      readonly code: PolicyCode;
      readonly reason: WithholdReason;
      readonly detail: string;
      readonly validForMs: number;
    }
  | { readonly kind: 'update-required'; readonly code: PolicyCode; readonly target: UpdateTarget; readonly validForMs: number };

export interface HubPolicy {
  evaluate(deviceId: string, instance: Instance, runtime: RuntimeInfo): PolicyVerdict;
  /** What the operator's switches say about the device's boot (boot-policy.ts); none: no controls. */
  bootControls?(deviceId: string): BootControls;
}

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
}

const UINT32_MAX = 0xffff_ffff;
/**
 * No deferral under a second: a reply's MQTT 5 expiry is whole seconds, at least 1, and must not
 * outlive the deferral it carries (decide.ts `expirySeconds`).
 */
export const MIN_DEFERRAL_MS = 1000;
/** How long a refusal stays useful when no policy says otherwise (message expiry of the reply). */
const DEFAULT_VALID_MS = 60_000;
const SHA512_HEX = /^[0-9a-fA-F]{128}$/;

export interface MemoryPolicyRules {
  /** Rules by instance name: `device`, `mm`, `sm:<service>`. */
  readonly instances?: Readonly<Record<string, InstancePolicy>>;
  /** Rules for an instance with no entry of its own; unset = such instances are withheld. */
  readonly default?: InstancePolicy;
}

export class MemoryPolicy implements HubPolicy {
  private readonly rules = new Map<string, InstancePolicy>();
  private fallback: InstancePolicy | undefined;
  private readonly withheld = new Map<string, string>(); // scope key -> operator reason
  private readonly updates = new Map<string, UpdateTarget>(); // scope key -> demanded image

  constructor(rules: MemoryPolicyRules = {}) {
    for (const [instance, policy] of Object.entries(rules.instances ?? {})) this.setInstancePolicy(instance, policy);
    if (rules.default !== undefined) this.setDefaultPolicy(rules.default);
  }

  setInstancePolicy(instance: string, policy: InstancePolicy): void {
    this.rules.set(instance, checkInstancePolicy(instance, policy));
  }

  setDefaultPolicy(policy: InstancePolicy): void {
    this.fallback = checkInstancePolicy('default', policy);
  }

  /** Operator: withhold tickets from one instance, or (no instance) from every instance of the device. */
  withhold(deviceId: string, instance?: Instance, reason = 'withheld by operator'): void {
    this.withheld.set(scope(deviceId, instance), cleanDetail(reason));
  }

  /** Operator: lift a withhold. Without an instance, lifts every withhold on the device. */
  resume(deviceId: string, instance?: Instance): void {
    if (instance !== undefined) {
      this.withheld.delete(scope(deviceId, instance));
      return;
    }
    for (const key of [...this.withheld.keys()])
      if (key === scope(deviceId) || key.startsWith(`${deviceId}\u0000`)) this.withheld.delete(key);
  }

  /**
   * Operator: demand that `instance` runs `what` before it gets tickets again. The demand is met (and
   * tickets resume) once the instance reports it: `device` a firmware version at least `what.version`,
   * a VM domain an image digest equal to `what.imageDigest`.
   */
  requireUpdate(deviceId: string, instance: Instance, what: UpdateTarget): void {
    this.updates.set(scope(deviceId, instance), checkUpdateTarget(instance, what));
  }

  clearUpdate(deviceId: string, instance: Instance): void {
    this.updates.delete(scope(deviceId, instance));
  }

  bootControls(deviceId: string): BootControls {
    const updates: Array<readonly [Instance, UpdateTarget]> = [];
    for (const instance of ['device', 'mm'] as const) {
      const target = this.updates.get(scope(deviceId, instance));
      if (target !== undefined) updates.push([instance, target]);
    }
    const withheld = this.withheld.get(scope(deviceId, 'device')) ?? this.withheld.get(scope(deviceId));
    return bootControlsOf(this.rules.get('device') ?? this.fallback, withheld, updates);
  }

  evaluate(deviceId: string, instance: Instance, runtime: RuntimeInfo): PolicyVerdict {
    return evaluateInstancePolicy(this.rules.get(instance) ?? this.fallback, instance, runtime, {
      withheld: this.withheld.get(scope(deviceId, instance)) ?? this.withheld.get(scope(deviceId)),
      update: this.updates.get(scope(deviceId, instance)),
    });
  }
}

/** The operator's switches in force for one instance, wherever they are stored. */
export interface OperatorControls {
  /** Reason text of an operator withhold on the instance or the whole device. */
  readonly withheld?: string | undefined;
  /** An update the operator demands of the instance. */
  readonly update?: UpdateTarget | undefined;
  /**
   * An update a staged rollout demands (the device is in its cohort and the rollout is active). An
   * explicit `update` the instance has not met yet wins; once it is met, the rollout applies.
   */
  readonly rollout?: UpdateTarget | undefined;
}

/**
 * The policy decision for one authenticated, enrolled, active instance: shared by every HubPolicy
 * backend (memory, SQLite) so they cannot drift apart. `policy` undefined = no rule applies.
 */
export function evaluateInstancePolicy(
  policy: InstancePolicy | undefined,
  instance: Instance,
  runtime: RuntimeInfo,
  controls: OperatorControls = {},
): PolicyVerdict {
  const validForMs = policy?.deferralMs ?? DEFAULT_VALID_MS;
  const withheld = (code: PolicyCode, detail: string): PolicyVerdict => ({
    kind: 'withheld',
    code,
    reason: WithholdReason.POLICY_FAILED,
    detail: detail.slice(0, DETAIL_MAX),
    validForMs,
  });

  if (controls.withheld !== undefined) {
    // OPERATOR, not POLICY_FAILED: the device records the reset as operator-ordered, not as a failed check.
    return {
      kind: 'withheld',
      code: 'operator-withheld',
      reason: WithholdReason.OPERATOR,
      detail: cleanDetail(controls.withheld),
      validForMs,
    };
  }
  if (policy === undefined) return withheld('no-policy', `no policy for instance ${instance}`);

  const report = runtime.report;
  if (report.case === 'domain') {
    for (const actor of report.value.actors) {
      if (policy.allowedActors !== undefined && !policy.allowedActors.includes(actor.name)) {
        return withheld('foreign-actor', `actor not allowed: ${actor.name}`);
      }
      const expected = policy.expectedDigests?.[actor.name];
      if (expected !== undefined && hex(actor.codeDigest) !== expected.toLowerCase()) {
        return withheld('digest-mismatch', `code digest mismatch for actor ${actor.name}`);
      }
    }
  }

  if (policy.imageDigests !== undefined) {
    const digest = report.case === 'domain' ? report.value.imageDigest : report.case === 'device' ? report.value.manifestDigest : undefined;
    const reported = digest === undefined ? '' : hex(digest);
    if (!policy.imageDigests.includes(reported))
      return withheld('image-mismatch', `image ${reported.slice(0, 16) || '(none reported)'}… is not one the policy allows`);
  }

  const deferralMs = Math.min(policy.deferralMs, policy.maxDeferralMs ?? policy.deferralMs);
  // The first demand the instance has not met decides: the operator's own, then a rollout's.
  const demands = [
    [controls.update, 'operator-update'],
    [controls.rollout, 'rollout-update'],
  ] as const;
  for (const [demanded, code] of demands) {
    if (demanded === undefined || runs(instance, runtime, demanded)) continue;
    if (rolledBack(runtime, demanded)) return { kind: 'ticket', code: 'update-rolled-back', deferralMs };
    return { kind: 'update-required', code, target: demanded, validForMs };
  }

  if (report.case === 'device' && policy.minFirmwareVersion !== undefined) {
    const order = compareVersions(report.value.firmwareVersion, policy.minFirmwareVersion);
    if (order === undefined) return withheld('firmware-unparseable', `firmware version cannot be ordered: ${report.value.firmwareVersion}`);
    if (order < 0) {
      if (policy.firmwareUpdate === undefined) {
        return withheld('firmware-too-old', `firmware ${report.value.firmwareVersion} is older than ${policy.minFirmwareVersion}`);
      }
      return { kind: 'update-required', code: 'firmware-too-old', target: policy.firmwareUpdate, validForMs };
    }
  }

  return { kind: 'ticket', code: 'granted', deferralMs };
}

/** True when a slot report says the instance tried the demanded release (or a later one) and rolled back. */
function rolledBack(runtime: RuntimeInfo, target: UpdateTarget): boolean {
  const report = runtime.report;
  const slots = report.case === 'device' ? report.value.slots : report.case === 'domain' && report.value.slot ? [report.value.slot] : [];
  return slots.some((s) => s.update === UpdateState.ROLLED_BACK && s.updateVersion >= BigInt(target.releaseVersion));
}

/**
 * True when the runtime information shows the instance already runs the demanded image: by its slot
 * reports when it sends them (every label of the instance at the release version or later), else as
 * before slots existed (`device`: the firmware version; a VM: its image digest).
 */
function runs(instance: Instance, runtime: RuntimeInfo, target: UpdateTarget): boolean {
  const report = runtime.report;
  const slots = report.case === 'device' ? report.value.slots : report.case === 'domain' && report.value.slot ? [report.value.slot] : [];
  if (slots.length > 0) {
    const minimum = BigInt(target.releaseVersion);
    return labelsOfInstance(instance).every((label) => slots.some((s) => s.label === label && s.version >= minimum));
  }
  if (report.case === 'device') {
    const order = compareVersions(report.value.firmwareVersion, target.version);
    return order === undefined ? report.value.firmwareVersion === target.version : order >= 0;
  }
  if (report.case === 'domain') return bytesEqual(report.value.imageDigest, target.imageDigest);
  return false;
}

function scope(deviceId: string, instance?: Instance): string {
  return instance === undefined ? deviceId : `${deviceId}\u0000${instance}`;
}

/** Operator text goes into Withheld.detail: bounded, no control characters. */
export function cleanDetail(text: string): string {
  return String(text)
    .replace(/[\x00-\x1f\x7f-\x9f]/g, ' ')
    .replace(/[\ud800-\udfff]/g, '?')
    .slice(0, DETAIL_MAX);
}

function checkDeferral(where: string, name: string, ms: number): void {
  if (!Number.isInteger(ms) || ms < MIN_DEFERRAL_MS || ms > UINT32_MAX) {
    throw new PolicyError(`${where}: ${name} must be an integer in ${MIN_DEFERRAL_MS}..${UINT32_MAX} ms, got ${ms}`);
  }
}

/** Checks one instance's rules; throws PolicyError naming the first problem. Returns a frozen copy. */
export function checkInstancePolicy(instance: string, policy: InstancePolicy): InstancePolicy {
  const where = `policy for ${instance}`;
  checkDeferral(where, 'deferralMs', policy.deferralMs);
  if (policy.maxDeferralMs !== undefined) checkDeferral(where, 'maxDeferralMs', policy.maxDeferralMs);
  for (const [name, digest] of Object.entries(policy.expectedDigests ?? {})) {
    if (!SHA512_HEX.test(digest)) throw new PolicyError(`${where}: expected digest of ${name} must be 128 hex digits (SHA-512)`);
  }
  if (policy.imageDigests !== undefined) {
    if (policy.imageDigests.length === 0 || policy.imageDigests.length > MAX_IMAGE_DIGESTS)
      throw new PolicyError(`${where}: imageDigests must list 1 to ${MAX_IMAGE_DIGESTS} digests`);
    for (const digest of policy.imageDigests)
      if (!SHA512_HEX.test(digest)) throw new PolicyError(`${where}: each of imageDigests must be 128 hex digits (SHA-512)`);
  }
  if (policy.minFirmwareVersion !== undefined && parseVersion(policy.minFirmwareVersion) === undefined) {
    throw new PolicyError(`${where}: minFirmwareVersion ${JSON.stringify(policy.minFirmwareVersion)} is not a version`);
  }
  if (policy.firmwareUpdate !== undefined) {
    checkUpdateTarget('device', policy.firmwareUpdate);
    const order = policy.minFirmwareVersion === undefined ? 0 : compareVersions(policy.firmwareUpdate.version, policy.minFirmwareVersion);
    if (order === undefined || order < 0) throw new PolicyError(`${where}: firmwareUpdate.version is older than minFirmwareVersion`);
  }
  const imageDigests = policy.imageDigests?.map((d) => d.toLowerCase());
  return Object.freeze({ ...policy, ...(imageDigests !== undefined ? { imageDigests: Object.freeze(imageDigests) } : {}) });
}

/** Releases one policy can allow at once (a rollout needs two or three). */
const MAX_IMAGE_DIGESTS = 16;

/** A release version as the uint64 the protocol carries; anything but a positive safe integer is 0 (invalid). */
function releaseVersionOf(version: unknown): bigint {
  return typeof version === 'number' && Number.isSafeInteger(version) && version > 0 ? BigInt(version) : 0n;
}

/** Checks a target with the protocol's own validator, so the hub can never build an invalid reply from it. */
export function checkUpdateTarget(instance: Instance, target: UpdateTarget): UpdateTarget {
  let problems: string[];
  try {
    const reply = create(TicketReplySchema, {
      deviceId: 'check',
      instance,
      nonce: new Uint8Array(NONCE_BYTES),
      outcome: {
        case: 'updateRequired',
        value: {
          domain: instance,
          version: target.version,
          imageDigest: target.imageDigest,
          fetchTopic: target.fetchTopic,
          sizeBytes: BigInt(target.sizeBytes),
          releaseVersion: releaseVersionOf(target.releaseVersion),
        },
      },
    });
    problems = validateTicketReply(reply).map((p) => `${p.field}: ${p.problem}`);
  } catch (err) {
    problems = [err instanceof Error ? err.message : 'unusable update target'];
  }
  if (problems.length > 0) throw new PolicyError(`update target for ${instance}: ${problems.join('; ')}`);
  return Object.freeze({ ...target, imageDigest: target.imageDigest.slice() });
}
