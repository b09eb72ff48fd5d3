/**
 * The processes the dashboard's browser tests and bench run: `dominion dashboard` on given hub
 * databases, and `dominion up --scenario none` (broker, SQLite IH and SH, a device) to watch.
 * Child processes from sources, as a user runs them; each waits for what it prints, not for a time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Running {
  readonly child: ChildProcess;
  output(): string;
  /** The first match of `pattern` in the output, waiting up to `ms`; rejects if the process exits first. */
  waitFor(pattern: RegExp, what: string, ms?: number): Promise<RegExpExecArray>;
  stop(): Promise<void>;
}

export function runDominion(args: readonly string[], env: Record<string, string> = {}): Running {
  // The bin, as a user runs it (`dominion dashboard` runs bundled: cli/bundled.mjs).
  const child = spawn(process.execPath, ['cli/dominion.mjs', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    text += chunk.toString('utf8');
    for (const l of [...listeners]) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => {
    gone = true;
    for (const l of [...listeners]) l();
  });
  return {
    child,
    output: () => text,
    waitFor(pattern, what, ms = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`no ${what} within ${ms} ms; output:\n${text.slice(-3000)}`)), ms);
        const finish = (err?: Error, m?: RegExpExecArray): void => {
          clearTimeout(timer);
          listeners.delete(check);
          if (err !== undefined) reject(err);
          else resolve(m!);
        };
        const check = (): void => {
          const m = pattern.exec(text);
          if (m !== null) finish(undefined, m);
          else if (gone) finish(new Error(`exited before ${what}; output:\n${text.slice(-3000)}`));
        };
        listeners.add(check);
        check();
      });
    },
    async stop() {
      if (!gone) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

export interface DashboardProcess extends Running {
  readonly url: string;
}

/** `dominion dashboard --db … --listen 127.0.0.1:0`, with the operator token from the environment when given. */
export async function startDashboard(dbs: readonly string[], o: { token?: string } = {}): Promise<DashboardProcess> {
  const run = runDominion(
    ['dashboard', ...dbs.flatMap((d) => ['--db', d]), '--listen', '127.0.0.1:0'],
    o.token !== undefined ? { DOMINION_DASHBOARD_TOKEN: o.token } : {},
  );
  try {
    const m = await run.waitFor(/http:\/\/127\.0\.0\.1:\d+\/?/, 'dashboard URL', 120_000);
    const url = m[0].endsWith('/') ? m[0] : `${m[0]}/`;
    return { ...run, url };
  } catch (e) {
    await run.stop();
    throw e;
  }
}

export interface Scenario extends Running {
  /** The SQLite databases of its IH and SH. */
  readonly dbs: readonly string[];
  readonly dir: string;
}

/**
 * `dominion up --scenario none` (or the default scenario): once the device holds its first tickets.
 * The hubs' databases are in the temp directory it prints.
 */
export async function startScenario(o: { scenario?: 'none' | 'default'; intervalMs?: number; durationS?: number } = {}): Promise<Scenario> {
  // The device's data in a folder of ours, removed when the scenario stops (the hubs' folder is
  // the caller's to remove: it may read the databases after).
  const deviceDir = mkdtempSync(join(tmpdir(), 'dominion-dashboard-device-'));
  const run = runDominion([
    'up',
    '--data-dir',
    deviceDir,
    '--scenario',
    o.scenario ?? 'none',
    '--interval',
    String(o.intervalMs ?? 1000),
    '--duration',
    String(o.durationS ?? 600),
    // Its own dashboard stays off: the tests and the bench run `dominion dashboard` as a child of their own.
    '--dashboard',
    'off',
  ]);
  try {
    const m = await run.waitFor(/hub state: SQLite databases in (\S+)/, 'the hubs’ database folder', 120_000);
    const dir = m[1]!;
    const stop = async (): Promise<void> => {
      await run.stop();
      rmSync(deviceDir, { recursive: true, force: true });
    };
    return { ...run, stop, dir, dbs: [`${dir}/ih-1.db`, `${dir}/sh-sensor.db`] };
  } catch (e) {
    await run.stop();
    rmSync(deviceDir, { recursive: true, force: true });
    throw e;
  }
}
