/**
 * `dominion device` as a standalone entry, for bundling into one plain .mjs file that runs without
 * tsx (what a board installs, and what `dominion bench --board` measures).
 */
import { deviceCommand } from './device.ts';

deviceCommand(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`dominion device: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
