/** `dominion bench --board <id>`: run the device on a board's budgets here and report against them. */
import { benchBoard } from '../bench/board.ts';
import { numberOption, UsageError } from './args.ts';
import { knownBoard, parseCommand, positionals } from './options.ts';

const HELP = `usage: dominion bench --board <id> [--seconds N]

Builds the board's artifacts (simulated watchdog), runs the device as a child process under the
board's budgets (heap limits — one per domain process in "process" placement — and CPU pinning
with taskset) against hubs on an embedded broker, and reports resident memory and CPU per domain
process and in all against the budgets, beside a bare node idling, and the cold start to the first
accepted ticket. For the other benchmarks: npm run bench -- --help.`;

export async function benchCommand(argv: string[]): Promise<number> {
  const { values, positionals: rest } = parseCommand('bench', argv, {
    board: { type: 'string' },
    seconds: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  positionals('bench', rest, []);
  if (values.board === undefined) throw new UsageError('bench: --board is required');
  console.log(await benchBoard(knownBoard('bench', values.board), { seconds: numberOption('seconds', values.seconds, 20, 2, 3600) }));
  return 0;
}
