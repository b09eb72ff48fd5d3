import fc from 'fast-check';
/** Keys, requests and hubs shared by the hub and MQTT tests (not a test file itself). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CONTEXTS,
  cryptoBackend,
  generateSecretKey,
  hex,
  randomNonce,
  type SignatureContext,
  type Signer,
} from '../../actors/crypto/index.ts';
import { open, pinned, seal } from '../../actors/tickets/index.ts';
import {
  codecs,
  create,
  ResetReason,
  TicketRequestSchema,
  toBinary,
  type Instance,
  type MessageInitShape,
  type RuntimeInfoSchema,
  type TicketReply,
} from '../../proto/index.ts';
import {
  HubCore,
  IH_ROLE,
  PendingBatch,
  type HubDecision,
  MemoryAuditLog,
  MemoryPolicy,
  MemoryRegistry,
  serviceHubRole,
  type HubRole,
  type InstancePolicy,
  type MemoryPolicyRules,
  newHubKey,
  type SqliteHubOptions,
  writeHubKeyFile,
} from '../../actors/hub/index.ts';
import { enrollKeys, setFleetPolicy, SqliteHubStore } from '../../actors/hub/sqlite/index.ts';

export const node = cryptoBackend('node');

export function newSigner(): Signer {
  return node.signer(generateSecretKey());
}

/** A SHA-512 of a label, standing in for a code or image digest. */
export function digestOf(label: string): Uint8Array {
  return node.sha512(new TextEncoder().encode(label));
}

export type RuntimeInit = MessageInitShape<typeof RuntimeInfoSchema>;

export function deviceRuntime(firmwareVersion = '2.1.0'): RuntimeInit {
  return {
    report: {
      case: 'device',
      value: {
        bootCount: 3n,
        lastResetReason: ResetReason.POWER_ON,
        firmwareVersion,
        manifestDigest: digestOf('manifest'),
        hypervisorImageDigest: digestOf('hypervisor'),
      },
    },
  };
}

export function domainRuntime(actors: readonly { name: string; code?: string }[], image = 'image'): RuntimeInit {
  return {
    report: {
      case: 'domain',
      value: {
        actors: actors.map((a) => ({ name: a.name, codeDigest: digestOf(a.code ?? a.name), mailboxCapacity: 64 })),
        restarts: 0,
        memoryBytes: 1024n,
        imageDigest: digestOf(image),
        boots: 1,
      },
    },
  };
}

export interface SignedRequest {
  readonly bytes: Uint8Array;
  readonly nonce: Uint8Array;
  /** The device it names: it goes to that device's request topic. */
  readonly deviceId: string;
}

/** A signed TicketRequest envelope, as the hypervisor or `sw` would send it. */
export function signedRequest(
  signer: Signer,
  deviceId: string,
  instance: string,
  runtime: RuntimeInit,
  context: SignatureContext = CONTEXTS.ticketRequest,
): SignedRequest {
  const nonce = randomNonce(32);
  const request = create(TicketRequestSchema, { deviceId, instance, nonce, runtime, uptimeMs: 42_000n });
  return { bytes: seal(signer, context, toBinary(TicketRequestSchema, request)), nonce, deviceId };
}

/** Opens a reply with the hub's public key, as the AWDT would; throws if it does not verify or decode. */
export function openReply(bytes: Uint8Array, hubPublicKey: Uint8Array): TicketReply {
  const opened = open(bytes, CONTEXTS.ticketReply, pinned(node.verifier(hubPublicKey)));
  if (!opened.ok) throw opened.error;
  return codecs.ticketReply.decode(opened.payload);
}

export const MM_ACTORS = ['receiver', 'forwarder'] as const;

/** Default IH rules: device with a firmware floor, mm with an allow-list and expected digests. */
export function ihRules(): MemoryPolicyRules {
  const mm: InstancePolicy = {
    deferralMs: 30_000,
    maxDeferralMs: 60_000,
    allowedActors: [...MM_ACTORS],
    expectedDigests: Object.fromEntries(MM_ACTORS.map((name) => [name, hex(digestOf(name))])),
  };
  return {
    instances: {
      device: {
        deferralMs: 45_500,
        maxDeferralMs: 120_000,
        minFirmwareVersion: '2.0.0',
        firmwareUpdate: {
          version: '2.1.0',
          imageDigest: digestOf('firmware-2.1.0'),
          fetchTopic: 'dominion/v1/images/firmware/2.1.0',
          sizeBytes: 4096,
          releaseVersion: 21,
        },
      },
      mm,
    },
  };
}

export interface HubFixture {
  readonly core: HubCore;
  readonly registry: MemoryRegistry;
  readonly policy: MemoryPolicy;
  readonly audit: MemoryAuditLog;
  readonly hub: Signer;
}

export function makeHub(role: HubRole, rules: MemoryPolicyRules, registry = new MemoryRegistry(node)): HubFixture {
  const hub = newSigner();
  const policy = new MemoryPolicy(rules);
  const audit = new MemoryAuditLog();
  const core = new HubCore({ role, registry, policy, signer: hub, audit });
  return { core, registry, policy, audit, hub };
}

export interface DeviceKeys {
  readonly deviceId: string;
  readonly device: Signer; // K_I
  readonly mm: Signer; // K_MM
  readonly sm: Signer; // K_SM_weather
}

/** A unique device id, so runs against a shared broker never collide. */
export function uniqueId(prefix: string): string {
  return `${prefix}-${hex(randomNonce(6))}`;
}

export function newDevice(deviceId = uniqueId('board')): DeviceKeys {
  return { deviceId, device: newSigner(), mm: newSigner(), sm: newSigner() };
}

export function enrollIH(registry: MemoryRegistry, dev: DeviceKeys): void {
  registry.enroll(dev.deviceId, 'device', dev.device.publicKey);
  registry.enroll(dev.deviceId, 'mm', dev.mm.publicKey);
}

export const SERVICE = 'weather';
export const SM: Instance = `sm:${SERVICE}`;

export function ihFixture(): HubFixture & { dev: DeviceKeys } {
  const fx = makeHub(IH_ROLE, ihRules());
  const dev = newDevice();
  enrollIH(fx.registry, dev);
  return { ...fx, dev };
}

export function shFixture(registry = new MemoryRegistry(node)): HubFixture & { dev: DeviceKeys } {
  const fx = makeHub(serviceHubRole(SERVICE), { instances: { [SM]: { deferralMs: 20_000 } } }, registry);
  const dev = newDevice();
  fx.registry.enroll(dev.deviceId, SM, dev.sm.publicKey);
  return { ...fx, dev };
}

// ── SQLite-backed hubs ──────────────────────────────────────────────────────────────────────────

/** A fresh temp directory, removed when the process exits. */
export function tempDir(prefix = 'dominion-hub-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (tempDirs.size === 0) process.once('exit', () => tempDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  tempDirs.add(dir);
  return dir;
}
const tempDirs = new Set<string>();

/**
 * A core on a SQLite store, deciding as the server does: decisions collect in a batch (`ask`) and
 * reach the database only at `commit`.
 */
export interface StagedHub {
  readonly core: HubCore;
  ask(bytes: Uint8Array, nowMs: number): HubDecision;
  /** Commits the batch; returns how many decisions it held. */
  commit(): number;
}

export function stagedHub(store: SqliteHubStore, hub: Signer, role: HubRole = IH_ROLE): StagedHub {
  const core = new HubCore({ role, signer: hub, store });
  const batch = new PendingBatch();
  return {
    core,
    ask: (bytes, nowMs) => core.handle(bytes, nowMs, batch).decision,
    commit: () => {
      const decided = batch.take();
      store.commit(decided.map((d) => d.effects));
      return decided.length;
    },
  };
}

export interface SqliteFixture extends StagedHub {
  readonly dir: string;
  readonly path: string;
  readonly store: SqliteHubStore;
  readonly hub: Signer;
  readonly dev: DeviceKeys;
}

/** An IH on a SQLite store with the ihRules() fleet policy and one enrolled device. */
export function sqliteIhFixture(dir = tempDir()): SqliteFixture {
  const path = join(dir, 'ih.db');
  const store = SqliteHubStore.open({ path, create: true, identity: { hubId: 'ih-test', role: IH_ROLE } });
  setFleetPolicy(store.db, ihRules());
  const dev = newDevice();
  enrollKeys(store.db, dev.deviceId, [
    { instance: 'device', publicKey: dev.device.publicKey },
    { instance: 'mm', publicKey: dev.mm.publicKey },
  ]);
  const hub = newSigner();
  return { dir, path, store, hub, dev, ...stagedHub(store, hub) };
}

/** Byte-level mutations of a valid request, for the property tests that feed hubs hostile input. */
export type Mutation =
  { kind: 'flip'; at: number; mask: number } | { kind: 'cut'; at: number } | { kind: 'insert'; at: number; bytes: Uint8Array };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
);

export function mutate(bytes: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let out = new Uint8Array(bytes);
  for (const m of mutations) {
    if (out.length === 0) break;
    const at = m.at % out.length;
    if (m.kind === 'flip') out[at] ^= m.mask;
    else if (m.kind === 'cut') out = out.slice(0, at);
    else out = new Uint8Array([...out.subarray(0, at), ...m.bytes, ...out.subarray(at)]);
  }
  return out;
}

/** A closed IH database (fleet default policy) with `devices` enrolled for `device`, and its hub key file beside it. */
export interface IhDatabaseFile {
  readonly path: string;
  readonly hubId: string;
  readonly keyPath: string;
  readonly key: ReturnType<typeof newHubKey>;
  readonly devices: DeviceKeys[];
}

export function ihDatabaseFile(deviceCount: number): IhDatabaseFile {
  const dir = tempDir();
  const path = join(dir, 'ih.db');
  const hubId = uniqueId('ih');
  const keyPath = join(dir, 'ih.key.json');
  const key = newHubKey(hubId, IH_ROLE);
  writeHubKeyFile(keyPath, key);
  const store = SqliteHubStore.open({ path, create: true, identity: { hubId, role: IH_ROLE } });
  setFleetPolicy(store.db, { default: { deferralMs: 60_000 } });
  const devices = Array.from({ length: deviceCount }, () => newDevice());
  for (const d of devices) enrollKeys(store.db, d.deviceId, [{ instance: 'device', publicKey: d.device.publicKey }]);
  store.close();
  return { path, hubId, keyPath, key, devices };
}

/** A `SqliteHub` on `db` behind the broker at `brokerUrl`, with a plain subscription: spread, then add the test's own options. */
export function hubOn(
  db: IhDatabaseFile,
  brokerUrl: string,
): Pick<SqliteHubOptions, 'role' | 'hubId' | 'brokerUrl' | 'dbPath' | 'signer' | 'shareGroup'> {
  return { role: IH_ROLE, hubId: db.hubId, brokerUrl, dbPath: db.path, signer: db.key.signer, shareGroup: null };
}
