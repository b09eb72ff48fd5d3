/**
 * The policy evaluation a stored hub shares (SQLite, PostgreSQL): its operator state comes from a
 * `PolicySource`, a cache the store keeps fresh; this turns it into verdicts and boot controls.
 */
import type { Instance, RuntimeInfo } from '../../proto/index.ts';
import { bootControlsOf, type BootControls } from './boot-policy.ts';
import { evaluateInstancePolicy, PolicyError, type MemoryPolicyRules, type PolicyVerdict, type UpdateTarget } from './policy.ts';
import { parsePolicyDocument, parseUpdateTarget, resolveInstancePolicy } from './policy-doc.ts';
import type { DeviceState } from './registry.ts';
import { inCohort } from './rollout.ts';

/** One device's operator state, as a policy evaluation reads it. */
export interface PolicyDevice {
  readonly state: DeviceState;
  /** The device's own policy document (JSON text), if any. */
  readonly policy: string | undefined;
  readonly holds: ReadonlyArray<{ readonly instance: string; readonly kind: string; readonly detail: string }>;
}

/** The instance's active or halted staged rollout, as the ticket path needs it. */
export interface PolicyRollout {
  readonly release: number;
  readonly percent: number;
  readonly state: 'active' | 'halted';
  /** The update target, as JSON (updateTargetJson). */
  readonly target: string;
}

/** The cached operator state a `CachedPolicy` evaluates. */
export interface PolicySource {
  /** Brings the cache up to date (cheap when nothing changed). */
  refresh(): void;
  fleetPolicy(): string | undefined;
  device(deviceId: string): PolicyDevice | undefined;
  rollout(instance: string): PolicyRollout | undefined;
}

/**
 * Policy from a stored hub's cached operator state (SQLite's ConfigCache, PostgreSQL's registry
 * snapshot): the fleet document, the device's own document and the operator's holds, evaluated by
 * the same function as MemoryPolicy. Parsed documents are cached by their text.
 */
export class CachedPolicy {
  private readonly parsed = new Map<string, MemoryPolicyRules | PolicyError>();
  private readonly targets = new Map<string, UpdateTarget>();

  constructor(private readonly cache: PolicySource) {}

  evaluate(deviceId: string, instance: Instance, runtime: RuntimeInfo): PolicyVerdict {
    this.cache.refresh();
    const fleet = this.document(this.cache.fleetPolicy());
    const row = this.cache.device(deviceId);
    const device = this.document(row?.policy);
    let update: UpdateTarget | undefined;
    for (const hold of row?.holds ?? [])
      if (hold.kind === 'update' && hold.instance === instance) update = this.target(hold.detail, instance);
    return evaluateInstancePolicy(resolveInstancePolicy(device, fleet, instance), instance, runtime, {
      withheld: withheldOf(row?.holds, instance),
      update,
      rollout: row?.state === 'active' ? this.rolloutTarget(deviceId, instance) : undefined,
    });
  }

  /**
   * What the instance's active rollout demands of this device: its target when the device is in the
   * cohort. One map lookup, and one hash when the instance has an active rollout. Rollouts do not
   * gate boots (bootControls): a cohort device that boots its old images keeps its services, and is
   * asked for the release at its next ticket request.
   */
  private rolloutTarget(deviceId: string, instance: Instance): UpdateTarget | undefined {
    const r = this.cache.rollout(instance);
    if (r === undefined || r.state !== 'active' || !inCohort(r.release, instance, deviceId, r.percent)) return undefined;
    return this.target(r.target, instance);
  }

  bootControls(deviceId: string): BootControls {
    this.cache.refresh();
    const fleet = this.document(this.cache.fleetPolicy());
    const row = this.cache.device(deviceId);
    const device = this.document(row?.policy);
    const updates: Array<readonly [Instance, UpdateTarget]> = [];
    for (const hold of row?.holds ?? []) {
      if (hold.kind === 'update' && (hold.instance === 'device' || hold.instance === 'mm')) {
        // A target stored before release versions existed names no release to hold a boot to; the
        // ticket path refuses it (internal-error) until the operator replaces or clears it.
        try {
          updates.push([hold.instance, this.target(hold.detail, hold.instance)]);
        } catch {
          continue;
        }
      }
    }
    return bootControlsOf(resolveInstancePolicy(device, fleet, 'device'), withheldOf(row?.holds, 'device'), updates);
  }

  private target(detail: string, instance: Instance): UpdateTarget {
    const key = `${instance}\u0000${detail}`;
    let t = this.targets.get(key);
    if (t === undefined) {
      t = parseUpdateTarget(JSON.parse(detail), 'required update', instance);
      if (this.targets.size > 1024) this.targets.clear();
      this.targets.set(key, t);
    }
    return t;
  }

  /** A stored document that no longer parses fails the evaluation (the core refuses: internal-error). */
  private document(text: string | undefined): MemoryPolicyRules | undefined {
    if (text === undefined) return undefined;
    let parsed = this.parsed.get(text);
    if (parsed === undefined) {
      try {
        parsed = parsePolicyDocument(JSON.parse(text));
      } catch (err) {
        parsed = err instanceof PolicyError ? err : new PolicyError('stored policy is not valid JSON');
      }
      if (this.parsed.size > 1024) this.parsed.clear(); // per-device documents: bound the cache
      this.parsed.set(text, parsed);
    }
    if (parsed instanceof PolicyError) throw parsed;
    return parsed;
  }
}

/** The operator's withhold text in force for `instance`: its own hold, else the device-wide one. */
function withheldOf(
  holds: ReadonlyArray<{ readonly kind: string; readonly instance: string; readonly detail: string }> | undefined,
  instance: Instance,
): string | undefined {
  let own: string | undefined;
  let deviceWide: string | undefined;
  for (const hold of holds ?? []) {
    if (hold.kind !== 'withhold') continue;
    if (hold.instance === '*') deviceWide = hold.detail;
    else if (hold.instance === instance) own = hold.detail;
  }
  return own ?? deviceWide;
}
