/**
 * Starting one domain process (`process` placement): Node with the domain's V8 heap limit, its
 * bootstrap on stdin, its channel to the parent on fd 3 — a Unix socket pair, so only framed bytes
 * cross — and, for `mm`, one more socket per service on fd 4, 5, ….
 *
 * The child's stdout is read line by line with a bounded line length: the hypervisor's lines are its
 * events for `sw`; a VM's lines are only ever logged, so a compromised VM cannot forge an event.
 */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Socket } from 'node:net';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { Bootstrap, HostCommand } from './bootstrap.ts';
import { asUser, type DomainUser } from './users.ts';

export interface SpawnOptions {
  /** `hypervisor`, `mm`, `sm:<service>`: names the process in logs. */
  readonly label: string;
  /** V8 old-space limit of the process (`--max-old-space-size`), from the board's domain budget. */
  readonly heapMb: number;
  /** Extra sockets after fd 3 (mm: one per service). */
  readonly extraLinks?: number;
  /** Each stdout line (at most `MAX_LINE` bytes; longer lines are dropped and counted). */
  readonly onLine: (line: string) => void;
  readonly onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
  /** Confinement for a domain that needs neither network nor processes (the services). */
  readonly sandbox?: Sandbox;
  /** The domain's own user (where the device runs as root), and capabilities it keeps (see `asUser`). */
  readonly user?: { readonly as: DomainUser; readonly caps?: readonly ('setuid' | 'setgid' | 'kill')[] };
}

/**
 * What a confined domain process may not do. Node's permission model (`--experimental-permission`)
 * denies it child processes, worker threads and native addons, reads outside its code, its own
 * slots and its own directory, and writes outside that directory; it may also get a network
 * namespace of its own with nothing in it. Node 20's permission model does not cover the network,
 * hence the namespace.
 */
export interface Sandbox {
  /** The only directory the process may write (created by the caller); none for a domain that writes nothing. */
  readonly writeDir?: string;
  /** What it may read besides its host command's code and `writeDir`: its own slots, which it verifies and loads from. */
  readonly reads: readonly string[];
  /** Start it in an empty network namespace (see `networkRefusal`); false for `mm`, and where allowed for development. */
  readonly noNetwork: boolean;
  /** It starts processes of its own (the hypervisor of `process` placement starts its VMs). */
  readonly childProcesses?: boolean;
}

const isolationChecks = new Map<string, { readonly ok: boolean; readonly why: string }>();

/**
 * The command prefix that starts a program in an empty network namespace: `unshare -n` for root,
 * and for a domain user (no privileges) a user namespace around it (`unshare --user --net`).
 */
export function noNetworkPrefix(asUser: readonly string[] = []): string[] {
  // --map-current-user: inside, the process keeps its own uid (files it writes, /tmp paths) rather than `nobody`.
  return [...asUser, 'unshare', ...(asUser.length > 0 ? ['--user', '--map-current-user', '--net'] : ['-n']), '--'];
}

/** True where `prefix` (default: this process's `unshare -n`) can give a process an empty network namespace (checked once per prefix). */
export function canIsolateNetwork(prefix: readonly string[] = noNetworkPrefix()): boolean {
  return networkIsolationCheck(prefix).ok;
}

/** Whether `prefix true` runs, and why not (checked once per prefix). */
export function networkIsolationCheck(prefix: readonly string[] = noNetworkPrefix()): { readonly ok: boolean; readonly why: string } {
  const key = prefix.join(' ');
  let check = isolationChecks.get(key);
  if (check === undefined) {
    if (process.platform !== 'linux') check = { ok: false, why: `network namespaces need Linux, this is ${process.platform}` };
    else {
      const r = spawnSync(prefix[0]!, [...prefix.slice(1), 'true'], { encoding: 'utf8', env: domainEnvironment() });
      const why = r.error !== undefined ? r.error.message : (r.stderr ?? '').trim() || `${key} true exited with ${String(r.status)}`;
      check = { ok: r.status === 0, why };
    }
    isolationChecks.set(key, check);
  }
  return check;
}

/**
 * Why a service must not start, if it must not: a service never gets the host network. Where no
 * empty network namespace can be made, it is refused — unless `allowHostNetwork` (development only:
 * the service can then reach the network directly, bypassing `mm`).
 */
export function networkRefusal(allowHostNetwork: boolean, isolation: { readonly ok: boolean; readonly why: string }): string | undefined {
  if (isolation.ok || allowHostNetwork) return undefined;
  return `refusing to start: it would get the host network, as no empty network namespace can be made (${isolation.why}); run as root or allow unprivileged user namespaces, or pass --allow-host-network for development only`;
}

export interface DomainProcess {
  readonly label: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** The parent's end of the domain's channel (the child's fd 3). */
  readonly link: Socket;
  /** The parent's ends of the extra sockets (the child's fd 4, 5, …). */
  readonly extra: readonly Socket[];
  /** Stops the process at once (SIGKILL): what a VM reboot or a device reset does to it. */
  kill(): void;
}

export const MAX_LINE = 16 * 1024;

/** The host command of this process: the same Node, loader flags and entry, without its heap limit. */
export function hostCommandOfThisProcess(): HostCommand {
  const entry = process.argv[1];
  if (entry === undefined) throw new Error('cannot tell how this process was started (no process.argv[1])');
  // This module is TypeScript only when run from sources (tsx, registered by flag or by cli/dominion.mjs).
  const typescript = import.meta.url.endsWith('.ts');
  return {
    execPath: process.execPath,
    args: [...withoutHeapLimit(process.execArgv), entry, 'domain-host'],
    typescript,
    // A bundled runner is one file (run from sources, confined processes read what their user may).
    reads: [resolve(entry)],
  };
}

function withoutHeapLimit(args: readonly string[]): string[] {
  return args.filter((a) => !a.startsWith('--max-old-space-size'));
}

/**
 * The whole environment a domain process gets: PATH (to find `unshare` and nothing else), no more.
 * The device's own environment — whatever the operator or unit file put there — never reaches a
 * domain, and there is nothing in a domain's environment for another to read.
 */
export function domainEnvironment(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
}

export function spawnDomain(host: HostCommand, bootstrap: Bootstrap, o: SpawnOptions): DomainProcess {
  const extra = o.extraLinks ?? 0;
  const stdio: StdioOptions = ['pipe', 'pipe', 'inherit', 'pipe', ...Array.from({ length: extra }, () => 'pipe' as const)];
  // Run from TypeScript sources (tsx), the loader's hooks need a worker thread, and a cold cache (a
  // domain user's own) its esbuild process: allowed then, and only then. The bundled runner a board
  // installs runs without tsx, fully confined.
  const worker = host.typescript === true ? ['--allow-worker', '--allow-child-process', '--disable-warning=SecurityWarning'] : [];
  const sandbox = o.sandbox;
  const confine =
    sandbox === undefined
      ? []
      : [
          '--experimental-permission',
          // eval, new Function and their kin throw: code runs only from what the process loaded.
          '--disallow-code-generation-from-strings',
          // One flag per path (Node 20.20 no longer takes a list). Run from sources, tsx probes paths
          // all over (even the project's path in upper case), so it reads what its user may read.
          ...(host.typescript === true
            ? ['--allow-fs-read=*']
            : [...host.reads, ...sandbox.reads, ...(sandbox.writeDir !== undefined ? [sandbox.writeDir] : [])].map(
                (p) => `--allow-fs-read=${p}`,
              )),
          ...(sandbox.writeDir !== undefined ? [`--allow-fs-write=${sandbox.writeDir}`] : []),
          // The hypervisor starts the VM processes: deliberate, so Node's warning about it is noise in the log.
          ...(sandbox.childProcesses === true ? ['--allow-child-process', '--disable-warning=SecurityWarning'] : []),
          ...worker,
          '--disable-warning=ExperimentalWarning',
        ];
  // The label last, so `ps` tells the domain processes apart (the bootstrap, not argv, is what counts).
  const args = [`--max-old-space-size=${o.heapMb}`, ...confine, ...withoutHeapLimit(host.args), o.label];
  const user = o.user === undefined ? [] : asUser(o.user.as, o.user.caps);
  const command = [...(sandbox?.noNetwork === true ? noNetworkPrefix(user) : user), host.execPath, ...args];
  // tsx caches what it compiles under the temporary directory: a confined process's own, in its data directory.
  const env =
    host.typescript === true && sandbox?.writeDir !== undefined
      ? { ...domainEnvironment(), TMPDIR: sandbox.writeDir }
      : domainEnvironment();
  const child = spawn(command[0]!, command.slice(1), { stdio, env });
  if (child.pid === undefined) throw new Error(`cannot start the ${o.label} process (${host.execPath})`);
  child.stdin!.on('error', () => {}); // a child that dies before reading its bootstrap: its exit says so
  child.stdin!.end(JSON.stringify(bootstrap));
  readLines(child.stdout!, o.onLine);
  if (o.onExit !== undefined) child.once('exit', o.onExit);
  const sockets = child.stdio.slice(3) as Socket[];
  for (const s of sockets) s.on('error', () => {}); // a dead peer shows as 'close'
  return {
    label: o.label,
    child,
    pid: child.pid,
    link: sockets[0]!,
    extra: sockets.slice(1),
    kill: () => {
      for (const s of sockets) s.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Splits a stream into lines of at most MAX_LINE bytes; an over-long line is skipped to its end. */
export function readLines(stream: Readable, onLine: (line: string) => void): void {
  let pending = '';
  let skipping = false;
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    let text = pending + chunk;
    pending = '';
    let nl = text.indexOf('\n');
    while (nl >= 0) {
      if (!skipping && nl <= MAX_LINE) onLine(text.slice(0, nl));
      skipping = false;
      text = text.slice(nl + 1);
      nl = text.indexOf('\n');
    }
    if (text.length > MAX_LINE) {
      skipping = true;
      text = '';
    }
    pending = skipping ? '' : text;
  });
}
