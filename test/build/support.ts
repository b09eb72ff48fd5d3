/**
 * Shared by the build tests: a release key file, builds into temp dirs, and a whole device assembled
 * from *built bundles* in one process (actors/device's `singlePlacement`), under ManualClock with the
 * demo hubs reached in-process.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../../runtime/index.ts';
import { generateSecretKey, hex } from '../../actors/crypto/index.ts';
import {
  demoFleet,
  DirectHubLink,
  singlePlacement,
  type DemoFleet,
  type DeviceEvent,
  type LoadedArtifacts,
} from '../../actors/device/index.ts';
import { devicePublicKeys, HubServer, writeDeviceKeysFile, writeProvisioning, type HubCore } from '../../actors/hub/index.ts';
import { startEmbeddedBroker } from '../../actors/mqtt/index.ts';
import type { ActorSystem } from '../../runtime/index.ts';
import { readReleaseKey, type ReleaseKey } from '../../build/index.ts';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `dominion-${prefix}-`));
}

/** A release key file (hex seed, mode 0600) in `dir`, and the key. */
export function releaseKeyFile(dir: string, name = 'release.key'): { file: string; key: ReleaseKey } {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, name);
  writeFileSync(file, `${hex(generateSecretKey())}\n`, { mode: 0o600 });
  return { file, key: readReleaseKey(file) };
}

export const DEVICE_ID = 'pi-0001';

export interface ComposedDevice {
  readonly clock: ManualClock;
  readonly fleet: DemoFleet;
  readonly events: DeviceEvent[];
  readonly resets: Array<{ reason: number; detail: string }>;
  readonly published: Array<{ service: string; stream: string }>;
  readonly system: ActorSystem;
  /** While offline, requests to the hubs are lost (a network outage). */
  setOnline(online: boolean): void;
  shutdown(): void;
}

/** Starts a device from loaded bundles under ManualClock, with the demo hubs reached in-process. */
export function composeSingle(loaded: LoadedArtifacts, dataDir: string): ComposedDevice {
  const board = loaded.board;
  const clock = new ManualClock(0);
  const fleet = demoFleet({ deviceId: DEVICE_ID, services: board.services, deferralMs: board.timing.deferralMs });
  const hubs = new Map<string, (b: Uint8Array) => ReturnType<HubCore['handleRequest']>['reply']>([
    [fleet.ih.id, (b) => fleet.ih.core.handleRequest(b, clock.now()).reply],
    ...[...fleet.sh.values()].map((h) => [h.id, (b: Uint8Array) => h.core.handleRequest(b, clock.now()).reply] as const),
  ]);
  const published: ComposedDevice['published'] = [];
  let online = true;
  const link = new DirectHubLink({
    deviceId: DEVICE_ID,
    hubs,
    online: () => online,
    onService: (service, stream) => published.push({ service, stream }),
  });

  const events: ComposedDevice['events'] = [];
  const resets: ComposedDevice['resets'] = [];
  const placement = singlePlacement({
    loaded,
    deviceId: DEVICE_ID,
    keys: fleet.keys,
    hubs: fleet.pins,
    link: () => link,
    clock,
    drain: 'manual',
    dataDir,
    jitter: () => 0.5,
  });
  // One boot, no reboot: a reset is only recorded, so a test sees what led to it.
  const { system } = placement({ reboot: (reason, detail) => void resets.push({ reason, detail }), events: (e) => void events.push(e) });
  clock.afterFire(() => system.runUntilIdle());
  system.runUntilIdle();
  return {
    clock,
    fleet,
    events,
    resets,
    published,
    system,
    setOnline: (v) => void (online = v),
    shutdown: () => system.shutdown(),
  };
}

/** A device's far side for `dominion device` tests: an embedded broker, the demo hubs on it, and a provisioning file with key file in `root`. */
export interface ProvisionedHubs {
  readonly provision: string;
  readonly brokerUrl: string;
  /** The hubs themselves (policies, registries, releases), served on the broker by this process. */
  readonly fleet: DemoFleet;
  stop(): Promise<void>;
}

export async function provisionedHubs(
  root: string,
  deviceId: string,
  deferralMs: number,
  services: readonly string[] = ['sensor'],
): Promise<ProvisionedHubs> {
  const broker = await startEmbeddedBroker({ port: 0 });
  const fleet = demoFleet({ deviceId, services, deferralMs, idSuffix: `-${deviceId}-${process.pid}` });
  const hubs = await Promise.all(
    [fleet.ih, ...fleet.sh.values()].map((h) => HubServer.start({ core: h.core, brokerUrl: broker.url, hubId: h.id })),
  );
  writeDeviceKeysFile(join(root, `${deviceId}.keys.json`), { deviceId, ...fleet.keys });
  const provision = join(root, `${deviceId}.provision.json`);
  writeProvisioning(provision, {
    deviceId,
    broker: broker.url,
    deviceKeys: `${deviceId}.keys.json`,
    ih: fleet.pins.ih,
    services: fleet.pins.services,
    enrolled: devicePublicKeys({ deviceId, ...fleet.keys }).keys,
  });
  return {
    provision,
    brokerUrl: broker.url,
    fleet,
    stop: async () => {
      await Promise.all(hubs.map((h) => h.stop()));
      await broker.close();
    },
  };
}

/** What a `dominion device` child printed, and how it ended. */
export interface DeviceRun {
  readonly code: number | null;
  readonly out: string[];
  readonly err: string;
}

/**
 * Runs `dominion device <args>` as a child process (through tsx, from sources) and stops it with
 * SIGTERM at the first stdout line for which `until` holds; resolves when it has exited.
 */
export function runDeviceCli(args: readonly string[], until: (line: string) => boolean): Promise<DeviceRun> {
  const cli = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));
  // Text lines (a pipe would get JSON): the tests match what an operator reads at a terminal.
  const child = spawn(process.execPath, ['--import', 'tsx', cli, 'device', '--log-format', 'text', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  let err = '';
  child.stderr.on('data', (d: Buffer) => void (err += d.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    out.push(line);
    if (until(line)) child.kill('SIGTERM');
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, out, err })));
}
