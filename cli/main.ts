/**
 * `dominion <command>`: the one entry point for running a simulated device with its hubs, and (in
 * later issues) hubs, builds and devices on their own.
 */
import { UsageError } from './args.ts';

const COMMANDS: Record<string, { summary: string; run: (argv: string[]) => Promise<number> }> = {
  up: { summary: 'run a broker, the IH, one SH and a simulated device, and play a scenario', run: async (a) => (await import('./up.ts')).up(a) },
  build: { summary: "bundle, check and sign a board's artifacts into dist/<id>/", run: async (a) => (await import('./build.ts')).build(a) },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: dominion <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun "dominion <command> --help" for a command's options.`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    console.error(`dominion: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      console.error(`dominion: ${error.message}`);
      process.exitCode = 2;
    } else {
      console.error(`dominion: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    }
  },
);
