/**
 * When each simulated device asks for its ticket: device d sends at phase(d) + k·interval, k = 0, 1, …
 * The phases spread the fleet evenly over one interval (slot s of N starts at s·I/N), each jittered
 * within its slot, and the devices are dealt to slots in a seeded shuffle, so the same (N, I, seed)
 * always gives the same schedule and the load is flat (about N/I requests per second), not bursty.
 */
import { deriveSeed, seededRandom } from '../hostile/index.ts';

/** One planned request: which device, and when (ms from the start of the run). */
export interface PlannedSend {
  readonly device: number;
  readonly atMs: number;
}

export class FleetSchedule {
  /** Phase of slot s (ms within an interval), increasing in s. */
  private readonly phases: Float64Array;
  /** The device in slot s. */
  private readonly deviceOfSlot: Uint32Array;

  constructor(
    readonly devices: number,
    readonly intervalMs: number,
    seed: number,
  ) {
    if (!Number.isInteger(devices) || devices < 1) throw new RangeError('FleetSchedule: devices must be an integer >= 1');
    if (!(intervalMs > 0)) throw new RangeError('FleetSchedule: intervalMs must be > 0');
    const jitter = seededRandom(deriveSeed(seed, 1));
    const deal = seededRandom(deriveSeed(seed, 2));
    const slotMs = intervalMs / devices;
    this.phases = new Float64Array(devices);
    this.deviceOfSlot = new Uint32Array(devices);
    for (let s = 0; s < devices; s++) {
      this.phases[s] = (s + jitter()) * slotMs;
      this.deviceOfSlot[s] = s;
    }
    for (let s = devices - 1; s > 0; s--) {
      const j = Math.floor(deal() * (s + 1));
      const t = this.deviceOfSlot[s]!;
      this.deviceOfSlot[s] = this.deviceOfSlot[j]!;
      this.deviceOfSlot[j] = t;
    }
  }

  /** The sends planned in [fromMs, toMs), in time order. */
  sendsIn(fromMs: number, toMs: number): PlannedSend[] {
    const out: PlannedSend[] = [];
    if (!(toMs > fromMs) || toMs <= 0) return out;
    const I = this.intervalMs;
    for (let round = Math.max(0, Math.floor(fromMs / I)); round * I < toMs; round++) {
      const base = round * I;
      for (let s = this.firstSlotAtOrAfter(fromMs - base); s < this.devices; s++) {
        const atMs = base + this.phases[s]!;
        if (atMs >= toMs) break;
        out.push({ device: this.deviceOfSlot[s]!, atMs });
      }
    }
    return out;
  }

  /** The first slot whose phase is >= `phaseMs` (binary search; phases increase). */
  private firstSlotAtOrAfter(phaseMs: number): number {
    let lo = 0;
    let hi = this.devices;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.phases[mid]! < phaseMs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
