/**
 * The live view of `dominion up`: per instance its deadline, last ticket and expiries, the device's
 * boots and last reset reason, and the latest events. On a terminal it redraws in place; otherwise
 * (logs, CI) it prints one line per event.
 */
import type { DeviceEvent, DeviceStatus } from '../actors/device/index.ts';
import type { WatchedDevice } from './up-device.ts';
import { describeEvent } from './events.ts';

const LOG_LINES = 8;

export class LiveDisplay {
  private readonly log: string[] = [];
  private drawn = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private phase = '';

  constructor(
    private readonly device: Pick<WatchedDevice, 'clock' | 'status' | 'onEvent'>,
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly live = process.stdout.isTTY === true,
  ) {
    device.onEvent((e) => this.event(e));
  }

  start(): void {
    if (this.live) this.timer = setInterval(() => this.draw(), 200);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.live) this.draw();
  }

  setPhase(phase: string): void {
    this.phase = phase;
    this.line(`── ${phase}`);
  }

  line(text: string): void {
    const stamped = `${seconds(this.device.clock.now())}  ${text}`;
    if (this.live) {
      this.log.push(stamped);
      if (this.log.length > LOG_LINES) this.log.shift();
    } else this.out.write(`${stamped}\n`);
  }

  private event(e: DeviceEvent): void {
    const text = describeEvent(e);
    if (text !== undefined) this.line(text);
  }

  private draw(): void {
    const lines = [...renderStatus(this.device.status, this.device.clock.now()), `phase: ${this.phase || '—'}`, '', ...this.log];
    let s = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const l of lines) s += `\x1b[2K${l}\n`;
    this.out.write(s);
    this.drawn = lines.length;
  }
}

export function renderStatus(status: DeviceStatus, now: number): string[] {
  const rows = status.instances.map((i) => [
    i.instance,
    i.hubId,
    i.deadline === undefined ? '—' : `in ${((i.deadline - now) / 1000).toFixed(1)} s`,
    i.lastTicketAt === undefined ? '—' : `${((now - i.lastTicketAt) / 1000).toFixed(1)} s ago (D ${i.lastDeferralMs} ms)`,
    String(i.tickets),
    String(i.expiries),
    i.lastOutcome,
  ]);
  const header = ['instance', 'hub', 'deadline', 'last ticket', 'tickets', 'expiries', 'last outcome'];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const fmt = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ');
  const mode =
    status.mode === 'recovery'
      ? `, RECOVERY MODE${status.bootWithheld !== undefined ? ` (boot withheld: ${status.bootWithheld})` : ''}`
      : '';
  return [
    `device ${status.deviceId}: boot #${status.bootCount}, last reset: ${status.lastResetReason}${mode}`,
    fmt(header),
    ...rows.map(fmt),
  ];
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1).padStart(6)} s`;
}
