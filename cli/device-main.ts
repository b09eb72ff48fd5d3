/**
 * `dominion device` as a standalone entry, for bundling into one plain .mjs file that runs without
 * tsx (what a board installs, and what `dominion bench --board` measures). The same file is each
 * domain process of a `process`-placement device: `device.mjs domain-host`. A leading `device` is
 * accepted and dropped, so the installed unit's command line reads like the CLI's
 * (`dominion-device.mjs device --board …`, build/systemd.ts); `device.mjs users --board <id>
 * --create` makes the domain users on a board that has no other dominion.
 */
import { domainHostCommand } from './domain-host.ts';
import { deviceCommand } from './device.ts';
import { usersCommand } from './users.ts';

const given = process.argv.slice(2);
const run = (): Promise<number> => {
  if (given[0] === 'domain-host') return domainHostCommand();
  if (given[0] === 'users') return usersCommand(given.slice(1));
  return deviceCommand(given[0] === 'device' ? given.slice(1) : given);
};
run().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`dominion device: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
