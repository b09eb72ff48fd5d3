/**
 * `dominion users`: the Unix users a board's domain processes run as (docs/ARCHITECTURE.md §6) —
 * listed, and with `--create` made as system users (no login, no home). A device running as root
 * refuses to start without them.
 */
import { loadBoard } from '../boards/index.ts';
import { createDomainUsers, domainUserName, processLabels } from '../actors/device/index.ts';
import { UsageError } from './args.ts';
import { knownBoard, parseCommand, positionals } from './options.ts';

const HELP = `usage: dominion users --board <id> [--create]

Lists the users the board's domain processes run as where the device runs as root: sw stays root
(it holds the watchdog and starts the others); the hypervisor runs as dominion-hv, and in process
placement mm as dominion-mm and each service as dominion-sm-<service>.

options:
  --board <id>   board profile (nitrogen8m, rpi4, rpi3, rpi-zero-2w, sim)
  --create       create the missing ones (needs root; useradd --system, no login, no home)
  -h, --help     this text`;

export async function usersCommand(argv: string[]): Promise<number> {
  const { values, positionals: rest } = parseCommand('users', argv, {
    board: { type: 'string' },
    create: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  positionals('users', rest, []);
  if (values.board === undefined) throw new UsageError('users: --board is required');
  const board = loadBoard(knownBoard('users', values.board));
  if (values.create) {
    const created = createDomainUsers(board);
    console.log(created.length === 0 ? 'every user exists' : `created ${created.join(', ')}`);
    return 0;
  }
  for (const label of processLabels(board)) console.log(`${label.padEnd(16)} ${domainUserName(label)}`);
  return 0;
}
