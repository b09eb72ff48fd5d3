/**
 * The fleet simulator's table: what the fleet sent and got, what its AWDTs would have done, who used
 * the CPU, and the largest fleet one hub core would carry at a 60 s deferral.
 */
import { cpus, loadavg } from 'node:os';
import { fmt, table } from '../stats.ts';
import type { FleetRun } from './run.ts';

/** The deferral the "largest fleet per hub core" row is for, and tickets per device per deferral. */
export const SIZING_DEFERRAL_MS = 60_000;
export const TICKETS_PER_DEFERRAL = 3;

/**
 * Devices one hub core carries at `deferralMs` when it answers `answersPerCpuSecond`: each device
 * asks once per deferral / TICKETS_PER_DEFERRAL (a device that misses two tickets still has time).
 */
export function fleetPerHubCore(answersPerCpuSecond: number, deferralMs = SIZING_DEFERRAL_MS): number {
  return Math.floor((answersPerCpuSecond * deferralMs) / TICKETS_PER_DEFERRAL / 1000);
}

export function fleetReport(r: FleetRun, loadBefore: number): string {
  const o = r.options;
  const d = r.drive;
  const s = o.seconds;
  const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
  const hubCpu = d.cpuEnd.hubs.map((x, i) => x - d.cpuStart.hubs[i]!);
  const cpu = {
    hub: sum(hubCpu),
    broker: sum(d.cpuEnd.brokers) - sum(d.cpuStart.brokers),
    sim: d.cpuEnd.sim - d.cpuStart.sim,
  };
  const perHubCpu = cpu.hub > 0 ? d.answersInWindow / cpu.hub : 0;
  const refusedTotal = [...d.refused.values()].reduce((a, b) => a + b, 0);
  const badTotal = [...d.bad.values()].reduce((a, b) => a + b, 0);
  const list = (m: ReadonlyMap<string, number>): string => (m.size === 0 ? '' : ` (${[...m].map(([k, v]) => `${k}: ${v}`).join(', ')})`);
  const pct = (x: number): string => `${((100 * x) / s).toFixed(0)} %`;
  const ms = (x: number): string => (Number.isNaN(x) ? '–' : x.toFixed(1));
  const rows: Array<[string, string | number]> = [
    ['devices', o.devices],
    ['hub workers / broker shards', `${o.workers} / ${o.shards}`],
    ['interval (each device asks once per)', `${o.intervalMs / 1000} s`],
    ['deferral (fleet policy)', `${o.deferralMs / 1000} s`],
    ['duration measured (after warm-up)', `${s} s (warm-up ${o.warmupMs / 1000} s)`],
    ['requests sent /s', fmt(d.sentMeasured / s)],
    ['tickets /s', fmt(d.tickets / s)],
    ['latency p50 / p99 / max, ms', `${ms(d.latency.percentile(50))} / ${ms(d.latency.percentile(99))} / ${ms(d.latency.max())}`],
    [
      'replies verified in full (signature, pinned hub key, nonce)',
      `${d.verified} (1 in ${o.verifyEvery})${badTotal > 0 ? `; bad: ${badTotal}${list(d.bad)}` : ''}`,
    ],
    ['refused / withheld', `${refusedTotal}${list(d.refused)}`],
    ['unanswered (no reply before the next request)', d.unanswered],
    ['stale replies (to a nonce no longer outstanding)', d.stale],
    ['would have reset (whole run, warm-up included)', `${d.resets} (${d.devicesReset} device(s))`],
    ['send lag p99 / max, ms (due → published)', `${ms(d.sendLag.percentile(99))} / ${ms(d.sendLag.max())}`],
    ['CPU: hub (all workers) / broker (all shards) / simulator (% of a core)', `${pct(cpu.hub)} / ${pct(cpu.broker)} / ${pct(cpu.sim)}`],
    ['CPU per hub worker (% of a core)', hubCpu.map((x) => pct(x)).join(' + ')],
    ['answers /s (any request, in the measured window)', fmt(Math.round(d.answersInWindow / s))],
    ['answers per hub CPU-second', fmt(Math.round(perHubCpu))],
    [
      'raw Ed25519 verify+sign per CPU-second (same run) / hub ÷ raw',
      `${fmt(Math.round(r.raw.perCpu))} / **${((100 * perHubCpu) / r.raw.perCpu).toFixed(0)} %**`,
    ],
    [
      `largest fleet per hub core at D = ${SIZING_DEFERRAL_MS / 1000} s`,
      `**${fleetPerHubCore(perHubCpu).toLocaleString('en-US')}** devices (one ticket per device per D/${TICKETS_PER_DEFERRAL})`,
    ],
  ];
  const model = cpus()[0]?.model ?? 'unknown CPU';
  return [
    `${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${cpus().length} × ${model}; broker ${r.broker}; hub = \`dominion hub\` child process(es), ${o.pgServer !== undefined ? 'PostgreSQL' : 'SQLite'}; ` +
      `${o.connections} MQTT connection(s) for the fleet, QoS 1, a reply subscription per device; seed ${o.seed}. ` +
      `Load average (1 min) ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after.`,
    '',
    table(['', 'value'], rows),
    '',
    `Set-up: keys ${r.keysCached ? 'read from the cache' : 'generated and cached'} in ${(r.keysMs / 1000).toFixed(1)} s; ` +
      `${o.devices} device(s) enrolled in one transaction in ${(r.enrolMs / 1000).toFixed(1)} s` +
      (r.pgCopyMs !== undefined
        ? ` and copied into a fresh PostgreSQL database (db migrate's copy) in ${(r.pgCopyMs / 1000).toFixed(1)} s`
        : '') +
      `; the signing thread prepared its keys in ${(r.signerKeyMs / 1000).toFixed(1)} s.`,
    `Pre-signed: ${r.signed.toLocaleString('en-US')} requests, by a worker thread, in windows of ${Math.min(1000, o.intervalMs)} ms signed 3 windows ahead ` +
      `(thread busy ${((100 * r.signMs) / 1000 / (o.seconds + o.warmupMs / 1000)).toFixed(0)} % of the run); ` +
      (d.lateWindows === 0
        ? 'signing never fell behind (every window was signed before its first request was due).'
        : `signing fell behind ${d.lateWindows} time(s), by up to ${d.worstSignWaitMs.toFixed(0)} ms.`),
    `The sizing row divides the hub's measured answers per CPU-second by one ticket per device per ${SIZING_DEFERRAL_MS / 1000 / TICKETS_PER_DEFERRAL} s ` +
      `(a device asks three times per deferral, so it survives two lost tickets); it assumes the hub has a core to itself, the broker and devices elsewhere. ` +
      'The rate is the one measured at this load: a lightly loaded hub commits almost every request on its own, so a light run understates what a busy hub does per CPU-second.',
  ].join('\n');
}
