/**
 * A private Mosquitto for benchmarks: a free loopback port and `set_tcp_nodelay true` (the machine's
 * own broker on 1883 leaves Nagle on, which adds ~44 ms to every request/response).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BenchMosquitto {
  readonly url: string;
  /** The broker process (for its CPU time). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** A TLS listener's files (PEM paths), e.g. from actors/mqtt/tls-material.ts. */
export interface BenchMosquittoTls {
  readonly cafile: string;
  readonly certfile: string;
  readonly keyfile: string;
}

/**
 * Starts `mosquitto` if it is installed; resolves `undefined` (with a note on stderr) if not. With
 * `tls` its one listener is TLS (`mqtts://127.0.0.1:<port>`), still anonymous: benchmarks measure
 * the transport, not authentication.
 */
export async function startBenchMosquitto(
  tls?: BenchMosquittoTls,
  extraConfig: readonly string[] = [],
): Promise<BenchMosquitto | undefined> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'dominion-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  const tlsLines =
    tls === undefined
      ? ''
      : // Keys are 0600: started as root, Mosquitto must stay root to read them.
        `cafile ${tls.cafile}\ncertfile ${tls.certfile}\nkeyfile ${tls.keyfile}\ntls_version tlsv1.2\n${process.getuid?.() === 0 ? 'user root\n' : ''}`;
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\n${tlsLines}allow_anonymous true\nset_tcp_nodelay true\npersistence false\nlog_dest none\n${extraConfig.map((l) => `${l}\n`).join('')}`,
  );
  let child: ChildProcess;
  try {
    child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  const failed = new Promise<undefined>((resolve) => child.once('error', () => resolve(undefined)));
  const ready = waitForPort(port, 5000).then(() => ({
    url: `${tls === undefined ? 'mqtt' : 'mqtts'}://127.0.0.1:${port}`,
    pid: child.pid,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  }));
  const result = await Promise.race([ready, failed]);
  if (result === undefined) process.stderr.write('… mosquitto not available: Mosquitto rows skipped\n');
  return result;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`; throws after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
