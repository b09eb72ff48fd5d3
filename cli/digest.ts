/**
 * `dominion digest`: the code digests of a board's images as a hub's policy pins them (build/digests.ts),
 * from a fresh build (with the user's `--service` modules) or from existing artifacts, verified first.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { boardIds, BoardError, loadBoard, type BoardProfile } from '../boards/index.ts';
import { generateSecretKey, hex } from '../actors/crypto/index.ts';
import { ArtifactError, PUBLIC_KEY_FILE, verifyArtifacts } from '../actors/release/index.ts';
import { boardOf } from '../actors/device/index.ts';
import { buildBoard, BuildError, PROJECT_ROOT } from '../build/index.ts';
import { artifactDigests, servicePolicy, type InstanceDigests } from './code-digests.ts';
import { nameServices, parseServiceArg, stageServiceImages, withServices } from '../build/service-module.ts';
import { consoleIo, knownBoard, parseCommand, positionals, readPublicKey, UsageError, type CliIo } from './options.ts';

const HELP = `usage: dominion digest (--board <id> [--service [<name>=]<module> …] | --artifacts <dir>) [options]

Prints the code digests a hub's policy can pin, for each image of a board:
  image   SHA-512 of the bundle, as manifest.json lists it (every domain reports it as image_digest)
  actor   per actor of a service domain, SHA-512 of its code as the hub's "expectedDigests"
          compares it (reported when the hypervisor runs the domain in its own process: single and
          split placement; a domain process, in process placement, reports no actors)
With --policy, prints instead a fleet policy document for the services' hubs (allowedActors and
expectedDigests of each sm:<service>), for "dominion policy --db <sh.db> --set <file>".

Without --artifacts the board is built in a temporary folder (nothing is written to dist): the same
sources give the same bundles, so the digests are those of "dominion build" with the same options.
Reading actor digests imports each service bundle here (its top level runs) and installs it into a
stand-in that starts nothing.

options:
  --board <id>              one of: ${boardIds().join(', ')}
  --service [<name>=]<module>
                            a service of yours, as for "dominion build" (repeatable)
  --artifacts <dir>         read built artifacts (dist/<id>) instead of building; verified against
                            --release-pub, else the release-key.pub beside them (which checks only
                            that they are whole, not who signed them)
  --release-pub <hex|file>  the release public key to verify --artifacts with
  --policy                  print the policy document (JSON) instead of the table
  -h, --help                this text

exit status: 0 printed, 1 the build or the verification failed, 2 bad usage.`;

/** The digests as a table, one block per image. */
export function digestTable(board: BoardProfile, digests: readonly InstanceDigests[]): string[] {
  const lines = [`board ${board.id} (${board.name})`];
  for (const d of digests) {
    lines.push(`  ${d.label} (${d.file})`, `    image  ${d.imageDigest}`);
    for (const [name, digest] of Object.entries(d.actors ?? {})) lines.push(`    actor  ${name}  ${digest}`);
  }
  return lines;
}

async function fromBuild(boardId: string, serviceArgs: readonly string[], scratch: string): Promise<Built> {
  const services = await nameServices(serviceArgs.map((s) => parseServiceArg(s)));
  const staged = stageServiceImages(services, PROJECT_ROOT);
  try {
    // A throwaway key: the bundles' bytes (so their digests) do not depend on who signs the manifest.
    const keyFile = join(scratch, 'release.key');
    writeFileSync(keyFile, `${hex(generateSecretKey())}\n`, { mode: 0o600 });
    const built = await buildBoard({
      board: withServices(loadBoard(boardId), services),
      outDir: join(scratch, 'dist'),
      releaseKey: keyFile,
      serviceImages: staged.serviceImages,
    });
    const verified = verifyArtifacts(built.dir, built.releaseKey.publicKey);
    return { board: built.board, verified, only: services.map((s) => `sm:${s.name}`) };
  } finally {
    staged.remove();
  }
}

interface Built {
  readonly board: BoardProfile;
  readonly verified: ReturnType<typeof verifyArtifacts>;
  /** The instances the policy covers; empty: every service. */
  readonly only: readonly string[];
}

export async function digestCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('digest', argv, {
    board: { type: 'string' },
    service: { type: 'string', multiple: true },
    artifacts: { type: 'string' },
    'release-pub': { type: 'string' },
    policy: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  positionals('digest', rest, []);
  const services = values.service ?? [];
  if (values.artifacts !== undefined && services.length > 0)
    throw new UsageError('digest: --service builds the board; with --artifacts the services are those built in them');
  if (values.artifacts === undefined && values.board === undefined)
    throw new UsageError('digest: give --board <id> (to build) or --artifacts <dir> (to read a build)');
  if (values.artifacts === undefined && values['release-pub'] !== undefined)
    throw new UsageError('digest: --release-pub goes with --artifacts');
  if (values.board !== undefined) knownBoard('digest', values.board);

  const scratch = mkdtempSync(join(tmpdir(), 'dominion-digest-'));
  try {
    let built: Built;
    if (values.artifacts === undefined) built = await fromBuild(values.board!, services, scratch);
    else {
      const pub = readPublicKey('digest', values['release-pub'] ?? join(values.artifacts, PUBLIC_KEY_FILE));
      const verified = verifyArtifacts(values.artifacts, pub);
      const board = boardOf(verified);
      if (values.board !== undefined && board.id !== values.board)
        throw new UsageError(`digest: ${values.artifacts} holds a build for board ${board.id}, not ${values.board}`);
      built = { board, verified, only: [] };
    }
    const digests = await artifactDigests(built.verified.manifest, built.verified.files, built.board, join(scratch, 'data'));
    if (values.policy) {
      const chosen = built.only.length === 0 ? digests : digests.filter((d) => built.only.includes(d.label));
      io.out(JSON.stringify(servicePolicy(chosen, built.board.timing.deferralMs), null, 2));
    } else for (const line of digestTable(built.board, digests)) io.out(line);
    return 0;
  } catch (e) {
    if (e instanceof BoardError || e instanceof BuildError || e instanceof ArtifactError) {
      io.err(`dominion digest: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
