/**
 * `dominion device` as a standalone entry, for bundling into one plain .mjs file that runs without
 * tsx (what a board installs, and what `dominion bench --board` measures). The same file is each
 * domain process of a `process`-placement device: `device.mjs domain-host`.
 */
import { domainHostCommand } from './domain-host.ts';
import { deviceCommand } from './device.ts';

const argv = process.argv.slice(2);
(argv[0] === 'domain-host' ? domainHostCommand() : deviceCommand(argv)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`dominion device: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
