/**
 * Child process for the recovery bench's CPU part: one bundled device alone in a process, booted from
 * its slots (`slotted`) or straight from the verified artifacts (`single`), or no device at all
 * (`idle`: the same modules imported, nothing running). Reads one JSON line (`DeviceHostConfig`),
 * prints `READY` once the sensor holds a ticket (at once for `idle`); each further stdin line `CPU` is
 * answered with `CPU <json>` (`DeviceCpu`: this process's CPU so far and the tickets it holds, on its
 * own clock). Exits when stdin closes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { RealClock } from '../runtime/index.ts';
import { fromHex } from '../actors/crypto/index.ts';
import { BundledDevice, demoFleet, loadArtifacts, prepareSlots, singlePlacement, slottedPlacement } from '../actors/device/index.ts';
import { decodeSecrets, type HubHostConfig } from './hub-host-config.ts';

export interface DeviceHostConfig {
  readonly variant: 'single' | 'slotted' | 'idle';
  /** Built, signed artifacts. */
  readonly dir: string;
  readonly releasePub: string;
  readonly url: string;
  readonly hub: Pick<HubHostConfig, 'deviceId' | 'services' | 'deferralMs' | 'idSuffix' | 'secrets'>;
}

export interface DeviceCpu {
  readonly atMs: number;
  /** User + system CPU of this process so far, µs. */
  readonly cpuUs: number;
  readonly tickets: number;
}

const lines = createInterface({ input: process.stdin });
const config = JSON.parse(await new Promise<string>((resolve) => lines.once('line', resolve))) as DeviceHostConfig;
const dataDir = mkdtempSync(join(tmpdir(), 'dominion-bench-cpu-'));
const releasePub = fromHex(config.releasePub);
const { deviceId, services, deferralMs, idSuffix } = config.hub;
const fleet = demoFleet({ deviceId, services, deferralMs, idSuffix, secrets: decodeSecrets(config.hub.secrets) });
const clock = new RealClock();
const common = {
  deviceId,
  keys: fleet.keys,
  hubs: fleet.pins,
  link: { url: config.url, deviceId, services },
  clock,
  dataDir,
};
let tickets = 0;
let device: BundledDevice | undefined;
if (config.variant === 'idle') {
  await loadArtifacts(config.dir, releasePub); // the same code in memory, nothing running
  process.stdout.write('READY\n');
} else {
  const placement =
    config.variant === 'single'
      ? singlePlacement({ ...common, loaded: await loadArtifacts(config.dir, releasePub) })
      : slottedPlacement({ ...common, slotted: await prepareSlots(config.dir, releasePub, dataDir) });
  device = new BundledDevice(clock, placement, 1000);
  let ready = false;
  device.onEvent((e) => {
    if (e.type !== 'ticket') return;
    tickets++;
    if (!ready && e.instance === `sm:${services[0]}`) {
      ready = true;
      process.stdout.write('READY\n');
    }
  });
  device.boot();
}
lines.on('line', (line) => {
  if (line.trim() !== 'CPU') return;
  const cpu = process.cpuUsage();
  const answer: DeviceCpu = { atMs: performance.now(), cpuUs: cpu.user + cpu.system, tickets };
  process.stdout.write(`CPU ${JSON.stringify(answer)}\n`);
});
lines.on('close', () => {
  device?.shutdown();
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
});
