/**
 * `dominion publish` and `dominion releases`: the releases a hub serves to its devices in chunks
 * (actors/hub/sqlite/releases.ts). Publishing verifies a built board's artifacts against the release
 * key pinned in the hub database (the first publish pins it) and stores the images of this hub's
 * role; a running hub on the same database serves them at once.
 */
import { textTable } from './text-table.ts';
import { hex } from '../actors/crypto/index.ts';
import { sqlite, type ReleaseSummary } from '../actors/hub/index.ts';
import { pgListReleases, pgPublishArtifacts } from '../actors/hub/postgres/index.ts';
import type { PublishResult } from '../actors/hub/release-plan.ts';
import { dbLabel, isPostgresUrl, withPgDatabase } from './pg-db.ts';
import { consoleIo, parseCommand, positionals, readPublicKey, required, type CliIo } from './options.ts';
import { withDatabase } from './operator.ts';

const PUBLISH_HELP = `usage: dominion publish <dist/board-dir> --db <path|url> [--release-pub <hex|file>]

Verifies a board's built artifacts (dominion build: manifest.json signed by the release key, every
file's size and SHA-512) and stores the images this hub serves, with the exact manifest and its
signature: an IH stores sw, hypervisor and mm, the service hub of k stores sm:k. Devices then fetch
them in chunks from the hub (UPDATE_REQUIRED from dominion require-update --release, or a restore).

The hub database pins one release key: the first publish pins the one given with --release-pub, and
every later publish must be signed by it (a different key is refused). Publishing the same bytes again
changes nothing; other bytes under a published board, image and version are refused — build a new
release version instead (dominion build --release-version <n>). Audited; a running hub serves a new
release at the next request.

options:
  --db <path|url>           the hub database, a SQLite file or postgres://… (the hub's role decides
                            which images are kept; on PostgreSQL every worker serves them within a second)
  --release-pub <hex|file>  the release public key (64 hex digits, or a file holding them); needed
                            for the first publish, optional after (it must then be the pinned key)
  -h, --help                this text`;

const RELEASES_HELP = `usage: dominion releases --db <path|url> [--json]

Lists the releases this hub serves: board, image, release version, size, SHA-512 of the bundle, and
SHA-512 of the release's manifest (what UPDATE_REQUIRED names as image_digest), with when the release
was issued (by its build) and published (to this hub).

options:
  --db <path|url>   the hub database (a SQLite file or postgres://…)
  --json            one JSON object per line (digests in hex, times in ms since the epoch)
  -h, --help        this text`;

export async function publishCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('publish', argv, {
    db: { type: 'string' },
    'release-pub': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(PUBLISH_HELP);
    return 0;
  }
  const [dir] = positionals('publish', rest, ['dist/board-dir']);
  const dbPath = required('publish', 'db', values.db);
  const releasePub = values['release-pub'] === undefined ? undefined : readPublicKey('publish', values['release-pub']);
  const show = (result: PublishResult): number => {
    io.out(`board ${result.board}, release key ${result.keyId}${result.pinned ? ' (pinned now)' : ''}`);
    const rows = result.images.map((i) => [
      i.label,
      String(i.version),
      `${i.bytes} bytes`,
      `sha512 ${hex(i.digest).slice(0, 16)}…`,
      i.status,
    ]);
    // No header: the first row stands in for it.
    if (rows.length > 0) for (const line of textTable(rows[0]!, rows.slice(1))) io.out(`  ${line}`);
    if (result.skipped.length > 0) io.out(`not for this hub: ${result.skipped.join(', ')}`);
    return 0;
  };
  const options = releasePub !== undefined ? { releasePub } : {};
  if (isPostgresUrl(dbPath))
    return withPgDatabase(io, 'publish', dbPath, async (pool) => show(await pgPublishArtifacts(pool, dbLabel(dbPath), dir!, options)));
  return withDatabase(io, 'publish', dbPath, (db) => show(sqlite.publishArtifacts(db, dir!, options)));
}

export async function releasesCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('releases', argv, {
    db: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(RELEASES_HELP);
    return 0;
  }
  positionals('releases', rest, []);
  const dbPath = required('releases', 'db', values.db);
  const list = (releases: readonly ReleaseSummary[]): number => {
    if (values.json) {
      for (const r of releases) io.out(JSON.stringify(releaseJson(r)));
      return 0;
    }
    if (releases.length === 0) {
      io.out('no releases published (dominion publish <dist/board-dir> --db …)');
      return 0;
    }
    const header = ['board', 'image', 'version', 'bytes', 'sha512', 'manifest sha512', 'issued', 'published'];
    const rows = releases.map((r) => [
      r.board,
      r.label,
      String(r.version),
      String(r.bytes),
      `${hex(r.digest).slice(0, 16)}…`,
      `${hex(r.manifestDigest).slice(0, 16)}…`,
      new Date(r.issuedAt).toISOString(),
      new Date(r.publishedAt).toISOString(),
    ]);
    for (const line of textTable(header, rows)) io.out(line);
    return 0;
  };
  if (isPostgresUrl(dbPath)) return withPgDatabase(io, 'releases', dbPath, async (pool) => list(await pgListReleases(pool)));
  return withDatabase(io, 'releases', dbPath, (db) => list(sqlite.listReleases(db)));
}

function releaseJson(r: ReleaseSummary): Record<string, unknown> {
  return {
    board: r.board,
    label: r.label,
    version: r.version,
    bytes: r.bytes,
    sha512: hex(r.digest),
    manifestSha512: hex(r.manifestDigest),
    issuedAt: r.issuedAt,
    publishedAt: r.publishedAt,
  };
}
