/**
 * Two configurations measured in alternating slices, back to back, the order swapped every slice: a
 * neighbour's load on a shared machine then moves both alike, and the median of the per-slice ratios
 * resolves changes of a few per cent that separate runs cannot (bench/RESULTS.md, "noise"). Used by
 * the A/B benches (activity-ab.ts, build-ab.ts, store-ab.ts).
 */
import { median } from './stats.ts';

export interface Interleaved {
  /** CPU µs per request of each side, slice by slice. */
  readonly us: readonly [readonly number[], readonly number[]];
  /** The median µs per request of each side. */
  readonly medians: readonly [number, number];
  /** The median over slices of side 0's µs ÷ side 1's: how many times faster side 1 is. */
  readonly ratio: number;
}

/**
 * Runs `slices` pairs; `slice(side)` measures one side once and returns its CPU µs per request.
 * `after(s, pair)` is told each pair (progress lines, a baseline measured between slices).
 */
export async function interleave(
  slices: number,
  slice: (side: 0 | 1) => number | Promise<number>,
  after: (s: number, pair: readonly [number, number]) => void = () => {},
): Promise<Interleaved> {
  const us: [number[], number[]] = [[], []];
  const ratios: number[] = [];
  for (let s = 0; s < slices; s++) {
    const pair: [number, number] = [0, 0];
    for (const side of s % 2 === 0 ? ([0, 1] as const) : ([1, 0] as const)) pair[side] = await slice(side);
    us[0].push(pair[0]);
    us[1].push(pair[1]);
    ratios.push(pair[0] / pair[1]);
    after(s, pair);
  }
  return { us, medians: [median(us[0]), median(us[1])], ratio: median(ratios) };
}

/** CPU µs per item of `work`, which returns how many items it did (this process, user + system). */
export async function cpuMicrosPer(work: () => number | Promise<number>): Promise<number> {
  const c0 = process.cpuUsage();
  const items = await work();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / items;
}
