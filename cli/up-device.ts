/**
 * The device of `dominion up`, as a board runs it: the `sim` board's signed bundles, built here
 * (releases 1, 2 and a broken 3), published to the hubs with `dominion publish`'s code, installed into
 * the device's A/B slots, and booted from them in one process (`single` placement on slots) over MQTT
 * — so the scenario can show gated boot, image restore, an update and a rollback on real artifacts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ActorSystem, Clock } from '../runtime/index.ts';
import { loadBoard, type BoardProfile } from '../boards/index.ts';
import { generateSecretKey, hex } from '../actors/crypto/index.ts';
import {
  BundledDevice,
  defaultDeferralMs,
  foldStatus,
  newStatus,
  prepareSlots,
  receiverRoutes,
  slottedPlacement,
  type AssembledDevice,
  type DeviceEvent,
  type DeviceStatus,
} from '../actors/device/index.ts';
import { publishArtifacts } from '../actors/hub/sqlite/index.ts';
import { buildBoard, PROJECT_ROOT } from '../build/index.ts';
import type { SqliteFleet } from './up-hubs.ts';

/** What the live display and the scenario watch. */
export interface WatchedDevice {
  readonly clock: Clock;
  readonly status: DeviceStatus;
  onEvent(listener: (e: DeviceEvent) => void): () => void;
  /** The next event that satisfies `pred`, or undefined after `timeoutMs` of real time. */
  nextEvent(pred: (e: DeviceEvent) => boolean, timeoutMs: number): Promise<DeviceEvent | undefined>;
  /** The running actor system (the scenario plays an intruder in it); null while the device is down. */
  readonly system: ActorSystem | null;
  boot(): void;
  shutdown(): void;
}

export interface UpDevice extends WatchedDevice {
  readonly board: BoardProfile;
  readonly dataDir: string;
}

/** The `sim` board with the ticket timing of `--interval`. */
function simBoard(intervalMs: number): BoardProfile {
  const sim = loadBoard('sim');
  return {
    ...sim,
    timing: {
      intervalMs,
      deferralMs: defaultDeferralMs(intervalMs),
      maxDeferralMs: 6 * intervalMs,
      initialTimeoutMs: 10 * intervalMs,
      vmInitialTimeoutMs: 6 * intervalMs,
      replyTimeoutMs: Math.max(50, Math.floor(intervalMs / 4)),
    },
  };
}

/**
 * A sensor image that crashes as it starts (release 3 of the scenario, what it rolls back from):
 * writes its module into `dir` and returns the path, for `buildBoard`'s `serviceImages`.
 */
export function brokenSensor(dir: string): string {
  const file = join(dir, 'sm-sensor-broken.ts');
  const from = (path: string) => JSON.stringify(resolve(PROJECT_ROOT, path));
  writeFileSync(
    file,
    `import { serviceEntry } from ${from('actors/images/service.ts')};
export { ENTRY_ABI, runtime } from ${from('actors/images/common.ts')};
const entry = serviceEntry('sensor', () => ({
  name: 'sensor',
  version: '3.0.0',
  capacity: 8,
  start() { throw new Error('release 3 of the sensor crashes at start'); },
}));
export const DOMAIN = entry.DOMAIN;
export const SERVICE = entry.SERVICE;
export const channels = entry.channels;
export const install = entry.install;
`,
  );
  return file;
}

export async function startUpDevice(o: {
  readonly dir: string;
  readonly sqlite: SqliteFleet;
  readonly url: string;
  readonly intervalMs: number;
  readonly dataDir: string;
  readonly clock: Clock;
  readonly log: (line: string) => void;
  /** Services of the user's (`--service`): added to the board, built from these entry modules (build/service-module.ts). */
  readonly extraServices?: { readonly names: readonly string[]; readonly serviceImages: Readonly<Record<string, string>> };
}): Promise<UpDevice> {
  const { fleet } = o.sqlite;
  mkdirSync(o.dir, { recursive: true });
  const keyFile = join(o.dir, 'release.key');
  writeFileSync(keyFile, `${hex(generateSecretKey())}\n`, { mode: 0o600 });
  const sim = simBoard(o.intervalMs);
  const extra = o.extraServices?.names.filter((n) => !sim.services.includes(n)) ?? [];
  const board: BoardProfile = { ...sim, services: [...sim.services, ...extra] };
  const userImages = o.extraServices?.serviceImages ?? {};
  const releases: string[] = [];
  let releasePub: Uint8Array | undefined;
  for (const [version, serviceImages] of [
    [1, userImages],
    [2, userImages],
    [3, { ...userImages, sensor: brokenSensor(o.dir) }],
  ] as const) {
    const started = performance.now();
    const built = await buildBoard({
      board,
      outDir: join(o.dir, `release-${version}`),
      releaseKey: keyFile,
      releaseVersion: version,
      serviceImages,
    });
    releases.push(built.dir);
    releasePub = built.releaseKey.publicKey;
    for (const hub of o.sqlite.hubs) publishArtifacts(hub.store.db, built.dir, { releasePub: built.releaseKey.publicKey });
    o.log(
      `built and published release ${version}${version === 3 ? ' (a broken sensor)' : ''} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  const slotted = await prepareSlots(releases[0]!, releasePub!, o.dataDir);
  const placement = slottedPlacement({
    slotted,
    deviceId: fleet.deviceId,
    keys: fleet.keys,
    hubs: fleet.pins,
    link: {
      url: o.url,
      deviceId: fleet.deviceId,
      services: board.services,
      username: o.sqlite.deviceCredential.username,
      password: o.sqlite.deviceCredential.password,
      ...(o.sqlite.brokerCa !== undefined ? { ca: o.sqlite.brokerCa } : {}),
    },
    clock: o.clock,
    dataDir: o.dataDir,
  });
  const device = new BundledDevice(o.clock, placement, Math.max(100, o.intervalMs));
  const status = newStatus(fleet.deviceId, receiverRoutes(fleet.pins, board.services));
  device.onEvent((e) => foldStatus(status, e));
  return {
    board,
    dataDir: o.dataDir,
    clock: o.clock,
    status,
    onEvent: (listener) => device.onEvent(listener),
    nextEvent: (pred, timeoutMs) => device.nextEvent(pred, timeoutMs),
    get system() {
      return (device.device as AssembledDevice | null)?.system ?? null;
    },
    boot: () => device.boot(),
    shutdown: () => device.shutdown(),
  };
}
