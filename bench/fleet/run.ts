/**
 * One fleet-simulator run, set up from scratch: the fleet's keys (cached), a fresh hub database with
 * the fleet enrolled, a private Mosquitto (unless a broker is named), a real `dominion hub` child
 * process, the signing thread, then the drive itself. Everything started here is stopped here.
 */
import { runCleanups } from '../cleanups.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hex, randomNonce } from '../../actors/crypto/index.ts';
import { IH_ROLE, newHubKey, writeHubKeyFile } from '../../actors/hub/index.ts';
import { awaitConnected, connectMqtt, type MqttClient } from '../../actors/mqtt/index.ts';
import { topics } from '../../proto/index.ts';
import { rawVerifySignRate, startHub, stopHub, type HubChild } from '../hub.ts';
import { startBenchMosquitto } from '../mosquitto.ts';
import { progress } from '../stats.ts';
import { ownCpuSeconds, processCpuSeconds } from './cpu.ts';
import { driveFleet, type DriveResult } from './drive.ts';
import { fleetEnroller } from './enrol.ts';
import { fleetDeviceId, loadFleetKeys } from './fleet-keys.ts';
import { PreSigner } from './presign.ts';
import { pgFleetDatabase } from './enrol-pg.ts';
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
  /** A PostgreSQL server (postgres://user@host:port/any): the hub runs on a fresh database there, dropped after. */
  readonly pgServer?: string;
  /** An MQTT broker already running; default a private Mosquitto. */
  readonly brokerUrl?: string;
  /** Hub processes of the one hub id (shared subscription), all on the one database. */
  readonly workers: number;
  /** Private Mosquitto brokers; every worker is on all of them, the fleet's connections spread over them. */
  readonly shards: number;
}

export interface FleetRun {
  readonly options: FleetSimOptions;
  readonly broker: string;
  readonly keysCached: boolean;
  readonly keysMs: number;
  readonly enrolMs: number;
  /** PostgreSQL runs: the copy of the enrolled SQLite file into the fresh database. */
  readonly pgCopyMs?: number;
  readonly signerKeyMs: number;
  readonly signed: number;
  readonly signMs: number;
  /** Raw Ed25519 verify+sign of the node backend in this process, before the run: per wall second and per CPU-second. */
  readonly raw: { readonly wall: number; readonly perCpu: number };
  readonly drive: DriveResult;
  /** Each worker's stop line (its counters). */
  readonly hubStops: readonly string[];
}

/** Subscriptions per SUBSCRIBE packet when each connection subscribes its devices' reply topics. */
const SUBSCRIBE_BATCH = 1000;

export async function runFleetSim(o: FleetSimOptions): Promise<FleetRun> {
  const cleanups: Array<() => Promise<void> | void> = [];
  try {
    // Before the signing thread starts: process.cpuUsage counts every thread of this process.
    progress('raw Ed25519 verify+sign (node backend), for the hub ÷ raw ratio');
    const raw = rawVerifySignRate(1, 3);
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
    let hubDb = db;
    let pgCopyMs: number | undefined;
    if (o.pgServer !== undefined) {
      const pgDb = await pgFleetDatabase(o.pgServer, db);
      cleanups.push(() => pgDb.drop());
      hubDb = pgDb.url;
      pgCopyMs = pgDb.copyMs;
      progress(`copied into PostgreSQL ${new URL(hubDb).pathname.slice(1)} in ${(pgCopyMs / 1000).toFixed(1)} s`);
    }

    const brokerUrls: string[] = [];
    const brokerPids: number[] = [];
    if (o.brokerUrl !== undefined) brokerUrls.push(o.brokerUrl);
    for (let b = 0; o.brokerUrl === undefined && b < o.shards; b++) {
      // Queues and in-flight windows above what the fleet keeps outstanding: the broker must not drop load.
      // Its queue per client stays Mosquitto's default (1,000; broker-config leaves it so too): past a
      // hub's answer rate the broker drops what it cannot queue, and the devices ask again.
      const m = await startBenchMosquitto(undefined, ['max_inflight_messages 1000']);
      if (m === undefined) throw new Error('fleet-sim: mosquitto is not installed; install it or pass --broker URL');
      cleanups.push(() => m.stop());
      brokerUrls.push(m.url);
      if (m.pid !== undefined) brokerPids.push(m.pid);
    }
    progress(`broker(s) ${brokerUrls.join(', ')}${brokerPids.length > 0 ? ' (private Mosquitto)' : ''}`);

    const hubs: HubChild[] = [];
    for (let w = 0; w < o.workers; w++) {
      const hub = await startHub(
        [
          'hub',
          '--role',
          'ih',
          '--id',
          hubId,
          ...brokerUrls.flatMap((u) => ['--broker', u]),
          '--db',
          hubDb,
          '--key',
          keyPath,
          // PostgreSQL workers keep no key cache of their own (the flag is SQLite's).
          ...(o.pgServer === undefined ? ['--key-cache', String(Math.max(50_000, o.devices))] : []),
        ],
        cleanups,
      );
      hubs.push(hub);
      progress(`hub ${hubId} worker ${w + 1}/${o.workers} online (pid ${hub.process.pid})`);
    }

    const clients: MqttClient[] = [];
    for (let c = 0; c < o.connections; c++) {
      // Connection c is on shard c mod shards: device d (on connection d mod connections) with it.
      const client = connectMqtt(brokerUrls[c % brokerUrls.length]!, {
        protocolVersion: 5,
        clientId: `fleet-sim-${c}-${hex(randomNonce(3))}`,
      });
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

    const hubPids = hubs.map((h) => h.process.pid);
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
      cpu: () => ({
        hubs: hubPids.map((pid) => processCpuSeconds(pid)),
        brokers: brokerPids.map((pid) => processCpuSeconds(pid)),
        sim: ownCpuSeconds(),
      }),
      progress,
    });
    const hubStops: string[] = [];
    for (const hub of hubs) {
      const stats = await stopHub(hub);
      if (stats !== undefined) progress(`hub stopped: ${stats}`);
      else progress(`hub gave no stop line; its last output:\n${hub.output().slice(-3000)}`);
      hubStops.push(stats ?? 'no stop line');
    }
    return {
      options: o,
      broker: brokerPids.length > 0 ? `${brokerPids.length} private Mosquitto` : brokerUrls[0]!,
      keysCached: fleet.cached,
      keysMs,
      enrolMs,
      ...(pgCopyMs !== undefined ? { pgCopyMs } : {}),
      signerKeyMs,
      signed: signer.signed,
      signMs: signer.signMs,
      raw,
      drive,
      hubStops,
    };
  } finally {
    await runCleanups(cleanups);
  }
}
