/** The JSON a benchmark hands `hub-host.ts`: fleet shape and its secrets as hex. */
import { spawn } from 'node:child_process';
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
  readonly secrets: { device: string; mm: string; deviceServices: HexRecord; ih: string; services: HexRecord };
}

const mapValues = <A, B>(r: Readonly<Record<string, A>>, f: (a: A) => B): Record<string, B> => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, f(v)]));

export function encodeSecrets(s: DemoSecrets): HubHostConfig['secrets'] {
  return { device: hex(s.device.device), mm: hex(s.device.mm), deviceServices: mapValues(s.device.services, hex), ih: hex(s.ih), services: mapValues(s.services, hex) };
}

export function decodeSecrets(s: HubHostConfig['secrets']): DemoSecrets {
  return {
    device: { device: fromHex(s.device), mm: fromHex(s.mm), services: mapValues(s.deviceServices, fromHex) },
    ih: fromHex(s.ih),
    services: mapValues(s.services, fromHex),
  };
}

/** Starts the hub host; resolves with the broker URL and a stop function once it says READY. */
export async function startHubHost(config: HubHostConfig): Promise<{ url: string; stop(): Promise<void> }> {
  const script = fileURLToPath(new URL('./hub-host.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdin.write(`${JSON.stringify(config)}\n`);
  const line = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`hub host exited with ${code} before it was ready`)));
    createInterface({ input: child.stdout }).once('line', resolve);
  });
  if (!line.startsWith('READY ')) throw new Error(`hub host said "${line}"`);
  return {
    url: line.slice('READY '.length),
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.stdin.end();
      }),
  };
}
