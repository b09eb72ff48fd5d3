/**
 * `dominion build --board <id>`: builds a board's signed artifacts into dist/<id>/ (build/build.ts)
 * and prints the size table against the board's budgets.
 */
import { join } from 'node:path';
import { boardIds, BoardError } from '../boards/index.ts';
import { loadBoard } from '../boards/index.ts';
import { buildBoard, BuildError, PROJECT_ROOT } from '../build/index.ts';
import { artifactDigests } from './code-digests.ts';
import { verifyArtifacts } from '../actors/release/index.ts';
import { digestTable } from './digest.ts';
import { nameServices, parseServiceArg, stageServiceImages, withServices } from '../build/service-module.ts';
import { UsageError } from './args.ts';
import { outputFolderProblem, parseCommand, positionals } from './options.ts';

const HELP = `usage: dominion build --board <id> [options]

Bundles each trust domain of a board with esbuild (sw, hypervisor, mm, one per service), checks that
no domain contains what it must not (no MQTT client or signing code in a service, no private-key code
or protobuf runtime in mm, …) and that each bundle fits the board's size budget, then writes
dist/<id>/: the bundles, board.json, a systemd unit, and manifest.json with the SHA-512 of each,
signed by the release key (manifest.sig). The same sources give the same bytes.

options:
  --board <id>           one of: ${boardIds().join(', ')}
  --service [<name>=]<module>
                         also build this service of yours into the board (repeatable): a module
                         anywhere that exports a ServiceSpec as its default export (or as
                         "service"); it imports the API as 'dominion/service'. Its image is
                         generated; the same isolation rules and sm budgets apply. The name is
                         its spec's (the module is loaded once to read it) or <name>. Its code
                         digests are printed after the build (see dominion digest).
  --release-key <file>   Ed25519 release key: its 32-byte seed as 64 hex digits. Without it, a
                         development key .release-key beside the output folder is used (made on first
                         use, mode 0600) and the build warns: never ship artifacts signed with it.
  --out <dir>            output folder (default: dist); the board's artifacts go to <dir>/<id>/
  --release-version <n>  the release version of every domain (a positive integer, default 1); raise
                         it for every release you publish: devices refuse a version below the
                         lowest they have committed
  --issued-at <ms>       issue time in ms since the Unix epoch (default: SOURCE_DATE_EPOCH, else now)
  --no-aliases           keep MQTT.js's WebSocket/SOCKS/debug/browser dependencies (to measure them)
  -h, --help             this text

exit status: 0 built, 1 the build failed (over budget, isolation broken, bad key), 2 bad usage.`;

function integer(option: string, text: string, min: number): number {
  const n = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min)
    throw new UsageError(`build: --${option} must be an integer of at least ${min}, got ${JSON.stringify(text)}`);
  return n;
}

export interface BuildCommandIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const CONSOLE: BuildCommandIo = { out: (l) => console.log(l), err: (l) => console.error(l) };

export async function build(argv: string[], io: BuildCommandIo = CONSOLE): Promise<number> {
  const { values, positionals: rest } = parseCommand('build', argv, {
    board: { type: 'string' },
    service: { type: 'string', multiple: true },
    'release-key': { type: 'string' },
    out: { type: 'string' },
    'release-version': { type: 'string' },
    'issued-at': { type: 'string' },
    'no-aliases': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  positionals('build', rest, []);
  if (values.board === undefined) throw new UsageError(`build: --board <id> is required (one of: ${boardIds().join(', ')})`);
  const releaseVersion = values['release-version'] === undefined ? undefined : integer('release-version', values['release-version'], 1);
  const issuedAt = values['issued-at'] === undefined ? undefined : integer('issued-at', values['issued-at'], 0);
  // The folder is made here, the development key beside it: its parent must be there already.
  const outProblem = values.out === undefined ? undefined : outputFolderProblem(values.out, 'made-in-parent');
  if (outProblem !== undefined) {
    io.err(`dominion build: --out ${outProblem}`);
    return 1;
  }
  let staged: ReturnType<typeof stageServiceImages> | undefined;
  try {
    const services = await nameServices((values.service ?? []).map((s) => parseServiceArg(s)));
    staged = services.length > 0 ? stageServiceImages(services, PROJECT_ROOT) : undefined;
    const result = await buildBoard({
      releaseVersion,
      issuedAt,
      board: services.length > 0 ? withServices(loadBoard(values.board), services) : values.board,
      ...(staged !== undefined ? { serviceImages: staged.serviceImages } : {}),
      outDir: values.out,
      releaseKey: values['release-key'],
      aliases: !values['no-aliases'],
      log: (line) => (line.startsWith('warning:') ? io.err(line) : io.out(line)),
    });
    io.out(
      `release public key ${Buffer.from(result.releaseKey.publicKey).toString('hex')} (pin it in devices: dominion enroll --release-pub <this key>)`,
    );
    if (services.length > 0) {
      // Your services' digests for their hubs' policies (dominion digest --artifacts <dir> --policy writes the document).
      const verified = verifyArtifacts(result.dir, result.releaseKey.publicKey);
      const labels = services.map((s) => `sm:${s.name}`);
      const digests = (await artifactDigests(verified.manifest, verified.files, result.board, join(staged!.dir, 'data'))).filter((d) =>
        labels.includes(d.label),
      );
      for (const line of digestTable(result.board, digests).slice(1)) io.out(line);
    }
    return 0;
  } catch (e) {
    if (e instanceof BoardError && e.code === 'unknown-board') throw new UsageError(`build: ${e.message}`);
    if (e instanceof BoardError || e instanceof BuildError) {
      io.err(`dominion build: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    staged?.remove();
  }
}
