/**
 * One fleet-simulator run, set up from scratch: the fleet's keys (cached), a fresh hub database with
 * the fleet enrolled, a private Mosquitto (unless a broker is named), a real `dominion hub` child
 * process, the signing thread, then the drive itself. Everything started here is stopped here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hex, randomNonce } from '../../actors/crypto/index.ts';
import { IH_ROLE, newHubKey, writeHubKeyFile } from '../../actors/hub/index.ts';
import { awaitConnected, connectMqtt, type MqttClient } from '../../actors/mqtt/index.ts';
import { topics } from '../../proto/index.ts';
import { startHub, stopHub } from '../hub.ts';
import { startBenchMosquitto } from '../mosquitto.ts';
import { progress } from '../stats.ts';
import { ownCpuSeconds, processCpuSeconds } from './cpu.ts';
import { driveFleet, type DriveResult } from './drive.ts';
import { fleetEnroller } from './enrol.ts';
import { fleetDeviceId, loadFleetKeys } from './fleet-keys.ts';
import { PreSigner } from './presign.ts';
import { ReplyReader } from './replies.ts';
import { nodeBackend } from '../../actors/crypto/index.ts';

export interface FleetSimOptions {
  readonly devices: number;
  /** Each device asks once per interval. */
  readonly intervalMs: number;
  /** The deferral the fleet policy grants. */
  readonly deferralMs: number;
  /** Measured time, after the warm-up. */
  readonly seconds: number;
  readonly warmupMs: number;
  readonly seed: number;
  readonly connections: number;
  readonly verifyEvery: number;
  readonly cacheDir?: string;
  /** The hub database (a file path); default a fresh file in a temp folder. */
  readonly db?: string;
  /** An MQTT broker already running; default a private Mosquitto. */
  readonly brokerUrl?: string;
}

export interface FleetRun {
  readonly options: FleetSimOptions;
  readonly broker: string;
  readonly keysCached: boolean;
  readonly keysMs: number;
  readonly enrolMs: number;
  readonly signerKeyMs: number;
  readonly signed: number;
  readonly signMs: number;
  readonly drive: DriveResult;
}

/** Subscriptions per SUBSCRIBE packet when each connection subscribes its devices' reply topics. */
const SUBSCRIBE_BATCH = 1000;

export async function runFleetSim(o: FleetSimOptions): Promise<FleetRun> {
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    let t = performance.now();
    progress(`fleet of ${o.devices} device(s), seed ${o.seed}: keys`);
    const fleet = loadFleetKeys({ devices: o.devices, seed: o.seed, cacheDir: o.cacheDir, note: progress });
    const keysMs = performance.now() - t;
    progress(`keys ${fleet.cached ? 'read from' : 'generated into'} ${fleet.file} in ${(keysMs / 1000).toFixed(1)} s`);

    // The signing thread prepares its keys while this thread enrols the fleet.
    const windowMs = Math.min(1000, o.intervalMs);
    const signer = new PreSigner(fleet.keys, o.intervalMs, o.seed, windowMs);
    cleanups.push(() => signer.stop());

    const dir = mkdtempSync(join(tmpdir(), 'dominion-fleet-sim-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const hubId = `fleet-sim-${hex(randomNonce(3))}`;
    const hubKey = newHubKey(hubId, IH_ROLE);
    const keyPath = join(dir, 'ih.key.json');
    writeHubKeyFile(keyPath, hubKey);
    const db = o.db ?? join(dir, 'ih.db');
    t = performance.now();
    fleetEnroller(db)(db, { hubId, deferralMs: o.deferralMs, keys: fleet.keys });
    const enrolMs = performance.now() - t;
    progress(`enrolled ${o.devices} device(s) in ${db} in ${(enrolMs / 1000).toFixed(1)} s`);

    let brokerUrl = o.brokerUrl;
    let brokerPid: number | undefined;
    if (brokerUrl === undefined) {
      // Queues and in-flight windows above what the fleet keeps outstanding: the broker must not drop load.
      const m = await startBenchMosquitto(undefined, ['max_inflight_messages 1000', 'max_queued_messages 1000000']);
      if (m === undefined) throw new Error('fleet-sim: mosquitto is not installed; install it or pass --broker URL');
      cleanups.push(() => m.stop());
      brokerUrl = m.url;
      brokerPid = m.pid;
    }
    progress(`broker ${brokerUrl}${brokerPid !== undefined ? ' (private Mosquitto)' : ''}`);

    const hub = await startHub(
      [
        'hub',
        '--role',
        'ih',
        '--id',
        hubId,
        '--broker',
        brokerUrl,
        '--db',
        db,
        '--key',
        keyPath,
        '--key-cache',
        String(Math.max(50_000, o.devices)),
      ],
      cleanups,
    );
    progress(`hub ${hubId} online (pid ${hub.process.pid})`);

    const clients: MqttClient[] = [];
    for (let c = 0; c < o.connections; c++) {
      const client = connectMqtt(brokerUrl, { protocolVersion: 5, clientId: `fleet-sim-${c}-${hex(randomNonce(3))}` });
      cleanups.push(() => client.endAsync(true));
      await awaitConnected(client);
      clients.push(client);
    }
    // Each device's reply topic on its own connection, as a real device subscribes: the broker routes
    // through as many subscriptions as the fleet has devices.
    for (let c = 0; c < o.connections; c++) {
      const mine: string[] = [];
      for (let d = c; d < o.devices; d += o.connections) mine.push(topics.reply(fleetDeviceId(d), 'device'));
      for (let i = 0; i < mine.length; i += SUBSCRIBE_BATCH)
        await clients[c]!.subscribeAsync(mine.slice(i, i + SUBSCRIBE_BATCH), { qos: 1 });
    }
    progress(`${o.connections} connection(s) subscribed to ${o.devices} reply topic(s)`);

    const { keyMs: signerKeyMs } = await signer.started;
    progress(`signing thread ready (${(signerKeyMs / 1000).toFixed(1)} s to prepare ${o.devices} key(s))`);

    const hubPid = hub.process.pid;
    progress(`driving: warm-up ${o.warmupMs / 1000} s, then ${o.seconds} s measured`);
    const drive = await driveFleet({
      clients,
      hubId,
      devices: o.devices,
      deferralMs: o.deferralMs,
      warmupMs: o.warmupMs,
      measureMs: o.seconds * 1000,
      windowMs,
      drainMs: Math.min(o.intervalMs, 10_000),
      signer,
      reader: new ReplyReader(nodeBackend().verifier(hubKey.publicKey), o.verifyEvery),
      cpu: () => ({ hub: processCpuSeconds(hubPid), broker: processCpuSeconds(brokerPid), sim: ownCpuSeconds() }),
      progress,
    });
    const stats = await stopHub(hub);
    if (stats !== undefined) progress(`hub stopped: ${stats}`);
    return {
      options: o,
      broker: brokerPid !== undefined ? 'private Mosquitto' : brokerUrl,
      keysCached: fleet.cached,
      keysMs,
      enrolMs,
      signerKeyMs,
      signed: signer.signed,
      signMs: signer.signMs,
      drive,
    };
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // best effort: a bench must not hang on cleanup
      }
    }
  }
}
