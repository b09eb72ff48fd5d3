/**
 * The example service: a sensor sampler. Every period it reads a (simulated) temperature sensor and
 * publishes the reading as JSON on the `readings` stream. Its sequence number lives in its data
 * directory, so it carries on where it left off after a restart — the data dir persists, the code does
 * not. Inbound `{"periodMs": n}` changes the sampling period.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceInbound, ServiceSpec } from './service.ts';

export type SensorMsg = { readonly type: 'sample' };

export interface SensorOptions {
  readonly periodMs?: number;
  /** Reads the sensor at a time (ms); the default is a slow sine around 21 °C. */
  readonly read?: (nowMs: number) => number;
}

export interface Reading {
  readonly seq: number;
  readonly atMs: number;
  readonly celsius: number;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

function loadSeq(file: string): number {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as { seq?: unknown };
    return typeof v.seq === 'number' && Number.isSafeInteger(v.seq) && v.seq >= 0 ? v.seq : 0;
  } catch {
    return 0; // first boot, or a damaged file: data is never trusted as code, so start over
  }
}

export function sensorService(options: SensorOptions = {}): ServiceSpec<SensorMsg> {
  const read = options.read ?? ((t: number) => 21 + 3 * Math.sin(t / 60_000));
  return {
    name: 'sensor',
    version: '1.0.0',
    capacity: 32,
    start(ctx) {
      mkdirSync(ctx.dataDir, { recursive: true });
      const file = join(ctx.dataDir, 'sensor.json');
      let seq = loadSeq(file);
      let periodMs = options.periodMs ?? 1000;
      const timer = ctx.actor.timer({ type: 'sample' });
      timer.arm(periodMs, periodMs);
      const persist = (): void => writeFileSync(file, JSON.stringify({ seq }));
      return {
        receive(msg: SensorMsg | ServiceInbound): void {
          switch (msg.type) {
            case 'sample': {
              const now = ctx.actor.now();
              const reading: Reading = { seq: ++seq, atMs: now, celsius: Math.round(read(now) * 100) / 100 };
              ctx.publish('readings', encoder.encode(JSON.stringify(reading)));
              if (seq % 10 === 0) persist();
              return;
            }
            case 'inbound': {
              let cmd: { periodMs?: unknown };
              try {
                cmd = JSON.parse(decoder.decode(msg.payload)) as { periodMs?: unknown };
              } catch {
                return; // not ours to crash on
              }
              if (typeof cmd.periodMs === 'number' && cmd.periodMs >= 10 && cmd.periodMs <= 3_600_000) {
                periodMs = cmd.periodMs;
                timer.arm(periodMs, periodMs);
              }
              return;
            }
          }
        },
        stopped: persist,
      };
    },
  };
}
