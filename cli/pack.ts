/**
 * `dominion pack --board <id>`: the board's install archive (build/pack.ts) — built here, or made
 * from an existing dist/<id>/ that verifies.
 */
import { boardIds, BoardError } from '../boards/index.ts';
import { BuildError, packBoard, PackError } from '../build/index.ts';
import { UsageError } from './args.ts';
import { consoleIo, integer, knownBoard, outputFolderProblem, parseCommand, positionals, type CliIo } from './options.ts';

const HELP = `usage: dominion pack --board <id> [--release-key <file>] [--release-version n] [--out <dir>] [--artifacts <dir>]

Makes one signed archive that installs a board's device: dominion-<id>-<version>.tar.gz, holding
the bundled runner (bin/dominion-device.mjs, needs only node), the build's verified dist/<id>/, the
systemd unit, board.json, install.sh, and PACK.json (every file's SHA-512, the board, release
version and Node target) signed by the release key (PACK.sig). Install it with "dominion install
<archive>", or on the board with "tar xzf <archive> && sh dominion-<id>-<version>/install.sh".

options:
  --board <id>           one of: ${boardIds().join(', ')}
  --release-key <file>   the release key (as for dominion build; default: the development key,
                         with a warning)
  --release-version <n>  build as this release (default 1); with --artifacts, they must be it
  --artifacts <dir>      pack this dist/<id>/ instead of building; it must verify against the
                         release key, or nothing is packed
  --out <dir>            where the archive goes (default: dist), and a build, into <dir>/<id>/
  -h, --help             this text

exit status: 0 packed, 1 the build failed or the artifacts do not verify, 2 bad usage.`;

export async function packCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('pack', argv, {
    board: { type: 'string' },
    'release-key': { type: 'string' },
    'release-version': { type: 'string' },
    artifacts: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  positionals('pack', rest, []);
  if (values.board === undefined) throw new UsageError(`pack: --board <id> is required (one of: ${boardIds().join(', ')})`);
  const board = knownBoard('pack', values.board);
  const releaseVersion =
    values['release-version'] === undefined
      ? undefined
      : integer('pack', 'release-version', values['release-version'], 1, 1, Number.MAX_SAFE_INTEGER);
  const problem =
    (values.out === undefined ? undefined : outputFolderProblem(values.out, 'made-in-parent')) ??
    (values.artifacts === undefined ? undefined : outputFolderProblem(values.artifacts, 'must-exist'));
  if (problem !== undefined) {
    io.err(`dominion pack: ${problem}`);
    return 1;
  }
  try {
    const result = await packBoard({
      board,
      outDir: values.out,
      artifacts: values.artifacts,
      releaseKey: values['release-key'],
      releaseVersion,
      log: (line) => (line.startsWith('warning:') ? io.err(line) : io.out(line)),
    });
    io.out(`install it: dominion install ${result.file} --release-pub ${Buffer.from(result.releaseKey.publicKey).toString('hex')}`);
    return 0;
  } catch (e) {
    if (e instanceof BoardError || e instanceof BuildError || e instanceof PackError) {
      io.err(`dominion pack: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
