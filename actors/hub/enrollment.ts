/**
 * Enrolment (docs/ARCHITECTURE.md §3): register one device's public keys with its hubs and describe the
 * result for the device. The IH gets K_I and, if the device has one, K_MM (a device without K_MM is
 * enrolled for `device` only: the IH then refuses any request signed for `mm` as from an unknown
 * signer); each SH_k gets K_SM_k and nothing else — an SH never learns another service's key or the
 * device's. The device gets a provisioning file pinning
 * the hubs' ids and public keys.
 *
 * Broker credentials (docs/ARCHITECTURE.md §7.1): the device's password hash goes to the IH's
 * database (the IH owns the device's identity; `dominion broker-sync` reads it from there), and each
 * hub's own hash, when its public file carries one, to that hub's database. Enrolling a device again
 * replaces its hash: the caller made a new password, so re-enrolment rotates the credential.
 *
 * Every hub database is written only after all checks pass (one IH, exactly one SH per service the
 * device runs, each database belonging to the hub named), so a mistake leaves nothing half-done.
 */
import { serviceOf, type Instance } from '../../proto/index.ts';
import { describeHub, type HubPublicKey } from './keyfiles.ts';
import { provisioningJson, type DevicePublicKeys, type HubPin, type ProvisioningInput } from '../provisioning/index.ts';
import { dominates } from './role.ts';
import {
  claimHubIdentity,
  enrollKeys,
  readHubIdentity,
  setDeviceBrokerCredential,
  setHubBrokerCredential,
  SqliteHubStore,
  HubStoreError,
  type HubIdentity,
} from './sqlite/index.ts';
import {
  claimPgHubIdentity,
  describeUrl,
  isPostgresUrl,
  openPool,
  pgEnrollKeys,
  pgSetDeviceBrokerCredential,
  pgSetHubBrokerCredential,
  readPgHubIdentity,
  requirePgSchema,
  type PgPool,
} from './postgres/index.ts';

export interface EnrollTarget {
  readonly hub: HubPublicKey;
  /** The hub's database: a SQLite file (created when missing) or a `postgres://` URL (enrollDeviceOnHubs). */
  readonly dbPath: string;
}

export interface EnrollDeviceOptions {
  readonly device: DevicePublicKeys;
  readonly hubs: readonly EnrollTarget[];
  /** The device key file as the provisioning file should name it. */
  readonly deviceKeys: string;
  /** The device's broker account: the hash the IH keeps, and the credential file as the provisioning file names it. */
  readonly brokerCredential?: { readonly passwordHash: string; readonly file: string };
  readonly broker?: string;
  /** Every broker in order, the primary first (provisioning `brokers`); instead of `broker`. */
  readonly brokers?: readonly string[];
  /** PEM text of the broker CA the device pins (provisioning `brokerCa`). */
  readonly brokerCa?: string;
  /** The release public key to pin in the provisioning file (what the device's artifacts are signed with). */
  readonly releaseKey?: Uint8Array;
  /** Enrol a revoked device again (with new keys). */
  readonly reinstate?: boolean;
  readonly nowMs?: number;
}

export interface EnrollResult {
  readonly provisioning: ProvisioningInput;
  /** What went where: hub → instances enrolled there. */
  readonly placed: ReadonlyArray<{ readonly hub: string; readonly dbPath: string; readonly instances: readonly Instance[] }>;
}

export class EnrollmentError extends Error {
  override readonly name = 'EnrollmentError';
}

/** Enrols on SQLite hub databases only (synchronous); `enrollDeviceOnHubs` takes PostgreSQL URLs too. */
export function enrollDevice(options: EnrollDeviceOptions): EnrollResult {
  const provisioning = planEnrollment(options);
  const pg = options.hubs.find((t) => isPostgresUrl(t.dbPath));
  if (pg !== undefined) throw new EnrollmentError(`${describeUrl(pg.dbPath)}: a PostgreSQL hub database; use enrollDeviceOnHubs`);
  const stores = openSqliteTargets(options.hubs);
  const placed: Placed[] = [];
  try {
    for (const { target, store } of stores) placed.push(writeSqliteTarget(store, target, options));
  } finally {
    for (const { store } of stores) store.close();
  }
  return { provisioning, placed };
}

/**
 * Enrols on each hub's database, SQLite file or PostgreSQL URL (`postgres://…`, whose schema must
 * exist: `dominion hub --init`). Every database is opened and checked before any is written.
 */
export async function enrollDeviceOnHubs(options: EnrollDeviceOptions): Promise<EnrollResult> {
  const provisioning = planEnrollment(options);
  const pgTargets = options.hubs.filter((t) => isPostgresUrl(t.dbPath));
  const stores = openSqliteTargets(options.hubs.filter((t) => !isPostgresUrl(t.dbPath)));
  const pools = new Map<EnrollTarget, PgPool>();
  try {
    for (const t of pgTargets) {
      const where = `PostgreSQL at ${describeUrl(t.dbPath)}`;
      const pool = await openPool({ url: t.dbPath, max: 2 });
      pools.set(t, pool);
      await requirePgSchema(pool, where);
      checkIdentity(await readPgHubIdentity(pool), t, where);
    }
    const placed: Placed[] = [];
    const nowMs = options.nowMs ?? Date.now();
    for (const target of options.hubs) {
      const pool = pools.get(target);
      const store = stores.find((s) => s.target === target)?.store;
      if (store !== undefined) {
        placed.push(writeSqliteTarget(store, target, options));
        continue;
      }
      await claimPgHubIdentity(pool!, { hubId: target.hub.hubId, role: target.hub.role });
      const keys = options.device.keys.filter((k) => dominates(target.hub.role, k.instance));
      await pgEnrollKeys(pool!, options.device.deviceId, keys, { reinstate: options.reinstate ?? false, nowMs });
      if (target.hub.brokerPasswordHash !== undefined)
        await pgSetHubBrokerCredential(pool!, target.hub.hubId, target.hub.brokerPasswordHash, nowMs);
      if (options.brokerCredential !== undefined && target.hub.role.kind === 'ih')
        await pgSetDeviceBrokerCredential(pool!, options.device.deviceId, options.brokerCredential.passwordHash, nowMs);
      placed.push({
        hub: describeHub(target.hub),
        dbPath: `postgres://${describeUrl(target.dbPath)}`,
        instances: keys.map((k) => k.instance),
      });
    }
    return { provisioning, placed };
  } finally {
    for (const { store } of stores) store.close();
    for (const pool of pools.values()) await pool.end().catch(() => {});
  }
}

type Placed = { hub: string; dbPath: string; instances: Instance[] };

/** The checks every enrolment passes before any database is touched, and the provisioning file's content. */
function planEnrollment(options: EnrollDeviceOptions): ProvisioningInput {
  const { device } = options;
  if (!device.keys.some((k) => k.instance === 'device'))
    throw new EnrollmentError(`device ${device.deviceId} has no key for the device instance (K_I)`);
  const ihs = options.hubs.filter((t) => t.hub.role.kind === 'ih');
  if (ihs.length !== 1) throw new EnrollmentError(`exactly one infrastructure hub (role ih) is needed, got ${ihs.length}`);
  const ih = ihs[0]!;
  const services = new Map<string, EnrollTarget>();
  for (const t of options.hubs) {
    if (t.hub.role.kind !== 'sh') continue;
    if (services.has(t.hub.role.service)) throw new EnrollmentError(`two service hubs for service ${t.hub.role.service}`);
    services.set(t.hub.role.service, t);
  }
  const deviceServices = device.keys.flatMap((k) => {
    const s = serviceOf(k.instance);
    return s === undefined ? [] : [s];
  });
  for (const s of deviceServices)
    if (!services.has(s)) throw new EnrollmentError(`device ${device.deviceId} runs service ${s} but no service hub for it was given`);
  for (const s of services.keys())
    if (!deviceServices.includes(s))
      throw new EnrollmentError(`a service hub for ${s} was given, but device ${device.deviceId} has no key for sm:${s}`);
  const paths = options.hubs.map((t) => t.dbPath);
  if (new Set(paths).size !== paths.length) throw new EnrollmentError('each hub needs its own database (the same path was given twice)');

  const pin = (h: HubPublicKey): HubPin => ({ id: h.hubId, publicKey: h.publicKey });
  const provisioning: ProvisioningInput = {
    deviceId: device.deviceId,
    ...(options.broker !== undefined ? { broker: options.broker } : {}),
    ...(options.brokers !== undefined ? { brokers: options.brokers } : {}),
    ...(options.brokerCa !== undefined ? { brokerCa: options.brokerCa } : {}),
    deviceKeys: options.deviceKeys,
    ...(options.brokerCredential !== undefined ? { brokerCredential: options.brokerCredential.file } : {}),
    ih: pin(ih.hub),
    services: Object.fromEntries([...services].map(([s, t]) => [s, pin(t.hub)])),
    enrolled: device.keys.map((k) => ({ instance: k.instance, publicKey: k.publicKey })),
    ...(options.releaseKey !== undefined ? { releaseKey: options.releaseKey } : {}),
  };
  provisioningJson(provisioning); // checks it parses back
  return provisioning;
}

/** Opens every SQLite database and checks it belongs to its hub, before any is written. */
function openSqliteTargets(targets: readonly EnrollTarget[]): Array<{ target: EnrollTarget; store: SqliteHubStore }> {
  const stores: Array<{ target: EnrollTarget; store: SqliteHubStore }> = [];
  try {
    for (const t of targets) {
      const store = SqliteHubStore.open({ path: t.dbPath, create: true });
      stores.push({ target: t, store });
      checkIdentity(readHubIdentity(store.db), t, t.dbPath);
    }
  } catch (err) {
    for (const { store } of stores) store.close();
    throw err;
  }
  return stores;
}

function checkIdentity(current: HubIdentity | undefined, t: EnrollTarget, where: string): void {
  if (
    current !== undefined &&
    (current.hubId !== t.hub.hubId || current.role.kind !== t.hub.role.kind || serviceName(current.role) !== serviceName(t.hub.role))
  )
    throw new HubStoreError('wrong-hub', `${where} belongs to hub ${current.hubId}, not ${describeHub(t.hub)}`);
}

function writeSqliteTarget(store: SqliteHubStore, target: EnrollTarget, options: EnrollDeviceOptions): Placed {
  claimHubIdentity(store.db, { hubId: target.hub.hubId, role: target.hub.role });
  const keys = options.device.keys.filter((k) => dominates(target.hub.role, k.instance));
  enrollKeys(store.db, options.device.deviceId, keys, {
    reinstate: options.reinstate ?? false,
    ...(options.nowMs !== undefined ? { nowMs: options.nowMs } : {}),
  });
  const nowMs = options.nowMs ?? Date.now();
  if (target.hub.brokerPasswordHash !== undefined) setHubBrokerCredential(store.db, target.hub.hubId, target.hub.brokerPasswordHash, nowMs);
  if (options.brokerCredential !== undefined && target.hub.role.kind === 'ih')
    setDeviceBrokerCredential(store.db, options.device.deviceId, options.brokerCredential.passwordHash, nowMs);
  return { hub: describeHub(target.hub), dbPath: target.dbPath, instances: keys.map((k) => k.instance) };
}

function serviceName(role: HubPublicKey['role']): string | undefined {
  return role.kind === 'sh' ? role.service : undefined;
}
