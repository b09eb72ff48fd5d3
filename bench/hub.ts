/**
 * Hub capacity: signed requests verified, decided, audited (SQLite, batched commits) and
 * answered per second by one `dominion hub` process over loopback MQTT, beside the raw Ed25519
 * verify+sign rate of the node backend measured in the same run; p50/p99 latency; how both change
 * with 1, 100 and 10,000 devices, over Mosquitto and over Aedes; and two hub processes on a shared
 * subscription against one.
 *
 * Set-up: a private Mosquitto (`set_tcp_nodelay true`, generous in-flight limits) on a free port,
 * unless `mosquittoPort` names one; the hub is a real child process on a real database; the load
 * generator here keeps a fixed number of requests in flight (closed loop), pre-signed before each
 * run so its own signing never limits the hub. Latency = publish of a request → arrival of its reply.
 *
 *   node --import tsx bench/hub.ts [--runs N] [--seconds S] [--devices 1,100,10000] [--mosquitto-port P] [--single]
 *                                  [--activity-flush MS] [--db postgres|postgres://…]
 *
 * --single: only the fleet-size runs of one hub over Mosquitto (quick; for profiling the hub).
 * --db postgres: the hubs on a fresh PostgreSQL database on DATABASE_URL's server (dropped after).
 *
 * Tables go to stdout; progress to stderr.
 */
import { runCleanups } from './cleanups.ts';
import { processCpuSeconds } from './fleet/cpu.ts';
import { freePort, waitForPort } from './mosquitto.ts';
import { lineChart } from './svg.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { CONTEXTS, cryptoBackend, generateSecretKey, hex, randomNonce, type Signer } from '../actors/crypto/index.ts';
import { seal } from '../actors/tickets/index.ts';
import { awaitConnected, connectMqtt, toBuffer, type MqttClient } from '../actors/mqtt/index.ts';
import { codecs, create, ResetReason, TicketRequestSchema, toBinary, topics } from '../proto/index.ts';
import { IH_ROLE, newHubKey, writeHubKeyFile } from '../actors/hub/index.ts';
import { enrollKeys, setFleetPolicy, SqliteHubStore } from '../actors/hub/sqlite/index.ts';
import { median, percentile, progress, table } from './stats.ts';
import { pgFleetDatabase } from './fleet/enrol-pg.ts';

export interface HubBenchOptions {
  /** Repetitions per measurement; medians are reported. Default 3. */
  readonly runs?: number;
  /** Length of one measured run, seconds. Default 3. */
  readonly seconds?: number;
  /** Fleet sizes to measure one hub with. Default [1, 100, 10000]. */
  readonly devices?: number[];
  /** Use the Mosquitto already listening on 127.0.0.1:<port> (it should set set_tcp_nodelay). */
  readonly mosquittoPort?: number;
  /** Only the fleet-size runs of one hub over Mosquitto (no in-flight sweep, no second hub, no Aedes). */
  readonly single?: boolean;
  /** The hubs' `--activity-flush` (default theirs: 5000 ms; 0 writes activity with each batch). */
  readonly activityFlushMs?: number;
  /**
   * Drive bench/hub-floor.ts instead of `dominion hub` (implies `single`): `crypto` opens, verifies,
   * decodes, answers and signs with no decision or store; `mqtt` the same without the signatures.
   */
  readonly floor?: 'crypto' | 'mqtt';
  /**
   * A PostgreSQL server (postgres://user@host:port/any): the hubs run on a fresh database there, the
   * fleet copied in by `db migrate`'s path (bench/fleet/enrol-pg.ts), dropped after.
   */
  readonly pgServer?: string;
}

/** Requests in flight per hub process: enough to keep it busy across the broker round trip, few enough for p99 < 50 ms. */
const IN_FLIGHT_PER_HUB = 128;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const node = cryptoBackend('node');

export interface RunResult {
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
  /** Requests answered per second of the hub processes' own CPU time (user + system). */
  readonly perCpuSecond: number;
  /** The raw verify+sign rate measured just before this run (wall time): drift on a shared machine hits both. */
  readonly raw: number;
  /**
   * `perCpuSecond` ÷ the raw verify+sign rate per CPU-second measured right before and right after
   * this run (their mean). This machine's speed drifts by up to 2× over minutes (a shared host), so a
   * raw rate measured once per bench made these ratios swing from 34 % to 83 % for the same build.
   */
  readonly ofRaw: number;
  /** Cores used during the run by the hub process(es), the broker and this load generator. */
  readonly cores: { readonly hub: number; readonly broker: number; readonly load: number };
}

export async function benchHub(opts: HubBenchOptions = {}): Promise<string> {
  const runs = opts.runs ?? 3;
  const seconds = opts.seconds ?? 3;
  const fleetSizes = opts.devices ?? [1, 100, 10_000];
  if (!Number.isInteger(runs) || runs < 1 || !(seconds > 0) || fleetSizes.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new RangeError('benchHub: runs must be an integer >= 1, seconds > 0, devices positive integers');
  }
  const loadBefore = loadavg()[0]!;
  const dir = mkdtempSync(join(tmpdir(), 'dominion-bench-hub-'));
  const cleanups: Array<() => Promise<void> | void> = [() => rmSync(dir, { recursive: true, force: true })];
  try {
    progress('raw Ed25519 verify+sign (node backend)');
    const raw = rawVerifySignRate(Math.max(1, seconds / 2), runs);

    const broker =
      opts.mosquittoPort !== undefined
        ? { url: `mqtt://127.0.0.1:${opts.mosquittoPort}`, own: false }
        : await startMosquitto(dir, cleanups);
    progress(`broker ${broker.url}${broker.own ? ' (private Mosquitto, set_tcp_nodelay)' : ''}`);

    const maxDevices = Math.max(...fleetSizes);
    progress(`database: enrolling ${maxDevices} devices`);
    const hubId = `bench-ih-${hex(randomNonce(3))}`;
    const db = join(dir, 'ih.db');
    const keyPath = join(dir, 'ih.key.json');
    writeHubKeyFile(keyPath, newHubKey(hubId, IH_ROLE));
    const devices = enrollFleet(db, hubId, maxDevices);

    const load = connectMqtt(broker.url, { protocolVersion: 5, clientId: `bench-load-${hex(randomNonce(4))}` });
    cleanups.push(() => load.endAsync(true));
    await awaitConnected(load);
    await load.subscribeAsync('dominion/v1/device/+/reply/+', { qos: 1 });

    // Every enrolled key prepared in memory, as an operator sizes --key-cache to the fleet (SQLite's options).
    const sqliteOnly = ['--key-cache', String(Math.max(50_000, maxDevices))];
    if (opts.activityFlushMs !== undefined) sqliteOnly.push('--activity-flush', String(opts.activityFlushMs));
    let store = ['--db', db, ...sqliteOnly];
    if (opts.pgServer !== undefined) {
      progress('database: copying the fleet to PostgreSQL');
      const pg = await pgFleetDatabase(opts.pgServer, db);
      cleanups.push(() => pg.drop());
      store = ['--db', pg.url];
    }
    const hubArgs = ['hub', '--role', 'ih', '--id', hubId, '--broker', broker.url, '--key', keyPath, ...store];
    const first =
      opts.floor !== undefined
        ? await startHub([opts.floor, broker.url, hubId, db, keyPath], cleanups, 'bench/hub-floor.ts')
        : await startHub(hubArgs, cleanups);

    const firstPid = [first.process.pid!];
    const single: Array<{ devices: number; result: RunResult }> = [];
    for (const n of fleetSizes) {
      const fleet = devices.slice(0, n);
      // Warm-up long enough for every device to ask once: the hub builds each key's verifier at its
      // first request (as a hub does in its first interval), which is not what the runs measure.
      progress(`one hub, ${n} device(s): warm-up`);
      await measure(load, hubId, fleet, Math.max(Math.min(1, seconds), n / 1500), IN_FLIGHT_PER_HUB, firstPid);
      const results: RunResult[] = [];
      for (let r = 0; r < runs; r++) {
        results.push(await measure(load, hubId, fleet, seconds, IN_FLIGHT_PER_HUB, firstPid));
        const last = results.at(-1)!;
        progress(
          `one hub, ${n} device(s), run ${r + 1}/${runs}: ${Math.round(last.rate)} req/s, ${Math.round(last.perCpuSecond)} per hub CPU-second, p99 ${last.p99.toFixed(1)} ms`,
        );
      }
      single.push({ devices: n, result: summarize(results) });
    }
    if (opts.single === true || opts.floor !== undefined) {
      const totals = await stopHub(first);
      return (
        (totals !== undefined ? `Hub process totals: ${totals}\n\n` : '') +
        table(
          ['devices', 'hub req/s', 'per hub CPU-s', '÷ raw per CPU-s', 'p50 ms', 'p99 ms', 'cores: hub / broker / load gen'],
          single.map((x) => [
            String(x.devices),
            Math.round(x.result.rate),
            Math.round(x.result.perCpuSecond),
            `${(100 * x.result.ofRaw).toFixed(0)} %`,
            x.result.p50,
            x.result.p99,
            cores(x.result),
          ]),
        )
      );
    }

    const loadDevices = devices.slice(0, Math.min(100, maxDevices));
    const byLoad: Array<{ inFlight: number; result: RunResult }> = [];
    for (const inFlight of [8, 32, IN_FLIGHT_PER_HUB]) {
      const results: RunResult[] = [];
      for (let r = 0; r < runs; r++) results.push(await measure(load, hubId, loadDevices, seconds, inFlight, firstPid));
      byLoad.push({ inFlight, result: summarize(results) });
      progress(
        `one hub, ${inFlight} in flight: ${Math.round(byLoad.at(-1)!.result.rate)} req/s, p99 ${byLoad.at(-1)!.result.p99.toFixed(1)} ms`,
      );
    }

    progress('two hub processes on a shared subscription');
    const second = await startHub(hubArgs, cleanups);
    const shared = first.subscription === 'shared' && second.subscription === 'shared';
    const pair: RunResult[] = [];
    const alone: RunResult[] = [];
    if (shared) {
      const bothPids = [first.process.pid!, second.process.pid!];
      await measure(load, hubId, loadDevices, Math.min(1, seconds), 2 * IN_FLIGHT_PER_HUB, bothPids);
      for (let r = 0; r < runs; r++) {
        pair.push(await measure(load, hubId, loadDevices, seconds, 2 * IN_FLIGHT_PER_HUB, bothPids));
        progress(`two hubs, run ${r + 1}/${runs}: ${Math.round(pair.at(-1)!.rate)} req/s`);
      }
      await stopHub(second);
      for (let r = 0; r < runs; r++) {
        alone.push(await measure(load, hubId, loadDevices, seconds, 2 * IN_FLIGHT_PER_HUB, firstPid));
        progress(`one hub (same load), run ${r + 1}/${runs}: ${Math.round(alone.at(-1)!.rate)} req/s`);
      }
    }
    const stats = await stopHub(first);
    const overAedes = await aedesFleetRuns({ hubId, db, keyPath, devices, fleetSizes, runs, seconds, cleanups });

    // The chart of RESULTS.md: how latency grows with the fleet at the same load (full runs only).
    if (opts.devices === undefined)
      writeFileSync(
        join(ROOT, 'bench/hub-latency.svg'),
        lineChart({
          title: 'Hub latency by fleet size',
          subtitle: `one hub process, ${IN_FLIGHT_PER_HUB} requests in flight, SQLite WAL, loopback MQTT`,
          xLabel: 'enrolled devices sending requests',
          yLabel: 'ms',
          logX: true,
          series: [
            { name: 'p50 Mosquitto', points: single.map((x) => ({ x: x.devices, y: x.result.p50 })) },
            { name: 'p99 Mosquitto', points: single.map((x) => ({ x: x.devices, y: x.result.p99 })) },
            { name: 'p50 Aedes', points: overAedes.map((x) => ({ x: x.devices, y: x.result.p50 })) },
            { name: 'p99 Aedes', points: overAedes.map((x) => ({ x: x.devices, y: x.result.p99 })) },
          ],
        }),
      );
    const cpu = cpus()[0]?.model ?? 'unknown CPU';
    const lines = [
      `${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${cpus().length} × ${cpu}; broker ${broker.own ? 'private Mosquitto (set_tcp_nodelay true)' : broker.url}; ` +
        `${runs} run(s) of ${seconds} s, medians; ${IN_FLIGHT_PER_HUB} requests in flight per hub process unless noted; hub = \`dominion hub\` child process, SQLite WAL, synchronous=NORMAL. ` +
        `Load average (1 min) ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after: the broker, the load generator and the hub(s) share ${cpus().length} cores with whatever else runs.`,
      '',
      `Raw Ed25519 verify+sign, node backend, prepared keys, this process: **${Math.round(raw.wall).toLocaleString('en-US')} /s** of wall time, ` +
        `${Math.round(raw.perCpu).toLocaleString('en-US')} per CPU-second (target for one hub: ≥ 60 % = ${Math.round(0.6 * raw.wall).toLocaleString('en-US')} /s).`,
      '"per hub CPU-s": requests answered per second of CPU time the hub process itself used (/proc), i.e. its capacity with a core to itself; its "÷ raw per CPU-s" compares it with the raw rate per CPU-second measured right before and after each run (median of the runs\' ratios).',
      '',
      table(
        [
          'devices',
          'hub req/s',
          'raw verify+sign /s (same time)',
          'hub ÷ raw',
          'per hub CPU-s',
          '÷ raw per CPU-s',
          'p50 ms',
          'p99 ms',
          'cores: hub / broker / load gen',
        ],
        single.map((x) => [
          String(x.devices),
          Math.round(x.result.rate),
          Math.round(x.result.raw),
          `${((100 * x.result.rate) / x.result.raw).toFixed(0)} %`,
          Math.round(x.result.perCpuSecond),
          `${(100 * x.result.ofRaw).toFixed(0)} %`,
          x.result.p50,
          x.result.p99,
          cores(x.result),
        ]),
      ),
      '',
      `The same fleets over Aedes (MQTT 3.1.1, embedded broker in a process of its own, TCP_NODELAY), same hub and database:`,
      '',
      table(
        ['devices', 'broker', 'hub req/s', 'per hub CPU-s', 'p50 ms', 'p99 ms', 'cores: hub / broker / load gen'],
        single.flatMap((x, i) => {
          const row = (broker: string, r: typeof x): Array<string | number> => [
            String(r.devices),
            broker,
            Math.round(r.result.rate),
            Math.round(r.result.perCpuSecond),
            r.result.p50,
            r.result.p99,
            cores(r.result),
          ];
          return [row('Mosquitto', x), row('Aedes', overAedes[i]!)];
        }),
      ),
      '',
      table(
        [`in flight (${loadDevices.length} devices)`, 'hub req/s', 'per hub CPU-s', 'p50 ms', 'p99 ms', 'cores: hub / broker / load gen'],
        byLoad.map((x) => [
          String(x.inFlight),
          Math.round(x.result.rate),
          Math.round(x.result.perCpuSecond),
          x.result.p50,
          x.result.p99,
          cores(x.result),
        ]),
      ),
      '',
      stats !== undefined ? `Hub process totals (first hub): ${stats}` : '',
      '',
    ];
    if (shared) {
      const a = summarize(alone);
      const p = summarize(pair);
      lines.push(
        table(
          [
            'hub processes (shared subscription, one database)',
            'devices',
            'in flight',
            'req/s',
            'p50 ms',
            'p99 ms',
            'vs one',
            'cores: hubs / broker / load gen',
          ],
          [
            ['1', String(loadDevices.length), String(2 * IN_FLIGHT_PER_HUB), Math.round(a.rate), a.p50, a.p99, '1.00×', cores(a)],
            [
              '2',
              String(loadDevices.length),
              String(2 * IN_FLIGHT_PER_HUB),
              Math.round(p.rate),
              p.p50,
              p.p99,
              `${(p.rate / a.rate).toFixed(2)}×`,
              cores(p),
            ],
          ],
        ),
      );
    } else {
      lines.push(`Two hub processes: skipped — the broker delivers nothing to shared subscriptions (${first.subscription} subscription).`);
    }
    return lines.join('\n');
  } finally {
    await runCleanups(cleanups);
  }
}

/** The fleet-size runs again over an Aedes broker (own process), with a hub of its own on the same database. */
async function aedesFleetRuns(o: {
  hubId: string;
  db: string;
  keyPath: string;
  devices: readonly BenchDevice[];
  fleetSizes: readonly number[];
  runs: number;
  seconds: number;
  cleanups: Array<() => Promise<void> | void>;
}): Promise<Array<{ devices: number; result: RunResult }>> {
  progress('Aedes broker (own process)');
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/aedes-host.ts'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  o.cleanups.push(() => void child.kill('SIGKILL'));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      const m = /READY (\S+)/.exec(c.toString());
      if (m !== null) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`Aedes host exited (${code})`)));
  });
  const previousBroker = brokerPid;
  brokerPid = child.pid;
  const load = connectMqtt(url, { protocolVersion: 4, clientId: `bench-load-aedes-${hex(randomNonce(4))}` });
  try {
    await awaitConnected(load);
    await load.subscribeAsync('dominion/v1/device/+/reply/+', { qos: 1 });
    const hub = await startHub(['hub', '--role', 'ih', '--id', o.hubId, '--broker', url, '--db', o.db, '--key', o.keyPath], o.cleanups);
    const pid = [hub.process.pid!];
    const out: Array<{ devices: number; result: RunResult }> = [];
    for (const n of o.fleetSizes) {
      const fleet = o.devices.slice(0, n);
      progress(`Aedes, one hub, ${n} device(s): warm-up`);
      await measure(load, o.hubId, fleet, Math.max(Math.min(1, o.seconds), n / 1500), IN_FLIGHT_PER_HUB, pid);
      const results: RunResult[] = [];
      for (let r = 0; r < o.runs; r++) {
        results.push(await measure(load, o.hubId, fleet, o.seconds, IN_FLIGHT_PER_HUB, pid));
        progress(
          `Aedes, one hub, ${n} device(s), run ${r + 1}/${o.runs}: ${Math.round(results.at(-1)!.rate)} req/s, p99 ${results.at(-1)!.p99.toFixed(1)} ms`,
        );
      }
      out.push({ devices: n, result: summarize(results) });
    }
    await stopHub(hub);
    return out;
  } finally {
    await load.endAsync(true);
    brokerPid = previousBroker;
    child.stdin!.end();
  }
}

// ── the pieces ────────────────────────────────────────────────────────────────────────────────

export interface BenchDevice {
  readonly deviceId: string;
  readonly signer: Signer;
}

export function enrollFleet(path: string, hubId: string, count: number): BenchDevice[] {
  const store = SqliteHubStore.open({ path, create: true, identity: { hubId, role: IH_ROLE } });
  try {
    // Ten minutes: longer than the bench, so no device's deadline passes (and is swept) while it runs.
    setFleetPolicy(store.db, { default: { deferralMs: 600_000 } });
    const devices = Array.from({ length: count }, (_, i) => ({ deviceId: `bench-${i}`, signer: node.signer(generateSecretKey()) }));
    store.db.transaction(() => {
      for (const d of devices) enrollKeys(store.db, d.deviceId, [{ instance: 'device', publicKey: d.signer.publicKey }]);
    })();
    return devices;
  } finally {
    store.close();
  }
}

export interface PreSigned {
  readonly bytes: Buffer;
  readonly nonceHex: string;
  readonly deviceId: string;
}

/**
 * Requests as the device's `sw` would sign them, each with its own nonce: every device once per round,
 * in a new random order each round, as a fleet's requests arrive. (In enrolment order a batch's devices
 * would be neighbours in the hub's tables and share their pages, which flatters a store that writes per
 * batch: bench/activity-ab.ts.)
 */
export function preSign(devices: readonly BenchDevice[], count: number): PreSigned[] {
  const out: PreSigned[] = new Array(count);
  let round: BenchDevice[] = [];
  for (let i = 0; i < count; i++) {
    if (i % devices.length === 0) round = shuffled(devices);
    const d = round[i % devices.length]!;
    const nonce = randomNonce(32);
    const request = create(TicketRequestSchema, {
      deviceId: d.deviceId,
      instance: 'device',
      nonce,
      uptimeMs: BigInt(Math.floor(performance.now())),
      runtime: {
        report: {
          case: 'device',
          value: {
            bootCount: 1n,
            lastResetReason: ResetReason.POWER_ON,
            firmwareVersion: '1.0.0',
            manifestDigest: new Uint8Array(64).fill(1),
            hypervisorImageDigest: new Uint8Array(64).fill(2),
          },
        },
      },
    });
    out[i] = {
      bytes: toBuffer(seal(d.signer, CONTEXTS.ticketRequest, toBinary(TicketRequestSchema, request))),
      nonceHex: hex(nonce),
      deviceId: d.deviceId,
    };
  }
  return out;
}

/** A random permutation (Fisher–Yates). */
export function shuffled<T>(items: readonly T[]): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * One closed-loop run: `inFlight` requests outstanding, each reply releases the next; counts the
 * replies that arrive within `seconds` and their latencies.
 */
/** The broker's pid when it is ours (for its CPU share); set once it runs. */
let brokerPid: number | undefined;

export async function measure(
  load: MqttClient,
  hubId: string,
  devices: readonly BenchDevice[],
  seconds: number,
  inFlight: number,
  hubPids: readonly number[],
): Promise<RunResult> {
  const requests = preSign(devices, Math.ceil(seconds * 8000) + inFlight); // more than one hub can answer
  const before = rawVerifySignRate(0.5, 1);
  const raw = before.wall;
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let next = 0;
  let answered = 0;
  const send = (): void => {
    if (next >= requests.length) return;
    const r = requests[next++]!;
    sentAt.set(r.nonceHex, performance.now());
    load.publish(topics.hubRequest(hubId, r.deviceId), r.bytes, { qos: 1 });
  };
  const hubCpu = (): number => hubPids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0);
  const brokerCpu = (): number => processCpuSeconds(brokerPid);
  const loadCpu = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const cpuStart = { hub: hubCpu(), broker: brokerCpu(), load: loadCpu() };
  let cpuEnd: typeof cpuStart | undefined;
  const start = performance.now();
  const end = start + seconds * 1000;
  const window = setTimeout(() => (cpuEnd = { hub: hubCpu(), broker: brokerCpu(), load: loadCpu() }), seconds * 1000);
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  // Cork the load generator's socket for one turn, as the hub does: its PUBACKs and next requests
  // leave in one write, so the generator's syscalls do not limit what is measured.
  let corked = false;
  const stream = load.stream as { cork?: () => void; uncork?: () => void } | undefined;
  const onMessage = (_topic: string, payload: Buffer): void => {
    const now = performance.now();
    if (!corked && stream?.cork !== undefined && stream.uncork !== undefined) {
      corked = true;
      stream.cork();
      setImmediate(() => {
        corked = false;
        stream.uncork!();
      });
    }
    const env = codecs.signedEnvelope.tryDecode(payload);
    if (!env.ok) return;
    const reply = codecs.ticketReply.tryDecode(env.message.payload);
    if (!reply.ok) return;
    const t = sentAt.get(hex(reply.message.nonce));
    if (t === undefined) return; // a straggler from an earlier run
    sentAt.delete(hex(reply.message.nonce));
    if (now <= end) {
      answered++;
      latencies.push(now - t);
      send();
    } else if (sentAt.size === 0 || now > end + 2000) finish();
  };
  load.on('message', onMessage);
  const timer = setTimeout(
    () => {
      if (sentAt.size === 0) finish();
    },
    seconds * 1000 + 10,
  );
  const guard = setTimeout(() => finish(), seconds * 1000 + 5000); // lost replies must not hang the bench
  for (let i = 0; i < inFlight; i++) send();
  await done;
  clearTimeout(timer);
  clearTimeout(guard);
  clearTimeout(window);
  load.off('message', onMessage);
  const stop = cpuEnd ?? { hub: hubCpu(), broker: brokerCpu(), load: loadCpu() };
  const cpu = stop.hub - cpuStart.hub;
  const after = rawVerifySignRate(0.5, 1);
  const perCpuSecond = cpu > 0 ? answered / cpu : 0;
  return {
    rate: answered / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    perCpuSecond,
    raw,
    ofRaw: perCpuSecond / ((before.perCpu + after.perCpu) / 2),
    cores: { hub: cpu / seconds, broker: (stop.broker - cpuStart.broker) / seconds, load: (stop.load - cpuStart.load) / seconds },
  };
}

function summarize(results: readonly RunResult[]): RunResult {
  return {
    rate: median(results.map((r) => r.rate)),
    p50: median(results.map((r) => r.p50)),
    p99: median(results.map((r) => r.p99)),
    perCpuSecond: median(results.map((r) => r.perCpuSecond)),
    raw: median(results.map((r) => r.raw)),
    ofRaw: median(results.map((r) => r.ofRaw)),
    cores: {
      hub: median(results.map((r) => r.cores.hub)),
      broker: median(results.map((r) => r.cores.broker)),
      load: median(results.map((r) => r.cores.load)),
    },
  };
}

/** "hub / broker / load generator" cores used, e.g. "0.62 / 0.21 / 0.35". */
function cores(r: RunResult): string {
  return `${r.cores.hub.toFixed(2)} / ${r.cores.broker.toFixed(2)} / ${r.cores.load.toFixed(2)}`;
}

/** Raw verify+sign rate of the node backend: per second of wall time, and per second of this process's CPU. */
export function rawVerifySignRate(seconds: number, runs: number): { wall: number; perCpu: number } {
  const signer = node.signer(new Uint8Array(32).fill(0x5a));
  const verifier = node.verifier(signer.publicKey);
  const message = Uint8Array.from({ length: 128 }, (_, i) => i);
  const signature = signer.sign(message);
  const once = (): { wall: number; perCpu: number } => {
    let count = 0;
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    let elapsed = 0;
    do {
      if (!verifier.verify(message, signature)) throw new Error('bench: fixture signature does not verify');
      signer.sign(message);
      count++;
      elapsed = performance.now() - start;
    } while (elapsed < seconds * 1000);
    const cpu = process.cpuUsage(cpu0);
    return { wall: count / (elapsed / 1000), perCpu: count / ((cpu.user + cpu.system) / 1e6) };
  };
  once(); // warm-up
  const samples = Array.from({ length: runs }, once);
  return { wall: median(samples.map((x) => x.wall)), perCpu: median(samples.map((x) => x.perCpu)) };
}

export interface HubChild {
  readonly process: ChildProcess;
  readonly subscription: string;
  output(): string;
}

export async function startHub(
  args: readonly string[],
  cleanups: Array<() => Promise<void> | void>,
  /** The child's entry: `dominion` itself, or bench/hub-floor.ts (`--floor`). */
  entry = 'cli/main.ts',
): Promise<HubChild> {
  // DOMINION_BENCH_HUB_PROFILE=<dir>: each hub writes a V8 CPU profile there (stopped with SIGTERM to let it).
  const profileDir = process.env.DOMINION_BENCH_HUB_PROFILE;
  const profile = profileDir !== undefined ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', entry, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(async () => {
    if (profileDir === undefined) return void child.kill('SIGKILL');
    if (child.exitCode !== null || child.signalCode !== null) return; // stopped already (stopHub)
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  });
  let text = '';
  child.stdout!.on('data', (c: Buffer) => (text += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (text += c.toString('utf8')));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hub did not come online within 20 s:\n${text}`)), 20_000);
    const check = (): void => {
      if (/online:/.test(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    // The hub logs JSON lines to stderr (plain text to stdout in older builds): watch both.
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hub exited (${code}) before coming online:\n${text}`));
    });
  });
  const subscription = /online: (\w+) subscription/.exec(text)?.[1] ?? 'unknown';
  return { process: child, subscription, output: () => text };
}

/** SIGTERM, wait for the clean stop, and return its summary line. */
export async function stopHub(hub: HubChild): Promise<string | undefined> {
  const exited = new Promise<void>((resolve) => hub.process.once('exit', () => resolve()));
  hub.process.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  return /stopped: ([^"\n]*)/.exec(hub.output())?.[1]; // up to the end of the line, or of the JSON string
}

export async function startMosquitto(dir: string, cleanups: Array<() => Promise<void> | void>): Promise<{ url: string; own: boolean }> {
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  // In-flight/queue limits above what the load keeps outstanding, so the broker never drops or stalls it.
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'set_tcp_nodelay true',
      'persistence false',
      'log_dest none',
      'max_inflight_messages 1000',
      'max_queued_messages 100000',
      '',
    ].join('\n'),
  );
  const child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  brokerPid = child.pid;
  const failed = new Promise<never>((_, reject) =>
    child.once('error', (err) => reject(new Error(`cannot start mosquitto (${err.message}); install it or pass mosquittoPort`))),
  );
  cleanups.push(() => void child.kill('SIGTERM'));
  const up = waitForPort(port, 5000);
  await Promise.race([up, failed]);
  return { url: `mqtt://127.0.0.1:${port}`, own: true };
}

// Run directly: node --import tsx bench/hub.ts [--runs N] [--seconds S] [--devices 1,100,10000] [--mosquitto-port P]
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string' },
      seconds: { type: 'string' },
      devices: { type: 'string' },
      'mosquitto-port': { type: 'string' },
      single: { type: 'boolean' },
      'activity-flush': { type: 'string' },
      floor: { type: 'string' },
      db: { type: 'string' },
    },
  });
  if (values.db !== undefined && values.db !== 'postgres' && !/^postgres(ql)?:\/\//i.test(values.db)) {
    console.error("--db: postgres (a fresh database on DATABASE_URL's server) or postgres://user@host:port/any");
    process.exit(2);
  }
  if (values.floor !== undefined && values.floor !== 'crypto' && values.floor !== 'mqtt') {
    console.error('--floor: crypto or mqtt');
    process.exit(2);
  }
  benchHub({
    ...(values.floor !== undefined ? { floor: values.floor as 'crypto' | 'mqtt' } : {}),
    ...(values.db !== undefined
      ? { pgServer: values.db === 'postgres' ? (process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres') : values.db }
      : {}),
    ...(values.runs !== undefined ? { runs: Number(values.runs) } : {}),
    ...(values.seconds !== undefined ? { seconds: Number(values.seconds) } : {}),
    ...(values.devices !== undefined ? { devices: values.devices.split(',').map(Number) } : {}),
    ...(values['mosquitto-port'] !== undefined ? { mosquittoPort: Number(values['mosquitto-port']) } : {}),
    ...(values.single === true ? { single: true } : {}),
    ...(values['activity-flush'] !== undefined ? { activityFlushMs: Number(values['activity-flush']) } : {}),
  }).then(
    (text) => console.log(`## Hub capacity\n\n${text}`),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
