/**
 * `dominion bench --board <id>`: a Pi stand-in. Builds the board's artifacts (with the simulated
 * watchdog: this machine has no /dev/watchdog), bundles the device runner into one plain .mjs, and
 * runs it as a child process under the board's budgets — V8 heap limit = the domains' heap budgets
 * summed, pinned with `taskset` to the board's core count where available — against hubs on an
 * embedded broker in this process. Reports resident memory and CPU against the budget, beside a
 * bare `node` idling measured the same way, and the cold start to the first accepted ticket.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { generateSecretKey, hex } from '../actors/crypto/index.ts';
import { createDomainUsers, demoFleet, domainsOfProcess, processBudget } from '../actors/device/index.ts';
import { devicePublicKeys, HubServer, writeDeviceKeysFile, writeProvisioning } from '../actors/hub/index.ts';
import { startEmbeddedBroker } from '../actors/mqtt/index.ts';
import { loadBoard, type BoardProfile } from '../boards/index.ts';
import { buildBoard, bundleRunner } from '../build/index.ts';
import { progress, table } from './stats.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function pinned(cores: number, argv: string[]): string[] {
  const hasTaskset = spawnSync('taskset', ['--version']).status === 0;
  if (!hasTaskset) return argv;
  const n = Math.max(1, Math.min(cores, cpus().length));
  return ['taskset', '-c', `0-${n - 1}`, ...argv];
}

/** `pid` and its descendants, each with its domain: the root is `sw`, the others say theirs last on their command line. */
function processTree(pid: number): Array<{ pid: number; domain: string }> {
  const parents = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const tree = [{ pid, domain: 'sw' }];
  for (let i = 0; i < tree.length; i++) {
    for (const child of parents.get(tree[i]!.pid) ?? []) {
      const argv = readFileSync(`/proc/${child}/cmdline`, 'utf8')
        .split('\0')
        .filter((a) => a !== '');
      tree.push({ pid: child, domain: argv.at(-1) ?? '?' });
    }
  }
  return tree;
}

interface Sample {
  readonly rssMb: number;
  readonly peakRssMb: number;
  readonly cpuPct: number;
  /** CPU % of one core by domain over the window (one entry, `sw`, in single placement). */
  readonly cpuByDomain: ReadonlyMap<string, number>;
  /** RSS by domain at the end (one entry, `sw`, in single placement). */
  readonly byDomain: ReadonlyMap<string, number>;
}

/** Samples the RSS and CPU of a process and its descendants over `seconds` (after it settled). */
async function sample(pid: number, seconds: number): Promise<Sample> {
  const hz = 100; // USER_HZ on Linux
  const ticksByDomain = (): Map<string, number> => new Map(processTree(pid).map((p) => [p.domain, cpuTicks(p.pid)]));
  const sum = (m: ReadonlyMap<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
  const t0 = performance.now();
  const c0 = ticksByDomain();
  let peak = 0;
  let byDomain = new Map<string, number>();
  while (performance.now() - t0 < seconds * 1000) {
    byDomain = new Map(processTree(pid).map((p) => [p.domain, rssMb(p.pid)]));
    peak = Math.max(
      peak,
      [...byDomain.values()].reduce((a, b) => a + b, 0),
    );
    await sleep(250);
  }
  const c1 = ticksByDomain();
  const pct = (ticks: number): number => (ticks / hz / ((performance.now() - t0) / 1000)) * 100;
  // A domain process started again inside the window has no start count: its ticks all count.
  const cpuByDomain = new Map([...c1].map(([d, t]) => [d, pct(t - (c0.get(d) ?? 0))]));
  return { rssMb: sum(byDomain), peakRssMb: peak, cpuPct: pct(sum(c1) - sum(c0)), byDomain, cpuByDomain };
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

export async function benchBoard(boardId: string, o: { seconds?: number } = {}): Promise<string> {
  const seconds = o.seconds ?? 20;
  const shipped = loadBoard(boardId);
  const board: BoardProfile = { ...shipped, watchdog: { backend: 'simulated' } };
  const dir = mkdtempSync(join(tmpdir(), `dominion-bench-${boardId}-`));
  // As root the device runs each domain process as its own user, as on a board: they must exist and
  // read the runner and the artifacts (the key file stays 0600).
  if (process.getuid?.() === 0) {
    createDomainUsers(board);
    chmodSync(dir, 0o755);
  }
  const keyFile = join(dir, 'release.key');
  writeFileSync(keyFile, `${hex(generateSecretKey())}\n`, { mode: 0o600 });
  progress(`building ${boardId} artifacts (simulated watchdog)`);
  const built = await buildBoard({ board, outDir: join(dir, 'dist'), releaseKey: keyFile });
  const runner = join(dir, 'device.mjs');
  await bundleRunner(runner, board.node.target, root);

  const broker = await startEmbeddedBroker({ port: 0 });
  const deviceId = `bench-${boardId}`;
  const fleet = demoFleet({ deviceId, services: board.services, deferralMs: board.timing.deferralMs, idSuffix: `-b${process.pid}` });
  const hubs = await Promise.all(
    [fleet.ih, ...fleet.sh.values()].map((h) => HubServer.start({ core: h.core, brokerUrl: broker.url, hubId: h.id })),
  );
  writeDeviceKeysFile(join(dir, 'keys.json'), { deviceId, ...fleet.keys });
  const provision = join(dir, 'provision.json');
  writeProvisioning(provision, {
    deviceId,
    broker: broker.url,
    deviceKeys: 'keys.json',
    ih: fleet.pins.ih,
    services: fleet.pins.services,
    enrolled: devicePublicKeys({ deviceId, ...fleet.keys }).keys,
  });

  const processes = board.placement !== 'single';
  // single: one process holds every domain, so its heap limit is theirs summed; process and split:
  // this one is sw, and each domain process gets its own limit (split: the hypervisor's process
  // holds the VMs too, and gets their limits summed).
  const heapMb = processes ? board.domains.sw.heapMb : Object.values(board.domains).reduce((a, d) => a + d.heapMb, 0);
  // V8's young generation grows to 16 MB semi-spaces by default; a board with a few MB of live data
  // does not need that (it is most of the RSS above a bare node), so small heaps get small semi-spaces.
  const semiSpaceMb = heapMb <= 128 ? 1 : 4;
  const budgetMb =
    board.domains.sw.memoryMb +
    board.domains.hypervisor.memoryMb +
    board.domains.mm.memoryMb +
    board.domains.sm.memoryMb * board.services.length;
  const cores =
    board.domains.sw.vcpus + board.domains.hypervisor.vcpus + board.domains.mm.vcpus + board.domains.sm.vcpus * board.services.length;
  try {
    progress(`bare node idling (${seconds} s)`);
    const bare = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await sleep(1000);
    const bareSample = await sample(bare.pid!, Math.min(seconds, 5));
    await killed(bare);

    progress(`device on ${boardId} budgets, ${board.placement} placement: heap ${heapMb} MB, ${cores} cores (${seconds} s)`);
    const argv = pinned(Math.min(cores, board.cores), [
      process.execPath,
      `--max-old-space-size=${heapMb}`,
      `--max-semi-space-size=${semiSpaceMb}`,
      runner,
      '--board',
      board.id,
      '--artifacts',
      built.dir,
      '--provision',
      provision,
      '--release-pub',
      hex(built.releaseKey.publicKey),
      '--data-dir',
      join(dir, 'data'),
    ]);
    const started = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => void (stderr += d.toString()));
    const firstTicket = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no device ticket within 30 s\n${stderr}`)), 30_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (/ device: ticket/.test(line)) {
          clearTimeout(timer);
          resolve(performance.now() - started);
        }
      });
      child.once('exit', (code) => reject(new Error(`device exited with ${code}\n${stderr}`)));
    });
    const pid = child.pid!; // taskset execs node in place: same pid
    await sleep(2000);
    const s = await sample(pid, seconds);
    await killed(child);
    const nameOf = (domain: string): string => domainsOfProcess(board, domain).join(' + ');
    const perDomain = processes
      ? [...s.byDomain].flatMap(([domain, mb]) => {
          const b = processBudget(board, domain);
          const cpu = s.cpuByDomain.get(domain) ?? 0;
          return [
            [`  ${nameOf(domain)} process, RSS`, mb.toFixed(1), `${b.memoryMb} MB budget`, mb <= b.memoryMb ? 'within' : 'OVER'],
            [
              `  ${nameOf(domain)} process, CPU % of one core`,
              cpu.toFixed(2),
              `${b.vcpus} vCPU budget`,
              cpu <= 100 * b.vcpus ? 'within' : 'OVER',
            ],
          ];
        })
      : [];
    const rows = [
      [
        `device (all domains, ${board.services.length} service, ${processes ? `${s.byDomain.size} processes` : 'one process'}), RSS at the end`,
        s.rssMb.toFixed(1),
        `${budgetMb} MB budget`,
        s.rssMb <= budgetMb ? 'within' : 'OVER',
      ],
      ...perDomain,
      ['device, peak RSS', s.peakRssMb.toFixed(1), '', ''],
      ['bare node idling, RSS', bareSample.rssMb.toFixed(1), '', ''],
      processes
        ? [
            `device − ${s.byDomain.size} bare nodes (one per process)`,
            (s.rssMb - s.byDomain.size * bareSample.rssMb).toFixed(1),
            'the ≤ 25 MB target is for one process',
            '',
          ]
        : [
            'device − bare node',
            (s.rssMb - bareSample.rssMb).toFixed(1),
            '≤ 25 MB target',
            s.rssMb - bareSample.rssMb <= 25 ? 'met' : 'missed',
          ],
      ['device CPU, % of one core', s.cpuPct.toFixed(2), `${cores} cores budget`, s.cpuPct <= 100 * cores ? 'within' : 'OVER'],
      ['cold start: spawn → first device ticket (ms)', firstTicket.toFixed(0), '< 1000 ms target', firstTicket < 1000 ? 'met' : 'missed'],
    ];
    const limits = processes
      ? `heap limits ${Object.entries(board.domains)
          .map(([d, b]) => `${d} ${b.heapMb}`)
          .join(', ')} MB`
      : `heap limit ${heapMb} MB`;
    return `${table(['board ' + boardId + ` (${board.placement}, interval ${board.timing.intervalMs} ms, ${limits}, semi-space ${semiSpaceMb} MB)`, 'measured', 'budget', ''], rows)}\n\nThe device runs as one plain .mjs bundle (no tsx; in \`process\` placement each domain process runs the same file as \`domain-host\`), simulated watchdog; hubs and broker in the measuring process.`;
  } finally {
    await Promise.all(hubs.map((h) => h.stop()));
    await broker.close();
  }
}
