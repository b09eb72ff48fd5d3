/**
 * Shared by the tests that run `dominion device` with domain processes (`process` and `split`
 * placement): a board with generous deadlines, the device as a child process with its stdout read
 * line by line, and the process tree read from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { hex } from '../../actors/crypto/index.ts';
import { loadBoard, type BoardProfile } from '../../boards/index.ts';
import type { BuildResult } from '../../build/index.ts';

const cli = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

/**
 * Generous deadlines: on a loaded machine a domain process started through tsx can take seconds to
 * come up, and these tests are about processes, not about how tight a deadline can be.
 */
export const GENEROUS_DEFERRAL_MS = 10_000;

export function generousBoard(placement: BoardProfile['placement']): BoardProfile {
  return {
    ...loadBoard('sim'),
    placement,
    timing: {
      intervalMs: 500,
      deferralMs: GENEROUS_DEFERRAL_MS,
      maxDeferralMs: 2 * GENEROUS_DEFERRAL_MS,
      initialTimeoutMs: 30_000,
      vmInitialTimeoutMs: 30_000,
      replyTimeoutMs: 250,
    },
  };
}

export const ticketFor = (instance: string) => (l: string) => l.includes(`${instance}: ticket`);

/**
 * Live domain processes whose parent is `pid`, with their command lines. (Run from sources, a process
 * may also have tsx's esbuild service as a child: not a domain.)
 */
export function childrenOf(pid: number): Array<{ pid: number; cmdline: string[] }> {
  return allChildrenOf(pid).filter((c) => c.cmdline.includes('domain-host'));
}

export function allChildrenOf(pid: number): Array<{ pid: number; cmdline: string[] }> {
  const found = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== pid || fields[0] === 'Z') continue;
      found.push({
        pid: Number(name),
        cmdline: readFileSync(`/proc/${name}/cmdline`, 'utf8')
          .split('\0')
          .filter((a) => a !== ''),
      });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

export const alive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

/** True once `pid` has exited, polling /proc for up to 5 s (it is not our child: no exit event). */
export async function exitedSoon(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  return !alive(pid);
}

/** The device's stdout, line by line, with a way to wait for a line. */
export class DeviceUnderTest {
  readonly lines: string[] = [];
  private waiters: Array<{ match: (l: string) => boolean; done: (l: string) => void }> = [];
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => (w.match(line) ? (w.done(line), false) : true));
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** The next line matching (or one already seen, if `seen`), failing after `ms` of real time. */
  waitFor(match: (l: string) => boolean, what: string, ms = 30_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${what}" within ${ms} ms; device said:\n${this.lines.slice(-20).join('\n')}`)),
        ms,
      );
      this.waiters.push({ match, done: (l) => (clearTimeout(timer), resolve(l)) });
    });
  }
}

/** `dominion device` on `built`'s artifacts, run from sources as a child process, for two minutes at most. */
export function startDevice(built: BuildResult, provision: string, dataDir: string): DeviceUnderTest {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      cli,
      'device',
      '--board',
      'sim',
      '--artifacts',
      built.dir,
      '--provision',
      provision,
      '--release-pub',
      hex(built.releaseKey.publicKey),
      '--data-dir',
      dataDir,
      '--duration',
      '120',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new DeviceUnderTest(child);
}
