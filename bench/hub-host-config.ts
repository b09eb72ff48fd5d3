/** The JSON a benchmark hands `hub-host.ts`: fleet shape and its secrets as hex. */
import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fromHex, hex } from '../actors/crypto/index.ts';
import type { DemoSecrets } from '../actors/device/index.ts';

type HexRecord = Record<string, string>;

export interface HubHostConfig {
  readonly deviceId: string;
  readonly services: string[];
  readonly deferralMs: number;
  readonly idSuffix: string;
  readonly brokerUrl?: string;
  /** PEM of the broker's CA, for an `mqtts://` brokerUrl. */
  readonly brokerCa?: string;
  readonly secrets: { device: string; mm: string; deviceServices: HexRecord; ih: string; services: HexRecord };
  /** A byte-counting sink for throughput benchmarks (see hub-host.ts). */
  readonly sink?: SinkConfig;
  /** Releases the hubs serve to the device (image restore and update benchmarks). */
  readonly releases?: ReleasesConfig;
}

export interface ReleasesConfig {
  /** Built, signed board artifacts (`buildBoard`): each hub serves the images of its role. */
  readonly dirs: string[];
  /** The release public key, hex. */
  readonly releasePub: string;
  /**
   * Where the service hubs keep theirs: `memory` (`publishRelease` into the demo fleet's hubs) or
   * `sqlite` (a `SqliteHub` per service hub on a fresh database, the device enrolled and the
   * artifacts stored with `publishArtifacts`, as `dominion publish` does). The IH stays in memory.
   */
  readonly serviceHubStore?: 'memory' | 'sqlite';
}

export interface SinkConfig {
  /** Topic filter the sink subscribes to (QoS 1); it counts the payload bytes of what arrives. */
  readonly topic: string;
  /** Where it publishes its acknowledgement: the cumulative bytes received, as a decimal string, QoS 1. */
  readonly ackTopic?: string;
  /** Acknowledge once at least this many bytes arrived since the last acknowledgement (default: every message). */
  readonly ackEveryBytes?: number;
  /**
   * The messages are sealed service data (ServiceMessages, docs/PROTOCOL.md §14): count each record's
   * payload and skip the seals, so the sink counts what the service published, as it does unsealed.
   */
  readonly sealed?: boolean;
}

/** The hub host's answer to `STATS`. */
export interface HostStats {
  /** The host's `performance.now()` when it answered: rates are computed on the sink's clock. */
  readonly atMs: number;
  readonly sinkBytes: number;
  readonly sinkMessages: number;
  /** Seals the sink skipped (a sealed sink only). */
  readonly sinkSeals: number;
  /** User + system CPU of the host process so far, µs. */
  readonly cpuUs: number;
}

export interface HubHost {
  readonly url: string;
  readonly pid: number;
  /** What the sink received so far and the host's CPU, on the host's clock. */
  stats(): Promise<HostStats>;
  stop(): Promise<void>;
}

const mapValues = <A, B>(r: Readonly<Record<string, A>>, f: (a: A) => B): Record<string, B> =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, f(v)]));

export function encodeSecrets(s: DemoSecrets): HubHostConfig['secrets'] {
  return {
    device: hex(s.device.device),
    mm: hex(s.device.mm),
    deviceServices: mapValues(s.device.services, hex),
    ih: hex(s.ih),
    services: mapValues(s.services, hex),
  };
}

export function decodeSecrets(s: HubHostConfig['secrets']): DemoSecrets {
  return {
    device: { device: fromHex(s.device), mm: fromHex(s.mm), services: mapValues(s.deviceServices, fromHex) },
    ih: fromHex(s.ih),
    services: mapValues(s.services, fromHex),
  };
}

/**
 * Starts the hub host; resolves once it says READY. `nice` lowers its scheduling priority (0 … 19),
 * so that on a machine of few cores the hubs compete less with the device they stand apart from.
 */
export async function startHubHost(config: HubHostConfig, options: { nice?: number; script?: string } = {}): Promise<HubHost> {
  // `script`: a bundled hub-host.mjs (plain node, starts in half the time); default: the source via tsx.
  const args =
    options.script !== undefined ? [options.script] : ['--import', 'tsx', fileURLToPath(new URL('./hub-host.ts', import.meta.url))];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  if (options.nice !== undefined && options.nice !== 0) setPriority(child.pid!, options.nice);
  child.stdin.write(`${JSON.stringify(config)}\n`);
  const lines = createInterface({ input: child.stdout });
  const waiting: Array<(stats: HostStats) => void> = [];
  const line = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`hub host exited with ${code} before it was ready`)));
    lines.once('line', resolve);
  });
  if (!line.startsWith('READY ')) throw new Error(`hub host said "${line}"`);
  lines.on('line', (l) => {
    if (l.startsWith('STATS ')) waiting.shift()?.(JSON.parse(l.slice('STATS '.length)) as HostStats);
  });
  return {
    url: line.slice('READY '.length),
    pid: child.pid!,
    stats: () =>
      new Promise<HostStats>((resolve) => {
        waiting.push(resolve);
        child.stdin.write('STATS\n');
      }),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}
