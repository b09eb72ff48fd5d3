/**
 * `dominion device --watchdog simulated`: runs any board's verified artifacts off-device, with the
 * simulated watchdog in place of the board's own. Development and tests only: a simulated watchdog
 * resets nothing once this process is gone, so the strong-dominance bound (docs/ARCHITECTURE.md) holds
 * only while it runs. Never a default: without the flag the verified board's watchdog is the one run.
 */
import type { SlottedImages } from '../actors/device/index.ts';
import { UsageError } from './args.ts';

export const WATCHDOG_HELP = `  --watchdog simulated    development and tests only: run the simulated watchdog instead of the
                          board's (e.g. a board's artifacts on a machine without /dev/watchdog); the
                          strong-dominance bound then holds only while this process runs. Never on a board`;

/** The one value `--watchdog` takes; anything else is a usage error (exit 2). */
export function watchdogOption(value: string | undefined): 'simulated' | undefined {
  if (value === undefined || value === 'simulated') return value;
  throw new UsageError(`device: --watchdog takes only "simulated" (the board's own watchdog runs without the flag), got "${value}"`);
}

/**
 * The verified slots with the board's watchdog replaced by the simulated one, and the warning to say
 * at start (none where the board's watchdog is simulated already: nothing is replaced).
 */
export function withSimulatedWatchdog(slotted: SlottedImages): { readonly slotted: SlottedImages; readonly warning?: string } {
  const backend = slotted.board.watchdog.backend;
  if (backend === 'simulated') return { slotted };
  return {
    slotted: { ...slotted, board: { ...slotted.board, watchdog: { backend: 'simulated' } } },
    warning: `--watchdog simulated: the board's ${backend} watchdog is NOT used; the strong-dominance bound holds only while this process runs — for development and tests, never on a board`,
  };
}
