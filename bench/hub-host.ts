/**
 * Child process for benchmarks: plays the hubs (and, unless given a broker, an embedded Aedes) so the
 * measuring process holds the device alone. Reads one JSON line on stdin — the demo fleet's secrets —
 * prints `READY <broker-url>`, and exits when stdin closes.
 *
 * With a `sink` in the config it also subscribes to a topic filter and counts the payload bytes that
 * arrive (the throughput workload's far end), acknowledging them on `sink.ackTopic` as a cumulative
 * count (every `ackEveryBytes`, and every 100 ms) so the sender can keep a bounded window in flight. Each further stdin line `STATS` is answered
 * with one stdout line `STATS <json>` (see `HostStats`): what the sink has received and the CPU this
 * process has used, both stamped with this process's clock.
 *
 * With `releases` the hubs serve those artifacts' images (restores and updates): in memory, or — for
 * the service hubs, `serviceHubStore: 'sqlite'` — from a SQLite hub database in a temp directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { cryptoBackend, fromHex } from '../actors/crypto/index.ts';
import { demoFleet, publishRelease } from '../actors/device/index.ts';
import { HubServer, serviceHubRole, sqlite, SqliteHub } from '../actors/hub/index.ts';
import { verifyArtifacts } from '../actors/release/index.ts';
import { serviceInstance, serviceMessageLiteCodec } from '../proto/index.ts';
import { awaitConnected, connectMqtt, startEmbeddedBroker } from '../actors/mqtt/index.ts';
import { decodeSecrets, type HostStats, type HubHostConfig } from './hub-host-config.ts';

const lines = createInterface({ input: process.stdin });
const first = await new Promise<string>((resolve) => lines.once('line', resolve));
const config = JSON.parse(first) as HubHostConfig;
const broker = config.brokerUrl === undefined ? await startEmbeddedBroker({ port: 0 }) : undefined;
const url = config.brokerUrl ?? broker!.url;
const tls = config.brokerCa !== undefined ? { tls: { ca: config.brokerCa } } : {};
const fleet = demoFleet({
  deviceId: config.deviceId,
  services: config.services,
  deferralMs: config.deferralMs,
  idSuffix: config.idSuffix,
  secrets: decodeSecrets(config.secrets),
});
const releases = config.releases;
const releasePub = releases === undefined ? undefined : fromHex(releases.releasePub);
const sqliteShs = releases?.serviceHubStore === 'sqlite';
if (releases !== undefined && releasePub !== undefined) {
  for (const dir of releases.dirs) {
    const verified = verifyArtifacts(dir, releasePub);
    if (sqliteShs)
      publishRelease({ ...fleet, sh: new Map() }, verified, Date.now()); // the IH's images
    else publishRelease(fleet, verified, Date.now());
  }
}
const dbDir = sqliteShs ? mkdtempSync(join(tmpdir(), 'dominion-bench-hubs-')) : undefined;
const servers: Array<{ stop(): Promise<void> }> = await Promise.all([
  HubServer.start({ core: fleet.ih.core, brokerUrl: url, ...tls, hubId: fleet.ih.id }),
  ...[...fleet.sh].map(async ([service, h]) => {
    if (!sqliteShs || dbDir === undefined) return HubServer.start({ core: h.core, brokerUrl: url, ...tls, hubId: h.id });
    const deviceKeys = decodeSecrets(config.secrets).device;
    const hub = await SqliteHub.start({
      role: serviceHubRole(service),
      hubId: h.id,
      brokerUrl: url,
      ...(config.brokerCa !== undefined ? { brokerTls: { ca: config.brokerCa } } : {}),
      dbPath: join(dbDir, `${h.id}.db`),
      signer: h.key,
      init: true,
    });
    sqlite.enrollKeys(hub.store.db, config.deviceId, [
      { instance: serviceInstance(service), publicKey: cryptoBackend('node').publicKeyOf(deviceKeys.services[service]!) },
    ]);
    for (const dir of releases!.dirs) sqlite.publishArtifacts(hub.store.db, dir, { releasePub: releasePub! });
    return hub;
  }),
]);

const sink = { bytes: 0, messages: 0, seals: 0 };
let reAck: ReturnType<typeof setInterval> | undefined;
const sinkClient = config.sink === undefined ? undefined : connectMqtt(url, { clientId: `bench-sink-${process.pid}`, ...tls });
if (sinkClient !== undefined && config.sink !== undefined) {
  const { topic, ackTopic, ackEveryBytes, sealed } = config.sink;
  await awaitConnected(sinkClient);
  let acked = 0;
  sinkClient.on('message', (_topic, payload) => {
    if (sealed === true) {
      const decoded = serviceMessageLiteCodec.tryDecode(payload);
      if (!decoded.ok || decoded.message.kind.case !== 'record') {
        sink.seals++;
        return;
      }
      sink.bytes += decoded.message.kind.value.payload.length;
    } else sink.bytes += payload.length;
    sink.messages++;
    if (ackTopic !== undefined && sink.bytes - acked >= (ackEveryBytes ?? 0)) {
      acked = sink.bytes;
      sinkClient.publish(ackTopic, String(acked), { qos: 1 });
    }
  });
  await sinkClient.subscribeAsync(topic, { qos: 1 });
  // Re-acknowledge now and then: an acknowledgement sent before the sender subscribed is lost, and a
  // sender with a full window would otherwise wait for one that never comes.
  if (ackTopic !== undefined) {
    reAck = setInterval(() => {
      if (sink.bytes > 0 && sinkClient.connected) sinkClient.publish(ackTopic, String(sink.bytes), { qos: 1 });
    }, 100);
  }
}

process.stdout.write(`READY ${url}\n`);
lines.on('line', (line) => {
  if (line.trim() !== 'STATS') return;
  const cpu = process.cpuUsage();
  const stats: HostStats = {
    atMs: performance.now(),
    sinkBytes: sink.bytes,
    sinkMessages: sink.messages,
    sinkSeals: sink.seals,
    cpuUs: cpu.user + cpu.system,
  };
  process.stdout.write(`STATS ${JSON.stringify(stats)}\n`);
});
lines.on('close', async () => {
  clearInterval(reAck);
  await sinkClient?.endAsync(true).catch(() => {});
  await Promise.allSettled(servers.map((h) => h.stop()));
  await broker?.close();
  if (dbDir !== undefined) rmSync(dbDir, { recursive: true, force: true });
  process.exit(0);
});
