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
import type { Readable } from 'node:stream';
import type { Bootstrap, HostCommand } from './bootstrap.ts';

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
}

/**
 * What a sandboxed domain process may not do. Node's permission model (`--experimental-permission`)
 * denies it child processes, worker threads and writes outside `writeDir`; where the OS allows
 * (`unshare -n` works: root or user namespaces), it also gets a network namespace of its own with
 * nothing in it. Node 20's permission model does not cover the network, hence the namespace.
 */
export interface Sandbox {
  /** The only directory the process may write (created by the caller). */
  readonly writeDir: string;
  /** Start it in an empty network namespace (see `networkRefusal`); false only where allowed for development. */
  readonly noNetwork: boolean;
}

let networkIsolation: { readonly ok: boolean; readonly why: string } | undefined;

/** True where `unshare -n` can give a process an empty network namespace (checked once). */
export function canIsolateNetwork(): boolean {
  return networkIsolationCheck().ok;
}

function networkIsolationCheck(): { readonly ok: boolean; readonly why: string } {
  if (networkIsolation === undefined) {
    if (process.platform !== 'linux') networkIsolation = { ok: false, why: `network namespaces need Linux, this is ${process.platform}` };
    else {
      const r = spawnSync('unshare', ['-n', 'true'], { encoding: 'utf8' });
      const why = r.error !== undefined ? r.error.message : (r.stderr ?? '').trim() || `unshare -n exited with ${String(r.status)}`;
      networkIsolation = { ok: r.status === 0, why };
    }
  }
  return networkIsolation;
}

/**
 * Why a service must not start, if it must not: a service never gets the host network. Where no
 * empty network namespace can be made, it is refused — unless `allowHostNetwork` (development only:
 * the service can then reach the network directly, bypassing `mm`).
 */
export function networkRefusal(allowHostNetwork: boolean, isolation = networkIsolationCheck()): string | undefined {
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
  return {
    execPath: process.execPath,
    args: [...withoutHeapLimit(process.execArgv), entry, 'domain-host'],
    typescript: import.meta.url.endsWith('.ts'),
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
  // Run from TypeScript sources (tsx), the loader's hooks need a worker thread: allowed then, and
  // only then. The bundled runner a board installs runs without tsx, fully confined.
  const worker = host.typescript === true ? ['--allow-worker', '--disable-warning=SecurityWarning'] : [];
  const confine =
    o.sandbox === undefined
      ? []
      : [
          '--experimental-permission',
          '--allow-fs-read=*',
          `--allow-fs-write=${o.sandbox.writeDir}`,
          ...worker,
          '--disable-warning=ExperimentalWarning',
        ];
  // The label last, so `ps` tells the domain processes apart (the bootstrap, not argv, is what counts).
  const args = [`--max-old-space-size=${o.heapMb}`, ...confine, ...withoutHeapLimit(host.args), o.label];
  const [file, argv] = o.sandbox?.noNetwork === true ? ['unshare', ['-n', host.execPath, ...args]] : [host.execPath, args];
  const child = spawn(file, argv, { stdio, env: domainEnvironment() });
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
