/**
 * TLS material for tests, made as an operator would (`dominion broker-config`'s module), and a
 * private Mosquitto started on a free loopback port with the generated configuration.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBrokerConfig, type BrokerConfigFiles } from '../../actors/mqtt/tls-material.ts';

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const haveMosquitto = existsSync(MOSQUITTO);

export interface TlsMaterial extends BrokerConfigFiles {
  readonly ca: string;
  readonly key: string;
  readonly cert: string;
}

/** A fresh CA and server certificate for localhost and 127.0.0.1; as root, Mosquitto is told to stay root. */
export async function tlsMaterial(port = 8883): Promise<TlsMaterial> {
  const dir = mkdtempSync(join(tmpdir(), 'dominion-tls-'));
  const files = await makeBrokerConfig({
    dir,
    hosts: ['localhost', '127.0.0.1'],
    port,
    bind: '127.0.0.1',
    ...(process.getuid?.() === 0 ? { user: 'root' } : {}),
  });
  return {
    ...files,
    ca: readFileSync(files.caCert, 'utf8'),
    key: readFileSync(files.serverKey, 'utf8'),
    cert: readFileSync(files.serverCert, 'utf8'),
  };
}

export { freePort } from '../../bench/mosquitto.ts';

export interface TestMosquitto {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * Starts Mosquitto with `conf` (listening on `port`, TLS unless `tls` is false); resolves once it says
 * it is running, rejects (with its output) if it exits first.
 */
export async function startMosquitto(conf: string, port: number, o: { readonly tls?: boolean } = {}): Promise<TestMosquitto> {
  const child: ChildProcess = spawn(MOSQUITTO, ['-c', conf, '-v'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mosquitto did not start within 10 s:\n${output}`)), 10_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (/mosquitto version [\d.]+ running/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`mosquitto exited with ${String(code)}:\n${output}`));
    });
  });
  child.stderr!.resume();
  return {
    url: `${o.tls === false ? 'mqtt' : 'mqtts'}://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
