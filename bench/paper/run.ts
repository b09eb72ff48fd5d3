/**
 * One measurement of the paper benchmark, in a process of its own:
 *
 *   node --import tsx bench/paper/run.ts '<RunSpec as JSON>'   →   stdout: RESULT <RunResult as JSON>
 *
 * (The benchmark itself runs a bundle of this file made at its start: see index.ts.)
 *
 * This process holds only what a board would: the workload, and for VM/DOM the device (sw, hypervisor,
 * mm, sm:<workload>) in `single` placement. The hubs, the broker and the throughput sink run in a
 * child (bench/hub-host.ts), as they would elsewhere on the network. Every setup gets the same
 * child, even HYP, so the machine looks the same to each.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSecretKey } from '../../actors/crypto/index.ts';
import type { DemoSecrets, Device, DeviceEvent } from '../../actors/device/index.ts';
import type { MqttHubLink } from '../../actors/mm/index.ts';
import type { ServiceSpec } from '../../actors/sm/index.ts';
import { encodeSecrets, startHubHost, type HubHost } from '../hub-host-config.ts';
import type { CpuCounter, StreamCounters } from './services.ts';
import { DEFERRAL_FACTOR, intervalOf, sealsServiceData, type RunResult, type RunSpec } from './setups.ts';

const t0 = performance.now();
const debug = (what: string): void => {
  if (process.env.PAPER_DEBUG) process.stderr.write(`[run ${(performance.now() - t0).toFixed(0)} ms] ${what}\n`);
};

/** The heavy modules, loaded while the hub host starts (each process spends ~1 s loading TypeScript). */
async function loadModules() {
  const [device, mm, mqtt, proto, runtime, kernel, services] = await Promise.all([
    import('../../actors/device/index.ts'),
    import('../../actors/mm/index.ts'),
    import('../../actors/mqtt/index.ts'),
    import('../../proto/index.ts'),
    import('../../runtime/index.ts'),
    import('./kernel.ts'),
    import('./services.ts'),
  ]);
  return { ...device, ...mm, ...mqtt, ...proto, ...runtime, ...kernel, ...services };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A reading of the workload's progress: work done so far, with the time and CPU it was read at. */
interface Reading {
  readonly work: number;
  readonly atMs: number;
  readonly cpuUs: number;
  readonly mainCpuUs: number;
  /** Wall time the single-core workload spent in its kernel so far, ms (VM/DOM). */
  readonly busyMs: number;
  readonly hostCpuUs: number;
  readonly hostAtMs: number;
}

interface Workload {
  /** Reads the work done so far (iterations, or payload bytes at the sink). */
  read(): Promise<Reading>;
  checksum(): number;
}

/** CPU time of the calling (main) thread, µs, from Linux's schedstat (ns precision); NaN elsewhere. */
const mainThreadCpuUs = (): number => {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1000;
  } catch {
    return NaN;
  }
};

const cpuNow = (): number => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

async function reading(host: HubHost, work: () => number, busyMs: () => number = () => NaN): Promise<Reading> {
  const h = await host.stats();
  const atMs = performance.now();
  const cpuUs = cpuNow();
  return { work: work(), atMs, cpuUs, mainCpuUs: mainThreadCpuUs(), busyMs: busyMs(), hostCpuUs: h.cpuUs, hostAtMs: h.atMs };
}

async function sinkReading(host: HubHost): Promise<Reading> {
  const cpuUs = cpuNow();
  const mainCpuUs = mainThreadCpuUs();
  const atMs = performance.now();
  const h = await host.stats();
  // Bytes are counted at the sink, so the rate is taken on the sink's clock.
  return { work: h.sinkBytes, atMs, cpuUs, mainCpuUs, busyMs: NaN, hostCpuUs: h.cpuUs, hostAtMs: h.atMs };
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`${what} within ${timeoutMs / 1000} s`);
    await sleep(20);
  }
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as RunSpec;
  const interval = intervalOf(spec.setup);
  const dominance = interval !== undefined;
  const service = spec.workload === 'throughput' ? 'stream' : 'cpu';
  const idSuffix = `-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const deviceId = `paper${idSuffix}`;
  const deferralMs = DEFERRAL_FACTOR * (interval ?? 1000);
  const secrets: DemoSecrets = {
    device: { device: generateSecretKey(), mm: generateSecretKey(), services: { [service]: generateSecretKey() } },
    ih: generateSecretKey(),
    services: { [service]: generateSecretKey() },
  };
  // Same as topics.serviceOut / serviceIn (proto/topics.ts), spelled out so the host can start before proto loads.
  const bulkTopic = `dominion/v1/service/${service}/${deviceId}/bulk`;
  const ackTopic = `dominion/v1/device/${deviceId}/service/${service}`;
  const hostStarting = startHubHost(
    {
      deviceId,
      services: [service],
      deferralMs,
      idSuffix,
      secrets: encodeSecrets(secrets),
      sink:
        spec.workload === 'throughput'
          ? {
              topic: bulkTopic,
              ackTopic,
              ackEveryBytes: spec.windowBytes / 8,
              sealed: spec.setup !== 'HYP' && sealsServiceData(spec.setup),
            }
          : undefined,
    },
    { nice: spec.hostNice, script: spec.hostScript },
  );
  const m = await loadModules();
  if (bulkTopic !== m.topics.serviceOut(service, deviceId, 'bulk') || ackTopic !== m.topics.serviceIn(deviceId, service))
    throw new Error('topic conventions changed');
  debug('modules loaded');
  const host = await hostStarting;
  debug('hub host ready');

  const anomalies: string[] = [];
  const events: DeviceEvent[] = [];
  let device: Device | undefined;
  let link: MqttHubLink | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'dominion-paper-'));
  const counter: CpuCounter = { iterations: 0, crc: 0, busyMs: 0 };
  const counts = m.newWorkerCounters(spec.workers);
  const stream: StreamCounters = { sent: 0, acked: 0, refused: 0, stalls: 0 };
  let workload: Workload;

  const bootDevice = async (svc: ServiceSpec<never>): Promise<void> => {
    const fleet = m.demoFleet({ deviceId, services: [service], deferralMs, idSuffix, secrets });
    device = new m.Device({
      deviceId,
      firmwareVersion: '1.0.0',
      keys: fleet.keys,
      hubs: fleet.pins,
      timing: m.timingFor(interval ?? 1000),
      services: [svc],
      dataDir,
      openLink: () =>
        (link = new m.MqttHubLink({ url: host.url, deviceId, services: [service], maxServiceInflightBytes: 2 * spec.windowBytes })),
      clock: new m.RealClock(),
      dominance,
      sealServiceData: sealsServiceData(spec.setup),
    });
    device.onEvent((e) => {
      events.push(e);
      if (
        e.type === 'expired' ||
        e.type === 'refused' ||
        e.type === 'withheld' ||
        e.type === 'update-required' ||
        e.type === 'reset' ||
        e.type === 'fault'
      ) {
        anomalies.push(`${e.type}${'instance' in e ? ` ${e.instance}` : ''}${'detail' in e ? `: ${e.detail}` : ''}`);
      }
    });
    device.boot();
    // Ready: every instance holds its first ticket (DOM), or mm's link is up (VM).
    await until(
      () =>
        dominance
          ? new Set(events.filter((e) => e.type === 'ticket').map((e) => (e as { instance: string }).instance)).size === 3
          : (link?.counters.connects ?? 0) > 0,
      20_000,
      `${spec.setup}: device not ready`,
    );
  };

  switch (spec.workload) {
    case 'cpu-single': {
      if (!dominance && spec.setup === 'HYP') {
        // Plain Node: the kernel in a tight loop on the main thread, no runtime at all.
        const k = m.newKernel();
        const runFor = (ms: number): void => {
          const end = performance.now() + ms;
          while (performance.now() < end) {
            counter.crc = m.runIterations(k, counter.iterations, spec.chunk, counter.crc);
            counter.iterations += spec.chunk;
          }
        };
        const h0 = await host.stats();
        runFor(spec.warmupSeconds * 1000);
        const a = { work: counter.iterations, atMs: performance.now(), cpuUs: cpuNow(), mainCpuUs: mainThreadCpuUs(), busyMs: NaN };
        runFor(spec.seconds * 1000);
        const b = { work: counter.iterations, atMs: performance.now(), cpuUs: cpuNow(), mainCpuUs: mainThreadCpuUs(), busyMs: NaN };
        const h1 = await host.stats();
        // The host is idle here; its CPU is taken over the whole run instead of the window.
        const r0: Reading = { ...a, hostCpuUs: h0.cpuUs, hostAtMs: h0.atMs };
        const r1: Reading = { ...b, hostCpuUs: h1.cpuUs, hostAtMs: h1.atMs };
        let i = 0;
        workload = { read: async () => (i++ === 0 ? r0 : r1), checksum: () => counter.crc };
      } else {
        await bootDevice(m.cpuSingleService({ chunk: spec.chunk, counter }));
        workload = {
          read: () =>
            reading(
              host,
              () => counter.iterations,
              () => counter.busyMs,
            ),
          checksum: () => counter.crc,
        };
      }
      break;
    }
    case 'cpu-multi': {
      if (spec.setup === 'HYP') {
        m.startCpuWorkers(counts, spec.workers, spec.chunk, spec.workerScript);
        workload = { read: () => reading(host, () => m.workerIterations(counts)), checksum: () => 0 };
      } else {
        await bootDevice(m.cpuMultiService({ workers: spec.workers, chunk: spec.chunk, counts, script: spec.workerScript }));
        workload = { read: () => reading(host, () => m.workerIterations(counts)), checksum: () => 0 };
      }
      break;
    }
    case 'throughput': {
      if (spec.setup === 'HYP') {
        // Plain Node: one MQTT client publishing straight to the broker, with the same window.
        const client = m.connectMqtt(host.url, { clientId: `paper-hyp-${process.pid}` });
        await m.awaitConnected(client);
        const payload = Buffer.alloc(spec.payloadBytes, 0x5a);
        const pump = (): void => {
          while (stream.sent - stream.acked + spec.payloadBytes <= spec.windowBytes) {
            client.publish(bulkTopic, payload, { qos: 1 });
            stream.sent += spec.payloadBytes;
          }
        };
        client.on('message', (_t, p) => {
          const acked = Number(p.toString());
          if (Number.isSafeInteger(acked) && acked > stream.acked) stream.acked = acked;
          pump();
        });
        await client.subscribeAsync(ackTopic, { qos: 1 });
        pump();
        workload = { read: () => sinkReading(host), checksum: () => 0 };
      } else {
        await bootDevice(m.streamService({ payloadBytes: spec.payloadBytes, windowBytes: spec.windowBytes, counters: stream }));
        // The first burst can race mm's subscription to the acknowledgements; start once they flow.
        await until(() => stream.acked > 0, 20_000, 'no acknowledgement from the sink');
        workload = { read: () => sinkReading(host), checksum: () => 0 };
      }
      break;
    }
  }

  debug('workload running');
  if (!(spec.workload === 'cpu-single' && spec.setup === 'HYP')) await sleep(spec.warmupSeconds * 1000);
  const from = events.length;
  const rounds0 = device?.receiverCounters.rounds ?? 0;
  // The delay monitor is a 20 ms timer on the main loop: harmless where the loop is busy anyway, but it
  // would be most of what the main thread does in the multi-core runs, so it stays off there.
  const watchLoop = spec.workload !== 'cpu-multi' && !(spec.workload === 'cpu-single' && spec.setup === 'HYP');
  const loop = monitorEventLoopDelay({ resolution: 20 });
  if (watchLoop) loop.enable();
  const r0 = await workload.read();
  if (!(spec.workload === 'cpu-single' && spec.setup === 'HYP')) await sleep(spec.seconds * 1000);
  const r1 = await workload.read();
  loop.disable();
  const rounds = (device?.receiverCounters.rounds ?? 0) - rounds0;
  const ticketEvents = events.slice(from).flatMap((e) => (e.type === 'ticket' ? [e] : []));
  const tickets = ticketEvents.length;
  const rtts = ticketEvents.map((e) => e.at - (e.deadline - e.deferralMs)).sort((a, b) => a - b);

  const throughput = spec.workload === 'throughput';
  const windowMs = throughput ? r1.hostAtMs - r0.hostAtMs : r1.atMs - r0.atMs;
  const work = r1.work - r0.work;
  const cpuSeconds = (r1.cpuUs - r0.cpuUs) / 1e6;
  const score = throughput ? (work * 8) / 1e6 / (windowMs / 1000) : work / (windowMs / 1000);
  const perCpuSecond = (throughput ? (work * 8) / 1e6 : work) / cpuSeconds;
  if (stream.stalls > 0) anomalies.push(`throughput stalled ${stream.stalls}× (acknowledgements stopped)`);
  if (link !== undefined && link.counters.serviceRefused > 0)
    anomalies.push(`mm link refused ${link.counters.serviceRefused} service publishes`);
  if (work <= 0) anomalies.push('no work done in the window');

  const result: RunResult = {
    spec,
    score,
    perCpuSecond,
    windowMs,
    cpuPercent: ((r1.cpuUs - r0.cpuUs) / 1000 / (r1.atMs - r0.atMs)) * 100,
    mainCpuPercent: ((r1.mainCpuUs - r0.mainCpuUs) / 1000 / (r1.atMs - r0.atMs)) * 100,
    workloadShare:
      spec.workload === 'cpu-multi'
        ? 1 - (r1.mainCpuUs - r0.mainCpuUs) / (r1.cpuUs - r0.cpuUs)
        : (r1.busyMs - r0.busyMs) / (r1.atMs - r0.atMs),
    hostCpuPercent: ((r1.hostCpuUs - r0.hostCpuUs) / 1000 / (r1.hostAtMs - r0.hostAtMs)) * 100,
    tickets,
    rounds,
    ticketRttP50: rtts.length > 0 ? rtts[rtts.length >> 1]! : NaN,
    ticketRttMax: rtts.length > 0 ? rtts[rtts.length - 1]! : NaN,
    loopDelayP99: watchLoop ? loop.percentile(99) / 1e6 : NaN,
    loopDelayMax: watchLoop ? loop.max / 1e6 : NaN,
    anomalies,
    checksum: workload.checksum(),
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);

  // No graceful teardown: the hub host exits when our end of its stdin closes, while the next run is
  // still starting up (loading, booting, warming up) — nothing of it overlaps a measured window.
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`paper run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
