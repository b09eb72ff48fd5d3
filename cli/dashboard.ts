/**
 * `dominion dashboard`: the fleet page and its HTTP API (docs/DASHBOARD.md) on the hub databases.
 * Read-only unless given an operator token; loopback unless --public.
 */
import { readFileSync } from 'node:fs';
import { isLoopback, parseListen, startDashboard } from '../dashboard/index.ts';
import { LOG_HELP, LOG_OPTIONS, cliLogger, logSettings } from './log-options.ts';
import { consoleIo, failure, parseCommand, positionals, requiredList, UsageError, type CliIo } from './options.ts';

const HELP = `usage: dominion dashboard --db <path|url> [--db <path|url> …] [--listen 127.0.0.1:8080] [--token-file <file>] [--public]

Serves the fleet dashboard: counts by state, tickets/s and refusals/s over the last hour, resets per
hour by reason, a paged, searchable device table, each device's instances with their deadlines,
resets and audit trail — live (server-sent events; a hub change reaches the page within a second).
Several --db (the IH's and its SHs') merge per device, as "dominion devices" does.

Actions (quarantine, release, revoke, require-update) need the operator token, sent by the page as
"Authorization: Bearer <token>" and audited exactly as the CLI's commands; without a token the
dashboard is read-only. The token is never logged.

options:
  --db <path|url>       a hub database: a SQLite file or postgres://… (repeat for several hubs)
  --listen <host:port>  where to listen (default 127.0.0.1:8080; port 0 = any free port)
  --public              allow a --listen address that is not loopback (anyone who reaches it
                        sees the fleet; put TLS and access control in front)
  --token-file <file>   the operator token (its first line, at least 16 characters); or set
                        DOMINION_DASHBOARD_TOKEN. Without either, read-only
${LOG_HELP}
  -h, --help            this text`;

export const MIN_TOKEN = 16;

export async function dashboardCommand(argv: string[], io: CliIo = consoleIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values, positionals: rest } = parseCommand('dashboard', argv, {
    db: { type: 'string', multiple: true },
    listen: { type: 'string', default: '127.0.0.1:8080' },
    public: { type: 'boolean', default: false },
    'token-file': { type: 'string' },
    ...LOG_OPTIONS,
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  positionals('dashboard', rest, []);
  const dbs = requiredList('dashboard', 'db', values.db);
  let listen;
  try {
    listen = parseListen(values.listen);
  } catch (err) {
    throw new UsageError(`dashboard: ${(err as Error).message}`);
  }
  if (!isLoopback(listen.host) && !values.public)
    throw new UsageError(`dashboard: --listen ${listen.host} is not a loopback address; add --public to serve the fleet beyond this host`);
  const token = readToken(values['token-file'], env);
  const logger = cliLogger('dashboard', logSettings('dashboard', values), io);
  let handle;
  try {
    handle = await startDashboard({
      dbs,
      listen,
      public: values.public,
      ...(token !== undefined ? { token } : {}),
      log: (level, message, fields) =>
        level === 'warn' && message === 'bad request'
          ? logger.limited('bad-request', level, message, fields)
          : logger.log(level, message, fields),
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof Error && (err.name === 'RangeError' || code === 'EADDRINUSE' || code === 'EACCES')) {
      io.err(`dominion dashboard: ${code === 'EADDRINUSE' ? `${values.listen} is already in use` : err.message}`);
      return 1;
    }
    return failure(io, 'dashboard', err);
  }
  const { dashboard } = handle;
  io.out(
    `dominion dashboard: ${handle.url} — ${dashboard.watcher.index.size} devices on ${dbs.length} hub database(s), ${token === undefined ? 'read-only (no operator token)' : 'actions enabled with the operator token'}`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await handle.close();
  logger.close();
  return 0;
}

/** The operator token from --token-file or DOMINION_DASHBOARD_TOKEN; undefined: read-only. */
function readToken(file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  let token: string | undefined;
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(
        `dashboard: --token-file ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'cannot be read'}`,
      );
    }
    token = text.split('\n')[0]!.trim();
  } else token = env.DOMINION_DASHBOARD_TOKEN?.trim() || undefined;
  if (token === undefined) return undefined;
  // Never echo the token: only its length is named.
  if (token.length < MIN_TOKEN || /\s/.test(token))
    throw new UsageError(`dashboard: the operator token must be at least ${MIN_TOKEN} characters without spaces (got ${token.length})`);
  return token;
}
