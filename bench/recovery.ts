/**
 * The recovery loop, measured (`npm run bench -- recovery`):
 *
 * 1. Fetch of a ~200 KB service image over loopback MQTT: the hubs (`HubServer`, the service hub in
 *    memory or on SQLite) in a child process with the release published; here, the device's side of
 *    the transfer as the hypervisor runs it — `imageFetcher` over `ImageFetchCore`, K_SM signing each
 *    request, `MqttHubLink` — on a real clock, then `verifyReleaseImage` on what arrived.
 * 2. Restore of a tampered service image: a bundled device booted from its slots (`slottedPlacement`,
 *    real clock, `MqttHubLink` to the broker the hubs use); the sensor's slot is tampered and its VM
 *    rebooted; timed from the reboot (held for restore) to the first ticket on the restored image.
 * 3. Steady-state CPU of gated boot and slots: the loop bench's device CPU at a 1 s interval, the same
 *    bundles booted from slots (`slottedPlacement`) and without (`singlePlacement`), each device in a
 *    process of its own (recovery-device.ts), all measured in the same windows, with a second slotted
 *    device as the control.
 *
 * The boards are built here (`buildBoard`, a throwaway release key): the `sim` profile with 1 s rounds
 * and room for a 256 KiB service image; the padded sensor is the stock sensor plus a 200 KB constant.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ActorSystem, RealClock } from '../runtime/index.ts';
import { cryptoBackend, generateSecretKey, hex } from '../actors/crypto/index.ts';
import {
  BundledDevice,
  demoFleet,
  demoSecrets,
  prepareSlots,
  slottedPlacement,
  type AssembledDevice,
  type DemoFleet,
  type DemoSecrets,
  type DeviceEvent,
} from '../actors/device/index.ts';
import { IMAGE_BURST_CHUNKS, IMAGE_CHUNKS_PER_SECOND } from '../actors/hub/index.ts';
import { MqttHubLink, type HubLink, type HubLinkSink } from '../actors/mm/index.ts';
import { bundleFile, verifyReleaseImage } from '../actors/release/index.ts';
import { SlotStore } from '../actors/slots/index.ts';
import { ImageFetchCore, imageFetcher, type FetchOutcome } from '../actors/transfer/index.ts';
import { loadBoard, type BoardProfile } from '../boards/index.ts';
import { buildBoard, PROJECT_ROOT, readReleaseKey } from '../build/index.ts';
import { IMAGE_CHUNK_MAX, lanes } from '../proto/index.ts';
import { encodeSecrets, startHubHost, type HubHost } from './hub-host-config.ts';
import { startBenchMosquitto } from './mosquitto.ts';
import type { DeviceCpu, DeviceHostConfig } from './recovery-device.ts';
import { median, percentile, progress, table } from './stats.ts';

const SERVICE = 'sensor';
const INSTANCE = 'sm:sensor';
const SERVICES = [SERVICE];
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface RecoveryBenchOptions {
  /** Measured fetches per broker row (after `warmup`). Default 10. */
  readonly fetchRuns?: number;
  /** Measured restores (after one warm-up restore). Default 10. */
  readonly restoreRuns?: number;
  /** Unmeasured runs first, per row. Default 2. */
  readonly warmup?: number;
  /** Seconds of one CPU window. Default 10. */
  readonly cpuSeconds?: number;
  /** CPU windows (every device measured in each). Default 5. */
  readonly cpuReps?: number;
  /** Padding of the big sensor image, bytes of constant string. Default 200 000 − the stock sensor. */
  readonly imageBytes?: number;
  /** The machine's broker (`MQTT_URL`, default mqtt://127.0.0.1:1883); null: no row for it. */
  readonly machineBrokerUrl?: string | null;
  /** Which parts to run; default all three. */
  readonly only?: readonly RecoveryPart[];
}

/** The bench board: `sim` with 1 s rounds (the loop bench's timing) and room for a 256 KiB service image. */
function benchBoard(): BoardProfile {
  const sim = loadBoard('sim');
  return {
    ...sim,
    id: 'sim-recovery',
    name: 'this machine (simulated board, recovery bench)',
    timing: {
      intervalMs: 1000,
      deferralMs: 3000,
      maxDeferralMs: 6000,
      initialTimeoutMs: 10_000,
      vmInitialTimeoutMs: 6000,
      replyTimeoutMs: 250,
    },
    domains: { ...sim.domains, sm: { ...sim.domains.sm, bundle: { rawKb: 256, gzipKb: 256 } } },
  };
}

/** The stock sensor with `bytes` of hex in a constant it exports (so the bundler keeps it). */
function paddedSensor(dir: string, bytes: number): string {
  const file = join(dir, 'sm-sensor-padded.ts');
  const images = join(PROJECT_ROOT, 'actors', 'images');
  writeFileSync(
    file,
    `export * from ${JSON.stringify(join(images, 'sm-sensor.ts'))};
/** Padding: a service image of realistic size for the transfer benchmark. */
export const PADDING = ${JSON.stringify(
      randomBytes(Math.ceil(bytes / 2))
        .toString('hex')
        .slice(0, bytes),
    )};
`,
  );
  return file;
}

interface Builds {
  readonly root: string;
  readonly releasePub: Uint8Array;
  readonly board: BoardProfile;
  /** Stock bundles. */
  readonly plain: string;
  /** The sensor padded to ~200 KB. */
  readonly big: string;
  readonly bigSensorBytes: number;
  readonly plainSensorBytes: number;
}

async function buildBoards(imageBytes: number | undefined): Promise<Builds> {
  const root = mkdtempSync(join(tmpdir(), 'dominion-bench-recovery-'));
  const keyFile = join(root, 'release.key');
  writeFileSync(keyFile, `${hex(generateSecretKey())}\n`, { mode: 0o600 });
  const key = readReleaseKey(keyFile);
  const board = benchBoard();
  const build = (name: string, serviceImages?: Record<string, string>) =>
    buildBoard({ board, outDir: join(root, name), releaseKey: keyFile, releaseVersion: 1, issuedAt: 1000, serviceImages });
  const plain = await build('plain');
  const plainSensorBytes = plain.manifest.files[bundleFile(INSTANCE)]!.bytes;
  const pad = imageBytes ?? 200_000 - plainSensorBytes - 40;
  const big = await build('big', { [SERVICE]: paddedSensor(root, pad) });
  return {
    root,
    releasePub: key.publicKey,
    board,
    plain: plain.dir,
    big: big.dir,
    bigSensorBytes: big.manifest.files[bundleFile(INSTANCE)]!.bytes,
    plainSensorBytes,
  };
}

interface Rig {
  readonly deviceId: string;
  readonly idSuffix: string;
  readonly secrets: DemoSecrets;
  readonly fleet: DemoFleet;
  readonly host: HubHost;
}

let rigs = 0;

/** Hubs (and, without `brokerUrl`, an embedded Aedes) in a child process, serving `releaseDirs`. */
async function startRig(b: Builds, o: { brokerUrl?: string; releaseDirs?: string[]; serviceHubStore?: 'memory' | 'sqlite' }): Promise<Rig> {
  const idSuffix = `-${process.pid}-${++rigs}`;
  const deviceId = `bench-rec${idSuffix}`;
  const deferralMs = b.board.timing.deferralMs;
  const secrets = demoSecrets(SERVICES);
  const host = await startHubHost({
    deviceId,
    services: SERVICES,
    deferralMs,
    idSuffix,
    brokerUrl: o.brokerUrl,
    secrets: encodeSecrets(secrets),
    ...(o.releaseDirs !== undefined
      ? { releases: { dirs: o.releaseDirs, releasePub: hex(b.releasePub), serviceHubStore: o.serviceHubStore ?? 'memory' } }
      : {}),
  });
  return { deviceId, idSuffix, secrets, fleet: demoFleet({ deviceId, services: SERVICES, deferralMs, idSuffix, secrets }), host };
}

// ── 1. Fetch ────────────────────────────────────────────────────────────────────────────────────

interface FetchSample {
  readonly ms: number;
  readonly chunks: number;
  readonly requests: number;
  readonly bytes: number;
}

/** The device side of an image transfer: `MqttHubLink` + `imageFetcher` in an actor system on a real clock. */
async function fetchRuns(b: Builds, rig: Rig, n: number, warmup: number, label: string): Promise<FetchSample[]> {
  const node = cryptoBackend('node');
  const clock = new RealClock();
  const system = new ActorSystem({ clock });
  const domain = system.domain('bench');
  const sh = rig.fleet.pins.services[SERVICE]!;
  const link = new MqttHubLink({ url: rig.host.url, deviceId: rig.deviceId, services: SERVICES });
  let current: { t0: number; requests: number; chunks: number; done: (o: FetchOutcome) => void } | undefined;
  const fetcher = domain.spawn(
    imageFetcher({
      name: 'fetch.sm:sensor',
      instance: INSTANCE,
      core: () =>
        new ImageFetchCore({
          deviceId: rig.deviceId,
          instance: INSTANCE,
          signer: node.signer(rig.fleet.keys.services[SERVICE]!),
          hub: node.verifier(sh.publicKey),
          sha512: (d) => node.sha512(d),
        }),
      send: (envelope) => {
        if (current !== undefined) {
          if (current.requests++ === 0) current.t0 = clock.now();
        }
        link.publishRequest(sh.id, envelope);
      },
      replyTimeoutMs: b.board.timing.replyTimeoutMs,
      done: (outcome) => current?.done(outcome),
    }),
  );
  domain.start();
  const up = new Promise<void>((resolve) => {
    const sink: HubLinkSink = {
      reply: (lane, envelope) => {
        if (lane !== lanes.image(INSTANCE)) return;
        if (current !== undefined) current.chunks++;
        fetcher.tell({ type: 'chunk', envelope });
      },
      service: () => {},
      connection: (isUp) => isUp && resolve(),
      writable: () => {},
    };
    link.start(sink);
  });
  await up;
  const samples: FetchSample[] = [];
  // The hub's per-device bucket (image-gate.ts): a burst, then a steady rate. Mirrored here, so a run
  // waits (between fetches, untimed) only when the next one would otherwise meet RATE_LIMITED.
  let tokens = IMAGE_BURST_CHUNKS;
  let tokensAt = clock.now();
  const needed = Math.ceil(b.bigSensorBytes / IMAGE_CHUNK_MAX) + 2;
  try {
    for (let i = 0; i < warmup + n; i++) {
      tokens = Math.min(IMAGE_BURST_CHUNKS, tokens + ((clock.now() - tokensAt) / 1000) * IMAGE_CHUNKS_PER_SECOND);
      tokensAt = clock.now();
      await sleep(Math.max(200, ((needed - tokens) / IMAGE_CHUNKS_PER_SECOND) * 1000));
      const outcome = await new Promise<{ o: FetchOutcome; t0: number; requests: number; chunks: number }>((resolve) => {
        const run = {
          t0: 0,
          requests: 0,
          chunks: 0,
          done: (o: FetchOutcome) => resolve({ o, t0: run.t0, requests: run.requests, chunks: run.chunks }),
        };
        current = run;
        fetcher.tell({
          type: 'fetch',
          target: { label: INSTANCE, version: 1, board: b.board.id, maxBytes: b.board.domains.sm.bundle.rawKb * 1024 },
        });
      });
      if (!outcome.o.ok) throw new Error(`fetch ${i + 1} on ${label} failed: ${outcome.o.detail}`);
      const verified = verifyReleaseImage(outcome.o.image, INSTANCE, b.releasePub, b.board.id);
      const ms = clock.now() - outcome.t0;
      current = undefined;
      if (verified.version !== 1) throw new Error('fetched the wrong release');
      if (i >= warmup) samples.push({ ms, chunks: outcome.chunks, requests: outcome.requests, bytes: outcome.o.image.bundle.length });
      tokens -= outcome.requests;
    }
  } finally {
    link.close();
    system.shutdown();
  }
  return samples;
}

// ── 2. Restore ──────────────────────────────────────────────────────────────────────────────────

interface RestoreSample {
  /** ms from the restart call to each mark. */
  readonly hold: number;
  readonly fetching: number;
  readonly firstChunk: number;
  readonly lastChunk: number;
  readonly restored: number;
  readonly booted: number;
  readonly ticket: number;
  readonly chunks: number;
}

/** An `MqttHubLink` that stamps every image chunk for `INSTANCE` as it arrives. */
class StampingLink implements HubLink {
  readonly chunks: number[] = [];
  constructor(
    private readonly inner: HubLink,
    private readonly now: () => number,
  ) {}
  start(sink: HubLinkSink): void {
    this.inner.start({
      ...sink,
      reply: (lane, envelope) => {
        if (lane === lanes.image(INSTANCE)) this.chunks.push(this.now());
        sink.reply(lane, envelope);
      },
      service: (s, p) => sink.service(s, p),
      connection: (up) => sink.connection(up),
      writable: () => sink.writable(),
    });
  }
  publishRequest(hubId: string, envelope: Uint8Array): void {
    this.inner.publishRequest(hubId, envelope);
  }
  publishService(service: string, stream: string, payload: Uint8Array): boolean {
    return this.inner.publishService(service, stream, payload);
  }
  close(): void {
    this.inner.close();
  }
}

function waitEvent(device: BundledDevice, match: (e: DeviceEvent) => boolean, timeoutMs: number, what: string): Promise<DeviceEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${what} within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = device.onEvent((e) => {
      if (!match(e)) return;
      clearTimeout(timer);
      off();
      resolve(e);
    });
  });
}

/** Flips a byte in every copy of the sensor's image: the attacker's persistent change. */
function tamperSensor(dataDir: string): void {
  const store = new SlotStore(join(dataDir, 'slots'));
  let tampered = 0;
  for (const slot of ['a', 'b'] as const) {
    const file = join(store.slotDir(INSTANCE, slot), bundleFile(INSTANCE));
    if (!existsSync(file)) continue;
    const bytes = readFileSync(file);
    bytes[100] ^= 0xff;
    writeFileSync(file, bytes);
    tampered++;
  }
  if (tampered === 0) throw new Error('no slot of sm:sensor to tamper');
}

async function restoreRuns(b: Builds, dir: string, rig: Rig, n: number, warmup: number): Promise<RestoreSample[]> {
  const clock = new RealClock();
  const dataDir = mkdtempSync(join(tmpdir(), 'dominion-bench-restore-'));
  const slotted = await prepareSlots(dir, b.releasePub, dataDir);
  const link = new StampingLink(new MqttHubLink({ url: rig.host.url, deviceId: rig.deviceId, services: SERVICES }), () => clock.now());
  const device = new BundledDevice(
    clock,
    slottedPlacement({ slotted, deviceId: rig.deviceId, keys: rig.fleet.keys, hubs: rig.fleet.pins, link: () => link, clock, dataDir }),
    1000,
  );
  const events: DeviceEvent[] = [];
  device.onEvent((e) => void events.push(e));
  const isSensorTicket = (e: DeviceEvent) => e.type === 'ticket' && e.instance === INSTANCE;
  const ticketed = waitEvent(device, isSensorTicket, 20_000, 'first sensor ticket after boot');
  device.boot();
  const samples: RestoreSample[] = [];
  try {
    await ticketed;
    const interval = b.board.timing.intervalMs;
    for (let i = 0; i < warmup + n; i++) {
      // mm asks for each instance's ticket on a fixed round: spread the reboots evenly over its phase.
      await sleep(200 + ((i * 0.618) % 1) * interval);
      tamperSensor(dataDir);
      const from = events.length;
      const chunksFrom = link.chunks.length;
      const ticket = waitEvent(
        device,
        (e) => isSensorTicket(e) && events.slice(from).some((x) => x.type === 'vm-boot' && x.instance === INSTANCE && x.held === undefined),
        20_000,
        `ticket after restore ${i + 1}`,
      );
      const t0 = clock.now();
      (device.device as AssembledDevice).restartVm(INSTANCE, { kind: 'timeout' });
      const last = (await ticket).at;
      const seen = events.slice(from);
      const at = (what: string, m: (e: DeviceEvent) => boolean): number => {
        const e = seen.find(m);
        if (e === undefined) throw new Error(`restore ${i + 1}: no ${what} (events: ${seen.map((x) => x.type).join(', ')})`);
        return e.at - t0;
      };
      const failed = seen.find((e) => e.type === 'image' && e.phase === 'failed');
      if (failed !== undefined && failed.type === 'image') throw new Error(`restore ${i + 1} failed: ${failed.detail ?? ''}`);
      const restored = at('restored image', (e) => e.type === 'image' && e.instance === INSTANCE && e.phase === 'restored');
      const chunks = link.chunks.slice(chunksFrom).map((t) => t - t0);
      const inFetch = chunks.filter((t) => t <= restored);
      if (i >= warmup)
        samples.push({
          hold: at('held boot', (e) => e.type === 'vm-boot' && e.instance === INSTANCE && e.held !== undefined),
          fetching: at('fetch', (e) => e.type === 'image' && e.instance === INSTANCE && e.phase === 'fetching'),
          firstChunk: inFetch[0] ?? NaN,
          lastChunk: inFetch.at(-1) ?? NaN,
          restored,
          booted: at('boot on the restored image', (e) => e.type === 'vm-boot' && e.instance === INSTANCE && e.held === undefined),
          ticket: last - t0,
          chunks: inFetch.length,
        });
      progress(`restore ${i + 1}/${warmup + n}${i < warmup ? ' (warm-up)' : ''}: first ticket after ${(last - t0).toFixed(0)} ms`);
    }
  } finally {
    device.shutdown();
    link.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return samples;
}

// ── 3. Steady-state CPU ─────────────────────────────────────────────────────────────────────────

type Variant = DeviceHostConfig['variant'];

interface DeviceHost {
  cpu(): Promise<DeviceCpu>;
  stop(): Promise<void>;
}

/** Starts `recovery-device.ts` in a child process; resolves once it says READY. */
async function startDeviceHost(config: DeviceHostConfig): Promise<DeviceHost> {
  const script = fileURLToPath(new URL('./recovery-device.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.write(`${JSON.stringify(config)}\n`);
  const lines = createInterface({ input: child.stdout });
  const waiting: Array<(c: DeviceCpu) => void> = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ${config.variant} device was not ticketed within 60 s`)), 60_000);
    child.once('exit', (code) => reject(new Error(`the ${config.variant} device host exited with ${code}`)));
    lines.once('line', (l) => {
      clearTimeout(timer);
      if (l === 'READY') resolve();
      else reject(new Error(`the ${config.variant} device host said "${l}"`));
    });
  });
  lines.on('line', (l) => {
    if (l.startsWith('CPU ')) waiting.shift()?.(JSON.parse(l.slice(4)) as DeviceCpu);
  });
  return {
    cpu: () =>
      new Promise<DeviceCpu>((resolve) => {
        waiting.push(resolve);
        child.stdin.write('CPU\n');
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}

async function cpuPart(b: Builds, seconds: number, windows: number): Promise<string> {
  // Every device at once, each in a process of its own with its own hubs: the machine's load falls
  // on all of them alike in every window, which measuring them one after the other cannot promise.
  const variants: Array<{ name: string; variant: Variant }> = [
    { name: '`singlePlacement` (`loadArtifacts`: no slots, no gated boot)', variant: 'single' },
    { name: '`slottedPlacement` (`prepareSlots`: A/B slots, gated boot)', variant: 'slotted' },
    { name: 'control: a second `slottedPlacement` device, measured alike', variant: 'slotted' },
    { name: 'idle: a process with the same bundles loaded, no device', variant: 'idle' },
  ];
  progress(`CPU at a 1 s interval: starting ${variants.length} device processes and their hubs`);
  const rigs = await Promise.all(variants.map((v) => (v.variant === 'idle' ? undefined : startRig(b, {}))));
  const hosts: DeviceHost[] = [];
  try {
    hosts.push(
      ...(await Promise.all(
        variants.map((v, i) => {
          const rig = rigs[i];
          const secrets = demoSecrets(SERVICES);
          return startDeviceHost({
            variant: v.variant,
            dir: b.plain,
            releasePub: hex(b.releasePub),
            url: rig?.host.url ?? 'mqtt://127.0.0.1:1',
            hub: {
              deviceId: rig?.deviceId ?? 'idle',
              services: SERVICES,
              deferralMs: b.board.timing.deferralMs,
              idSuffix: rig?.idSuffix ?? '-idle',
              secrets: encodeSecrets(rig?.secrets ?? secrets),
            },
          });
        }),
      )),
    );
    progress('CPU: warm-up (5 s: first rounds, JIT)');
    await sleep(5000);
    const cpu: number[][] = variants.map(() => []);
    const rates: number[][] = variants.map(() => []);
    for (let w = 0; w < windows; w++) {
      progress(`CPU: window ${w + 1}/${windows} (${seconds} s)`);
      const before = await Promise.all(hosts.map((h) => h.cpu()));
      await sleep(seconds * 1000);
      const after = await Promise.all(hosts.map((h) => h.cpu()));
      after.forEach((a, i) => {
        const wall = a.atMs - before[i]!.atMs;
        cpu[i]!.push(((a.cpuUs - before[i]!.cpuUs) / 1000 / wall) * 100);
        rates[i]!.push(((a.tickets - before[i]!.tickets) / wall) * 1000);
      });
    }
    const med = cpu.map((xs) => median(xs));
    const ratio = (i: number, j: number) => cpu[i]!.map((x, w) => x / cpu[j]![w]!);
    const rows = variants.map((v, i) => [
      v.name,
      med[i]!.toFixed(2),
      cpu[i]!.map((x) => x.toFixed(2)).join(' / '),
      median(rates[i]!).toFixed(2),
      i === 0
        ? '1.00×'
        : v.variant === 'idle'
          ? '–'
          : `${(med[i]! / med[0]!).toFixed(2)}× (per window, median ${median(ratio(i, 0)).toFixed(2)}×, ${Math.min(...ratio(i, 0)).toFixed(2)}–${Math.max(...ratio(i, 0)).toFixed(2)})`,
    ]);
    const control = ratio(2, 1);
    return [
      '### Steady-state CPU: gated boot and slots against the same bundles without\n',
      table(
        ['device: sw + hypervisor + mm + sm:sensor, interval 1 s', 'CPU % of one core (median)', 'windows', 'tickets/s', 'vs single'],
        rows,
      ),
      `\nControl, slotted ÷ slotted in the same windows: median ${median(control).toFixed(2)}×, ${Math.min(...control).toFixed(2)}–${Math.max(...control).toFixed(2)} — the noise floor of this measurement on this machine.`,
      `\nThe loop bench's CPU measurement (\`process.cpuUsage()\` of a process holding the device alone; its hubs and an embedded Aedes in another), on the stock bundles built here — but every device at once, each in its own process with its own hubs, so that all of them see the same load in every window. ${windows} windows of ${seconds} s after READY (the sensor's first ticket) + 5 s; "per window" = the ratio within each window. Target: no measurable change.`,
    ].join('\n');
  } finally {
    await Promise.all(hosts.map((h) => h.stop()));
    await Promise.all(rigs.map((r) => r?.host.stop()));
  }
}

// ── The bench ───────────────────────────────────────────────────────────────────────────────────

export const RECOVERY_PARTS = ['fetch', 'restore', 'cpu'] as const;
export type RecoveryPart = (typeof RECOVERY_PARTS)[number];

const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : '–');
const kb = (bytes: number) => `${(bytes / 1000).toFixed(0)} KB`;

async function fetchPart(
  b: Builds,
  mosquittoUrl: string | undefined,
  machineUrl: string | null,
  n: number,
  warmup: number,
): Promise<string> {
  const brokers: Array<{ name: string; url?: string; store: 'memory' | 'sqlite' }> = [];
  if (machineUrl !== null) brokers.push({ name: `Mosquitto at MQTT_URL (${machineUrl})`, url: machineUrl, store: 'memory' });
  if (mosquittoUrl !== undefined) {
    brokers.push({ name: 'Mosquitto, private (set_tcp_nodelay)', url: mosquittoUrl, store: 'memory' });
    brokers.push({ name: 'Mosquitto, private (set_tcp_nodelay)', url: mosquittoUrl, store: 'sqlite' });
  }
  brokers.push({ name: 'Aedes (embedded, in the hub process)', store: 'memory' });
  const rows: Array<Array<string | number>> = [];
  for (const br of brokers) {
    progress(`fetch of ${b.bigSensorBytes} B over ${br.name}, service hub ${br.store} (${warmup} + ${n} runs)`);
    let rig: Rig;
    try {
      rig = await startRig(b, { brokerUrl: br.url, releaseDirs: [b.big], serviceHubStore: br.store });
    } catch (e) {
      progress(`${br.name}: not reachable (${(e as Error).message}): row skipped`);
      continue;
    }
    try {
      const s = await fetchRuns(b, rig, n, warmup, br.name);
      const times = s.map((x) => x.ms);
      rows.push([
        br.name,
        br.store === 'sqlite' ? 'SQLite (`SqliteHub`)' : 'memory (`HubCore`)',
        s.length,
        median(times).toFixed(1),
        percentile(times, 90).toFixed(1),
        Math.min(...times).toFixed(1),
        median(s.map((x) => x.chunks)),
        s.reduce((a, x) => a + x.requests - x.chunks, 0),
        `${(((s[0]!.bytes / median(times)) * 1000) / 1e6).toFixed(2)} MB/s`,
      ]);
    } finally {
      await rig.host.stop();
    }
  }
  return [
    `### Fetch of a ${kb(b.bigSensorBytes)} service image over loopback MQTT\n`,
    table(['broker', 'service hub', 'runs', 'median ms', 'p90 ms', 'min ms', 'chunks', 'resends (all runs)', 'bytes/s (median)'], rows),
    `\nImage: sm-sensor.mjs of ${b.bigSensorBytes} B (the stock sensor + a constant string), in chunks of ${IMAGE_CHUNK_MAX / 1024} KiB. Time = the first ImageRequest handed to \`MqttHubLink\` → the last chunk judged by \`ImageFetchCore\` → \`verifyReleaseImage\` passed (release signature, board, size, SHA-512). warm-up: ${warmup} fetch${warmup === 1 ? '' : 'es'} per row; ≥ 0.2 s between fetches, more where the hub's per-device bucket (${IMAGE_BURST_CHUNKS} chunks, then ${IMAGE_CHUNKS_PER_SECOND}/s) would otherwise refuse. Per-chunk reply timeout ${b.board.timing.replyTimeoutMs} ms (the board's); "resends" = requests sent again after it. Hubs (and Aedes) in a child process; the fetcher (K_SM signs every request, node backend) and the link in this one. Target: < 1 s.`,
  ].join('\n');
}

async function restorePart(b: Builds, brokerUrl: string | undefined, n: number): Promise<string> {
  const steps: Array<[string, (x: RestoreSample) => number]> = [
    ['reboot → VM held (its slot opened, fails to verify)', (x) => x.hold],
    ['held → fetch asked', (x) => x.fetching - x.hold],
    ['fetch asked → first chunk in', (x) => x.firstChunk - x.fetching],
    ['first → last chunk in', (x) => x.lastChunk - x.firstChunk],
    ['last chunk in → restored (verified, written to the slot)', (x) => x.restored - x.lastChunk],
    ['restored → VM booted on it', (x) => x.booted - x.restored],
    ["VM booted → first ticket (mm's next round for sm:sensor + round trip)", (x) => x.ticket - x.booted],
    ['**reboot → first ticket**', (x) => x.ticket],
    ['of which the fetch (asked → last chunk in)', (x) => x.lastChunk - x.fetching],
    ['reboot → VM booted on the restored image', (x) => x.booted],
  ];
  const columns: string[] = [];
  const results: RestoreSample[][] = [];
  for (const [name, dir, size] of [
    ['padded sensor', b.big, b.bigSensorBytes],
    ['stock sensor', b.plain, b.plainSensorBytes],
  ] as const) {
    progress(`restore of a tampered sm:sensor (${name}, ${size} B) on a slotted device (1 + ${n} restores)`);
    const rig = await startRig(b, { brokerUrl, releaseDirs: [dir] });
    try {
      results.push(await restoreRuns(b, dir, rig, n, 1));
      const chunks = Math.ceil(size / IMAGE_CHUNK_MAX);
      columns.push(`${name} ${kb(size)} (${chunks} chunk${chunks === 1 ? '' : 's'}): median`, 'p90');
    } finally {
      await rig.host.stop();
    }
  }
  const rows = steps.map(([label, f]) => [label, ...results.flatMap((s) => [ms(median(s.map(f))), ms(percentile(s.map(f), 90))])]);
  const t = b.board.timing;
  return [
    `### Restore of a tampered service image (slotted device, real clock, ${brokerUrl !== undefined ? 'private Mosquitto' : 'Aedes'})\n`,
    table(['step, ms', ...columns], rows),
    `\nA bundled device booted from its slots (\`prepareSlots\` + \`slottedPlacement\`, gated boot) with its own \`MqttHubLink\`; the IH and the SH serving the release in a child process. Each restore: every slot copy of sm:sensor tampered (one byte), then \`restartVm('sm:sensor')\`; steps from the device's events (\`vm-boot\` held, \`image\` fetching/restored, \`vm-boot\` restored, \`ticket\`) and the link's arrival times of image chunks. Each step's median and p90 over ${n} restores after one warm-up, on one device; the reboots spread evenly over mm's ticket round. Interval ${t.intervalMs} ms, deferral ${t.deferralMs} ms. Target: reboot → first ticket within one deferral (${t.deferralMs} ms) plus the fetch.`,
  ].join('\n');
}

export async function benchRecovery(o: RecoveryBenchOptions = {}): Promise<string> {
  const parts = new Set<RecoveryPart>(o.only ?? RECOVERY_PARTS);
  const machineUrl = o.machineBrokerUrl === undefined ? (process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883') : o.machineBrokerUrl;
  const load0 = loadavg()[0]!;
  progress('building the bench boards (stock, and the sensor padded to ~200 KB)');
  const b = await buildBoards(o.imageBytes);
  const mosquitto = parts.has('fetch') || parts.has('restore') ? await startBenchMosquitto() : undefined;
  const out: string[] = [];
  try {
    if (parts.has('fetch')) out.push(await fetchPart(b, mosquitto?.url, machineUrl, o.fetchRuns ?? 10, o.warmup ?? 2));
    if (parts.has('restore')) out.push(await restorePart(b, mosquitto?.url, o.restoreRuns ?? 10));
    if (parts.has('cpu')) out.push(await cpuPart(b, o.cpuSeconds ?? 10, o.cpuReps ?? 5));
    out.push(
      `Load average (1 min): ${load0.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after; ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}.`,
    );
    return out.join('\n\n');
  } finally {
    await mosquitto?.stop();
    rmSync(b.root, { recursive: true, force: true });
  }
}
