/**
 * The hub's registry of enrolled devices (docs/ARCHITECTURE.md §3, §7): per device, its state and one
 * public key per AWDT instance this hub answers for; per instance, when it last asked and was last
 * granted a ticket. `HubRegistry` is implemented in memory here and on SQLite (sqlite/store.ts); it
 * is synchronous on purpose (better-sqlite3 is) so a decision stays a plain function. Decisions do
 * not write through it: their activity is an effect (effects.ts) the store applies.
 *
 * Each enrolled key gets its prepared Verifier at enrolment, so a request costs one verify and no
 * key parsing (§3). Only key ids and public keys are held here: nothing secret.
 */
import { cryptoBackend, hex, type CryptoBackend, type Verifier } from '../crypto/index.ts';
import { instanceProblem, type Instance } from '../../proto/index.ts';
import { DEVICE_ID_PATTERN } from '../provisioning/index.ts';
import type { ActivityEffect } from './effects.ts';
import type { DecisionReason, HubOutcome } from './reasons.ts';

export type DeviceState = 'active' | 'quarantined' | 'revoked';

export interface EnrolledKey {
  readonly deviceId: string;
  readonly instance: Instance;
  readonly keyId: Uint8Array;
  readonly publicKey: Uint8Array;
  readonly verifier: Verifier;
}

export interface EnrolledDevice {
  readonly deviceId: string;
  readonly state: DeviceState;
  readonly instances: readonly Instance[];
}

/** What the hub last saw from and gave to one instance. Never nonce or ticket bytes. */
export interface InstanceActivity {
  readonly lastRequestAtMs?: number;
  readonly lastOutcome?: HubOutcome;
  /** The reason of the last decision (`granted`, `foreign-actor`, `quarantined`, …). */
  readonly lastReason?: DecisionReason;
  readonly lastTicketAtMs?: number;
  readonly lastDeferralMs?: number;
}

export interface HubRegistry {
  /** Enrols (or rotates) the key of one instance of a device; creates the device as `active`. */
  enroll(deviceId: string, instance: Instance, publicKey: Uint8Array): EnrolledKey;
  /** The enrolment a key id belongs to; undefined when no enrolled key has it. */
  keyById(keyId: Uint8Array): EnrolledKey | undefined;
  keyFor(deviceId: string, instance: Instance): EnrolledKey | undefined;
  device(deviceId: string): EnrolledDevice | undefined;
  devices(): readonly EnrolledDevice[];
  /** Throws RegistryError('unknown-device') for a device that is not enrolled. */
  setState(deviceId: string, state: DeviceState): void;
  activity(deviceId: string, instance: Instance): InstanceActivity | undefined;
}

export type RegistryErrorCode = 'bad-device-id' | 'bad-instance' | 'bad-key' | 'key-in-use' | 'unknown-device';

export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  constructor(
    readonly code: RegistryErrorCode,
    detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}

interface MutableDevice {
  state: DeviceState;
  readonly keys: Map<Instance, EnrolledKey>;
  readonly activity: Map<Instance, InstanceActivity>;
}

/** In-memory registry: tests, `npm start`, and the reference behaviour for the SQLite one. */
export class MemoryRegistry implements HubRegistry {
  private readonly backend: CryptoBackend;
  private readonly byId = new Map<string, MutableDevice>();
  private readonly byKeyId = new Map<string, EnrolledKey>(); // hex(keyId) -> enrolment

  /** Hubs verify with the node backend by default (§3: ≈16× faster verifies than noble). */
  constructor(backend: CryptoBackend = cryptoBackend('node')) {
    this.backend = backend;
  }

  enroll(deviceId: string, instance: Instance, publicKey: Uint8Array): EnrolledKey {
    if (typeof deviceId !== 'string' || !DEVICE_ID_PATTERN.test(deviceId)) {
      throw new RegistryError('bad-device-id', 'device id must be 1-64 characters of [A-Za-z0-9._-]');
    }
    const problem = instanceProblem(instance);
    if (problem !== undefined) throw new RegistryError('bad-instance', problem);
    let verifier: Verifier;
    try {
      verifier = this.backend.verifier(publicKey);
    } catch (err) {
      throw new RegistryError('bad-key', err instanceof Error ? err.message : 'not an Ed25519 public key');
    }
    const id = hex(verifier.keyId);
    const holder = this.byKeyId.get(id);
    if (holder !== undefined && (holder.deviceId !== deviceId || holder.instance !== instance)) {
      // One key, one instance: otherwise a K_SM key could pass for `device` (§2 table).
      throw new RegistryError('key-in-use', `key ${id} is already enrolled for ${holder.deviceId}/${holder.instance}`);
    }
    let device = this.byId.get(deviceId);
    if (device === undefined) {
      device = { state: 'active', keys: new Map(), activity: new Map() };
      this.byId.set(deviceId, device);
    }
    const previous = device.keys.get(instance);
    if (previous !== undefined) this.byKeyId.delete(hex(previous.keyId)); // rotation retires the old key
    const enrolled: EnrolledKey = Object.freeze({
      deviceId,
      instance,
      keyId: verifier.keyId.slice(),
      publicKey: verifier.publicKey.slice(),
      verifier,
    });
    device.keys.set(instance, enrolled);
    this.byKeyId.set(id, enrolled);
    return enrolled;
  }

  keyById(keyId: Uint8Array): EnrolledKey | undefined {
    if (!(keyId instanceof Uint8Array)) return undefined;
    return this.byKeyId.get(hex(keyId));
  }

  keyFor(deviceId: string, instance: Instance): EnrolledKey | undefined {
    return this.byId.get(deviceId)?.keys.get(instance);
  }

  device(deviceId: string): EnrolledDevice | undefined {
    const device = this.byId.get(deviceId);
    return device === undefined ? undefined : record(deviceId, device);
  }

  devices(): readonly EnrolledDevice[] {
    return [...this.byId].map(([id, device]) => record(id, device));
  }

  setState(deviceId: string, state: DeviceState): void {
    const device = this.byId.get(deviceId);
    if (device === undefined) throw new RegistryError('unknown-device', `device ${deviceId.slice(0, 64)} is not enrolled`);
    device.state = state;
  }

  /** Applies a decision's activity effect (MemoryHubStore); a device enrolled nowhere is ignored. */
  recordActivity(a: ActivityEffect): void {
    const device = this.byId.get(a.deviceId);
    if (device === undefined) return;
    const prev = device.activity.get(a.instance) ?? {};
    device.activity.set(a.instance, {
      ...prev,
      lastRequestAtMs: a.atMs,
      lastOutcome: a.outcome,
      lastReason: a.reason,
      ...(a.deferralMs !== undefined ? { lastTicketAtMs: a.atMs, lastDeferralMs: a.deferralMs } : {}),
    });
  }

  activity(deviceId: string, instance: Instance): InstanceActivity | undefined {
    return this.byId.get(deviceId)?.activity.get(instance);
  }
}

function record(deviceId: string, device: MutableDevice): EnrolledDevice {
  return { deviceId, state: device.state, instances: [...device.keys.keys()] };
}
