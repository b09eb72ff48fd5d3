/**
 * The ticket loop end to end: round trip device → hub → device over loopback MQTT, p50/p99
 * per instance on Aedes and on Mosquitto (both with TCP_NODELAY), and on Mosquitto over TLS
 * (docs/PROTOCOL.md §6.6: CA pinned, EC P-256 certificate from `dominion broker-config`'s module),
 * beside a bare MQTT request/response measured on the same broker in the same run; and the CPU the
 * whole loop costs at a 1 s interval.
 */
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RealClock } from '../runtime/index.ts';
import { demoFleet, demoSecrets, Device, timingFor, type DeviceEvent } from '../actors/device/index.ts';
import { encodeSecrets, startHubHost } from './hub-host-config.ts';
import { MqttHubLink } from '../actors/mm/index.ts';
import { awaitConnected, connectMqtt, type MqttTlsOptions } from '../actors/mqtt/index.ts';
import { makeBrokerConfig } from '../actors/mqtt/tls-material.ts';
import { sensorService } from '../actors/sm/index.ts';
import { startBenchMosquitto } from './mosquitto.ts';
import { median, percentile, progress, table } from './stats.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Sequential publish → echo → receive over one broker: the floor any ticket round trip stands on. */
async function bareRoundTrips(url: string, n: number, ca?: string): Promise<number[]> {
  const topic = `bench/${process.pid}/${Math.random().toString(16).slice(2)}`;
  const tls: { tls?: MqttTlsOptions } = ca !== undefined ? { tls: { ca } } : {};
  const requester = connectMqtt(url, tls);
  const responder = connectMqtt(url, tls);
  await Promise.all([awaitConnected(requester), awaitConnected(responder)]);
  await responder.subscribeAsync(`${topic}/req`, { qos: 1 });
  responder.on('message', (_t, payload) => void responder.publish(`${topic}/rep`, payload, { qos: 1 }));
  await requester.subscribeAsync(`${topic}/rep`, { qos: 1 });
  const rtts: number[] = [];
  const payload = Buffer.alloc(400, 7);
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await new Promise<void>((resolve) => {
      requester.once('message', () => resolve());
      requester.publish(`${topic}/req`, payload, { qos: 1 });
    });
    rtts.push(performance.now() - start);
  }
  await Promise.all([requester.endAsync(), responder.endAsync()]);
  return rtts;
}

interface LoopRun {
  readonly url: string;
  /** Boots the device (in this process) against the hub host's broker. */
  boot(): Device;
  stop(): Promise<void>;
}

/**
 * The hubs (and, without `brokerUrl`, an embedded Aedes) run in a child process; the device runs
 * here alone, as it would on a board whose hubs are elsewhere.
 */
async function prepareLoop(intervalMs: number, brokerUrl?: string, brokerCa?: string): Promise<LoopRun> {
  const idSuffix = `-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const services = ['sensor'];
  const deviceId = `bench${idSuffix}`;
  // Hubs grant no deferral under 1 s (its MQTT expiry is in whole seconds); the AWDT caps it anyway.
  const deferralMs = Math.max(1000, 3 * intervalMs);
  const secrets = demoSecrets(services);
  const host = await startHubHost({
    deviceId,
    services,
    deferralMs,
    idSuffix,
    brokerUrl,
    ...(brokerCa !== undefined ? { brokerCa } : {}),
    secrets: encodeSecrets(secrets),
  });
  const fleet = demoFleet({ deviceId, services, deferralMs, idSuffix, secrets });
  let device: Device | undefined;
  return {
    url: host.url,
    boot: () => {
      device = new Device({
        deviceId,
        firmwareVersion: '1.0.0',
        keys: fleet.keys,
        hubs: fleet.pins,
        timing: timingFor(intervalMs),
        services: [sensorService({ periodMs: Math.max(1000, intervalMs) })],
        dataDir: mkdtempSync(join(tmpdir(), 'dominion-bench-')),
        openLink: () => new MqttHubLink({ url: host.url, deviceId, services, ...(brokerCa !== undefined ? { ca: brokerCa } : {}) }),
        clock: new RealClock(),
      });
      device.boot();
      return device;
    },
    stop: async () => {
      device?.shutdown();
      await host.stop();
    },
  };
}

/** Ticket round trips per instance: from the nonce being drawn to the ticket being accepted. */
async function ticketRoundTrips(device: Device, samples: number): Promise<Map<string, number[]>> {
  const rtts = new Map<string, number[]>();
  let warm = 0;
  await new Promise<void>((resolve) => {
    const off = device.onEvent((e: DeviceEvent) => {
      if (e.type !== 'ticket') return;
      if (warm++ < 15) return; // let connections, JIT and key caches settle
      const list = rtts.get(e.instance) ?? [];
      list.push(e.at - (e.deadline - e.deferralMs));
      rtts.set(e.instance, list);
      if (rtts.size === 3 && [...rtts.values()].every((l) => l.length >= samples)) {
        off();
        resolve();
      }
    });
  });
  return rtts;
}

/** CPU time this process takes over a window of `seconds`, in % of one core. */
async function cpuPercent(seconds: number): Promise<number> {
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  await sleep(seconds * 1000);
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - wall0;
  return ((cpu.user + cpu.system) / 1000 / wall) * 100;
}

/** The loop bench's parts (`--only`): the CPU of the device at 1 s, and the round trips per broker. */
export const LOOP_PARTS = ['cpu', 'rtt'] as const;
export type LoopPart = (typeof LOOP_PARTS)[number];

export interface LoopBenchOptions {
  samples?: number;
  cpuSeconds?: number;
  /** CPU windows of the running device (one boot); the median is reported with the range. */
  cpuReps?: number;
  only?: readonly LoopPart[];
  /** Interval while sampling round trips: short enough to gather samples, long enough not to queue. */
  rttIntervalMs?: number;
}

export async function benchLoop(o: LoopBenchOptions = {}): Promise<string> {
  const samples = o.samples ?? 300;
  const cpuSeconds = o.cpuSeconds ?? 20;
  const rttIntervalMs = o.rttIntervalMs ?? 100;
  const cpuReps = o.cpuReps ?? 1;
  const parts = new Set<LoopPart>(o.only ?? LOOP_PARTS);
  const mosquitto = parts.has('rtt') ? await startBenchMosquitto() : undefined;
  const pki = mosquitto
    ? await makeBrokerConfig({ dir: mkdtempSync(join(tmpdir(), 'dominion-bench-tls-')), hosts: ['127.0.0.1'] })
    : undefined;
  const ca = pki !== undefined ? readFileSync(pki.caCert, 'utf8') : undefined;
  const mosquittoTls =
    pki !== undefined ? await startBenchMosquitto({ cafile: pki.caCert, certfile: pki.serverCert, keyfile: pki.serverKey }) : undefined;
  const brokers: Array<[string, string | undefined, string | undefined]> = [['Aedes (embedded, MQTT 3.1.1)', undefined, undefined]];
  if (mosquitto) brokers.push(['Mosquitto 2 (set_tcp_nodelay, MQTT 5 hubs)', mosquitto.url, undefined]);
  if (mosquittoTls) brokers.push(['Mosquitto 2 over TLS (CA pinned, EC P-256)', mosquittoTls.url, ca]);
  const rows: Array<Array<string | number>> = [];
  try {
    // CPU first, while this process is fresh: nothing left over from the round-trip phases.
    const idle: number[] = [];
    const withDevice: number[] = [];
    if (parts.has('cpu')) {
      progress(`CPU of the device at a 1 s interval (${cpuReps} × ${cpuSeconds} s; hubs and broker in another process)`);
      await sleep(1000);
      idle.push(await cpuPercent(cpuSeconds));
      const loop = await prepareLoop(1000);
      loop.boot();
      await sleep(1000); // boot and first rounds out of the way
      for (let i = 0; i < cpuReps; i++) {
        withDevice.push(await cpuPercent(cpuSeconds));
        progress(`window ${i + 1}: ${withDevice[i]!.toFixed(2)} %`);
      }
      await loop.stop();
    }
    for (const [name, brokerUrl, brokerCa] of parts.has('rtt') ? brokers : []) {
      const loop = await prepareLoop(rttIntervalMs, brokerUrl, brokerCa);
      try {
        progress(`bare MQTT request/response on ${name}`);
        const bare = await bareRoundTrips(loop.url, samples, brokerCa);
        rows.push([name, 'bare MQTT request/response', samples, percentile(bare, 50).toFixed(2), percentile(bare, 99).toFixed(2)]);
        progress(`ticket round trips on ${name} (${samples} per instance)`);
        const rtts = await ticketRoundTrips(loop.boot(), samples);
        for (const instance of ['device', 'mm', 'sm:sensor']) {
          const l = rtts.get(instance) ?? [];
          rows.push([name, `ticket ${instance}`, l.length, percentile(l, 50).toFixed(2), percentile(l, 99).toFixed(2)]);
        }
      } finally {
        await loop.stop();
      }
    }
    const out: string[] = [];
    if (parts.has('rtt')) {
      out.push(table(['broker', 'exchange', 'samples', 'p50 ms', 'p99 ms'], rows));
      out.push(
        `Ticket rows: interval ${rttIntervalMs} ms per instance, hubs (and Aedes) in a child process. Round trip = from the AWDT drawing its nonce to it accepting the ticket: sign, proxy, mm, MQTT, hub verify + decide + sign, MQTT, mm, proxy, verify (noble in sw for \`device\`, node for VMs).`,
      );
    }
    if (parts.has('cpu')) {
      const spread = (xs: readonly number[]) => (xs.length > 1 ? ` (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})` : '');
      out.push(
        table(
          ['process', `CPU % of one core${cpuReps > 1 ? `, median of ${cpuReps} windows of ${cpuSeconds} s (range)` : ''}`],
          [
            [
              'device: sw + hypervisor + mm + sm:sensor, 3 instances, interval 1 s, sensor sampling 1/s',
              `${median(withDevice).toFixed(2)}${spread(withDevice)}`,
            ],
            ['the same process idle (baseline)', idle[0]!.toFixed(2)],
          ],
        ),
      );
    }
    return out.join('\n\n');
  } finally {
    await mosquitto?.stop();
    await mosquittoTls?.stop();
  }
}
