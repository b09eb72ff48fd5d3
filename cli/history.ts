/**
 * `dominion history`: one device's boots, reset reasons and firmware and image versions as it
 * reported them (actors/hub/sqlite/history.ts, postgres/pg-history.ts), from one hub database or
 * several (the IH's and its SHs', SQLite files or postgres:// URLs), merged and ordered by time.
 */
import { textTable } from './text-table.ts';
import { sqlite } from '../actors/hub/index.ts';
import { consoleIo, integer, parseCommand, positionals, required, requiredList, type CliIo } from './options.ts';
import { withDatabase } from './operator.ts';
import { pgReadHistory } from '../actors/hub/postgres/index.ts';
import { isPostgresUrl, withPgDatabase } from './pg-db.ts';

const HISTORY_HELP = `usage: dominion history --db <path|url> [--db <path|url> …] --device <id> [--limit <n>] [--json]

Prints what the device reported of its boots, oldest first: one line per reported boot or change
(not per request) — a new boot count, reset reason, firmware or image versions. source:
boot-request (the IH: boot count, firmware and every image it is about to run) or runtime (a
ticket request: for the device instance its boot count, why it last reset — power-on,
ticket-timeout, ticket-withheld, check-failed, update, operator, unspecified — its firmware and
the sw and hypervisor versions; for mm and sm:<service> the domain's boots since the device booted
and its image version). Each hub keeps the newest ${sqlite.HISTORY_KEEP} lines per device instance.

options:
  --db <path|url>   a hub database (a SQLite file or postgres://…); repeat it to merge the IH's
                    and its SHs' histories by time
  --device <id>     the device
  --limit <n>       only the newest n lines (default 50; 0 = all)
  --json            one JSON object per line (times in ms since the epoch)
  -h, --help        this text`;

export async function historyCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('history', argv, {
    db: { type: 'string', multiple: true },
    device: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(HISTORY_HELP);
    return 0;
  }
  positionals('history', rest, []);
  const dbPaths = requiredList('history', 'db', values.db);
  const deviceId = required('history', 'device', values.device);
  const limit = integer('history', 'limit', values.limit, 50, 0, Number.MAX_SAFE_INTEGER);
  const entries: Array<sqlite.HistoryEntry & { readonly db: number }> = [];
  for (const [db, dbPath] of dbPaths.entries()) {
    const query = { deviceId, ...(limit > 0 ? { limit } : {}) };
    const code = isPostgresUrl(dbPath)
      ? await withPgDatabase(io, 'history', dbPath, async (pool) => {
          for (const e of await pgReadHistory(pool, query)) entries.push({ ...e, db });
          return 0;
        })
      : withDatabase(io, 'history', dbPath, (handle) => {
          for (const e of sqlite.readHistory(handle, query)) entries.push({ ...e, db });
          return 0;
        });
    if (code !== 0) return code;
  }
  // By time; equal times in the order the databases were given, then as each stored them.
  entries.sort((a, b) => a.atMs - b.atMs || a.db - b.db || a.seq - b.seq);
  const shown = limit > 0 ? entries.slice(-limit) : entries;
  if (values.json) {
    for (const { db: _db, ...e } of shown) io.out(JSON.stringify(e));
    return 0;
  }
  if (shown.length === 0) {
    io.out(`no history for ${deviceId}`);
    return 0;
  }
  for (const line of renderHistory(shown)) io.out(line);
  return 0;
}

function renderHistory(entries: readonly sqlite.HistoryEntry[]): string[] {
  const header = ['time', 'hub', 'instance', 'source', 'boots', 'reset', 'firmware', 'images'];
  const cells = entries.map((e) => [
    new Date(e.atMs).toISOString(),
    e.hubId ?? '-',
    e.instance,
    e.source,
    e.bootCount !== undefined ? String(e.bootCount) : '—',
    e.resetReason ?? '—',
    e.firmwareVersion ?? '—',
    e.images ?? '—',
  ]);
  return textTable(header, cells);
}
