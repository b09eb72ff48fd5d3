/** Runs `dominion <args>` as a real child process (not a test file itself). */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Child {
  readonly process: ChildProcess;
  /** Everything printed so far (stdout and stderr, interleaved). */
  output(): string;
  /** Resolves when the output matches `pattern`; rejects after `ms` or if the process exits first. */
  waitFor(pattern: RegExp, what: string, ms?: number): Promise<void>;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
}

export function dominion(args: readonly string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    text += chunk.toString('utf8');
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    process: child,
    output: () => text,
    exited,
    waitFor(pattern, what, ms = 20_000) {
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!pattern.test(text)) return;
          done();
          resolve();
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${ms} ms waiting for ${what}; output:\n${text}`));
        }, ms);
        void exited.then((code) => {
          if (pattern.test(text)) return;
          done();
          reject(new Error(`process exited (${code}) before ${what}; output:\n${text}`));
        });
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** Runs `dominion <args>` to completion; returns exit code and output. */
export async function runDominion(
  args: readonly string[],
  ms = 30_000,
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  const code = await new Promise<number | string>((resolve) => child.once('exit', (c, s) => resolve(c ?? s ?? -1)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** `dominion hub` arguments for an IH on `dbPath` with its key at `keyPath` (no shared subscription unless `shared`). */
export function ihHubArgs(o: { hubId: string; brokerUrl: string; dbPath: string; keyPath: string; shared?: boolean }): string[] {
  return [
    ...['hub', '--role', 'ih', '--id', o.hubId, '--broker', o.brokerUrl, '--db', o.dbPath, '--key', o.keyPath],
    ...(o.shared === true ? [] : ['--share-group', 'none']),
  ];
}
