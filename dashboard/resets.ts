/** A device's resets as the dashboard shows them, from its history (either store's). */
import type { HistoryEntry } from '../actors/hub/history-reports.ts';
import type { ResetJson } from './types.ts';

/** The device's resets, newest first: its runtime reports that named a reset reason, one per boot count. */
export function resetsOf(history: Iterable<HistoryEntry>): ResetJson[] {
  const out: ResetJson[] = [];
  let lastBoot: number | undefined;
  for (const h of history) {
    if (h.instance !== 'device' || h.source !== 'runtime' || h.resetReason === undefined) continue;
    if (h.bootCount !== undefined && h.bootCount === lastBoot) continue; // same boot, another change
    lastBoot = h.bootCount;
    out.push({ atMs: h.atMs, bootCount: h.bootCount ?? null, reason: h.resetReason, firmware: h.firmwareVersion ?? null });
  }
  return out.reverse();
}
