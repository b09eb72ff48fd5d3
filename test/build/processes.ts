/**
 * Shared by the tests that run `dominion device` with domain processes (`process` and `split`
 * placement): a board with generous deadlines, the device as a child process with its stdout read
 * line by line, and the process tree read from /proc.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { hex } from '../../actors/crypto/index.ts';
import { loadBoard, type BoardProfile } from '../../boards/index.ts';
import { buildBoard, type BuildResult } from '../../build/index.ts';
import { provisionedHubs, releaseKeyFile, tempDir, type ProvisionedHubs } from './support.ts';
import { createDomainUsers, domainUsers, publishRelease } from '../../actors/device/index.ts';
import { verifyArtifacts } from '../../actors/release/index.ts';
import { asUser } from '../../actors/device/process/users.ts';

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

/** True once `pid` has exited, polling /proc for up to 15 s (a loaded machine is slow to reap) (it is not our child: no exit event). */
export async function exitedSoon(pid: number): Promise<boolean> {
  for (let i = 0; i < 300 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
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

  /** The next line matching (or one already seen, with `seen`), failing after `ms` of real time. */
  waitFor(match: (l: string) => boolean, what: string, ms = 30_000, o: { readonly seen?: boolean } = {}): Promise<string> {
    const early = o.seen === true ? this.lines.find(match) : undefined;
    if (early !== undefined) return Promise.resolve(early);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${what}" within ${ms} ms; device said:\n${this.lines.slice(-20).join('\n')}`)),
        ms,
      );
      this.waiters.push({ match, done: (l) => (clearTimeout(timer), resolve(l)) });
    });
  }
}

/**
 * `dominion device` on `built`'s artifacts as a child process, for two minutes at most: run from
 * sources, or, given `runner`, as a board runs it (the bundled runner, build/runner.ts).
 */
export function startDevice(
  built: BuildResult,
  provision: string,
  dataDir: string,
  o: { runner?: string; sameUser?: boolean } = {},
): DeviceUnderTest {
  const runner = o.runner;
  const child = spawn(
    process.execPath,
    [
      ...(runner === undefined ? ['--import', 'tsx', cli, 'device'] : [runner]),
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
      ...(o.sameUser === true ? ['--same-user'] : []),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new DeviceUnderTest(child);
}

/**
 * Running as root (as CI does), the device runs each domain process as its own user: those users are
 * made, and `root` (artifacts, provisioning) opened for them to read. False where not root: then every
 * domain runs as this user, and the user checks are skipped.
 */
export function domainUsersReady(root: string, board: BoardProfile, fromSources = true): boolean {
  if (process.getuid?.() !== 0) return false;
  createDomainUsers(board);
  chmodSync(root, 0o755);
  // Run from sources, the domain users must read the project too: a checkout under a private home
  // cannot run this way, and the device then runs every domain as root (--same-user).
  if (!fromSources) return true;
  const hv = domainUsers(board).hypervisor!;
  const [file, ...args] = asUser(hv);
  return spawnSync(file!, [...args, 'test', '-r', cli]).status === 0;
}

/** The real uid of a live process. */
export function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Uid:'));
  return Number(line?.split(/\s+/)[1]);
}

/** The effective capabilities of a live process, as /proc shows them (hex). */
export function capEffOf(pid: number): string | undefined {
  return readFileSync(`/proc/${pid}/status`, 'utf8').match(/^CapEff:\s+(\S+)/m)?.[1];
}

/**
 * Runs `code` in a fresh Node as the user `uid`:`gid` with no capabilities (what a hostile domain
 * process of that user could do), and returns its one JSON line.
 */
export function asDomainUser(uid: number, gid: number, code: string): unknown {
  // The same prefix the device starts an untrusted domain process with.
  const [file, ...args] = asUser({ name: `uid ${uid}`, uid, gid });
  const r = spawnSync(file!, [...args, process.execPath, '-e', code], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`probe as uid ${uid} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown;
}

/** What a domain user can do to `sw` and its siblings: each attempt's error code (or "ok"). */
export function reachOf(
  uid: number,
  gid: number,
  targets: { keyFile: string; sw: number; others: readonly number[] },
): Record<string, string> {
  const code = `
    const fs = require('node:fs');
    const t = ${JSON.stringify(targets)};
    const attempt = (f) => { try { f(); return 'ok'; } catch (e) { return e.code ?? String(e); } };
    const out = {
      'read the key file': attempt(() => fs.readFileSync(t.keyFile)),
      'read sw environ': attempt(() => fs.readFileSync('/proc/' + t.sw + '/environ')),
      'open sw mem': attempt(() => fs.closeSync(fs.openSync('/proc/' + t.sw + '/mem', 'r'))),
      'signal sw': attempt(() => process.kill(t.sw, 0)),
    };
    t.others.forEach((pid, i) => { out['signal sibling ' + i] = attempt(() => process.kill(pid, 0)); out['read sibling environ ' + i] = attempt(() => fs.readFileSync('/proc/' + pid + '/environ')); });
    console.log(JSON.stringify(out));`;
  return asDomainUser(uid, gid, code) as Record<string, string>;
}

/** A built board (generous deadlines), hubs for `deviceId` on an embedded broker, and domain users where root: set up before the file's tests, removed after. */
export interface DeviceFixture {
  readonly root: string;
  readonly board: BoardProfile;
  /** Release 1: what the device is installed from. */
  readonly built: BuildResult;
  /** The board built as release `version` (one of `FixtureOptions.releases`). */
  release(version: number): BuildResult;
  readonly hubs: ProvisionedHubs;
  /** The device runs each domain process as its own user (the tests run as root). */
  readonly withUsers: boolean;
}

export interface FixtureOptions {
  /** The device runs from the bundled runner, not from sources (the domain users need not read the project). */
  readonly bundled?: boolean;
  /** The board's services (default: the sensor). */
  readonly services?: readonly string[];
  /** Images of services outside actors/images/, written into the fixture's root first. */
  readonly serviceImages?: (root: string) => Readonly<Record<string, string>>;
  /**
   * Later releases to build too (same key, same board): with these, every release — the first
   * included — is published to the hubs, for the device to restore and update from.
   */
  readonly releases?: readonly number[];
}

export function deviceFixture(placement: BoardProfile['placement'], deviceId: string, o: FixtureOptions = {}): DeviceFixture {
  const root = tempDir(`${placement}-device`);
  const board = { ...generousBoard(placement), ...(o.services !== undefined ? { services: o.services } : {}) };
  const state: { built?: BuildResult; hubs?: ProvisionedHubs; withUsers: boolean; releases: Map<number, BuildResult> } = {
    withUsers: false,
    releases: new Map(),
  };
  before(async () => {
    state.withUsers = domainUsersReady(root, board, o.bundled !== true);
    const { file } = releaseKeyFile(root);
    const serviceImages = o.serviceImages?.(root);
    state.built = await buildBoard({ board, outDir: join(root, 'dist'), releaseKey: file, serviceImages });
    state.hubs = await provisionedHubs(root, deviceId, GENEROUS_DEFERRAL_MS, board.services);
    for (const version of o.releases ?? []) {
      const outDir = join(root, `dist-v${version}`);
      state.releases.set(version, await buildBoard({ board, outDir, releaseKey: file, serviceImages, releaseVersion: version }));
    }
    if (o.releases !== undefined)
      for (const b of [state.built, ...state.releases.values()])
        publishRelease(state.hubs.fleet, verifyArtifacts(b.dir, b.releaseKey.publicKey), 0);
  });
  after(async () => {
    await state.hubs?.stop();
    rmSync(root, { recursive: true, force: true });
  });
  return {
    root,
    board,
    get built() {
      return state.built!;
    },
    release(version) {
      const b = state.releases.get(version);
      if (b === undefined) throw new Error(`release ${version} was not built: list it in the fixture's releases`);
      return b;
    },
    get hubs() {
      return state.hubs!;
    },
    get withUsers() {
      return state.withUsers;
    },
  };
}
