/**
 * `dominion hub-unit`: writes the systemd unit that runs one hub as a service (build/hub-unit.ts).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HUB_DEFAULTS, HUB_STATE_DIR, hubUnit, HubUnitError, hubUnitName } from '../build/index.ts';
import { consoleIo, oneOf, outputFolderProblem, parseCommand, required, UsageError, type CliIo } from './options.ts';

const HELP = `usage: dominion hub-unit --role ih|sh --id <hub-id> [--service <name>] --broker <url> --db <file> [options] [-- <hub options>]

Writes the systemd unit that runs "dominion hub" with these options as a service,
dominion-hub-<id>.service: as its own user, restarted when it exits 1 (a hub that is not ready: a
damaged database or failing commits) at most 5 times in 10 minutes and then left failed, with
systemd's sandboxing (no capabilities, read-only system, private /tmp and devices, IP and Unix
sockets only) and ${HUB_STATE_DIR} as its state directory (0700).

Hubs run from an npm install of the project, not from a packed archive: a hub needs better-sqlite3,
a native addon that must match the host's platform, architecture and Node, which npm fetches or
builds for the host it runs on:

  useradd --system --no-create-home --shell /usr/sbin/nologin dominion-hub
  git clone <dominion> /opt/dominion-hub && cd /opt/dominion-hub && npm ci --omit=dev

options:
  --role ih|sh, --id, --service, --broker, --broker-ca <file>, --broker-credential <file>, --key <file>
                         as for "dominion hub" (absolute paths: the unit runs from /)
  --db <file>            the hub database (default folder ${HUB_STATE_DIR}: e.g. ${HUB_STATE_DIR}/ih-1.db)
                         or a postgres:// URL (no password in it: units are world-readable; use
                         the hub user's ~/.pgpass)
  --user <name>          the user and group it runs as (default ${HUB_DEFAULTS.user}; it must own the
                         database's folder and read the key files, mode 0600)
  --node <path>          Node (default ${HUB_DEFAULTS.node})
  --install <dir>        where the project is installed with npm (default ${HUB_DEFAULTS.install})
  --out <dir>            write <dir>/dominion-hub-<id>.service (e.g. /etc/systemd/system); default: print it
  -- <hub options>       more "dominion hub" options, as given (e.g. -- --sync full --stats 60)
  -h, --help             this text`;

export async function hubUnitCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const extra = dash < 0 ? [] : argv.slice(dash + 1);
  const { values, positionals: rest } = parseCommand('hub-unit', own, {
    role: { type: 'string' },
    id: { type: 'string' },
    service: { type: 'string' },
    broker: { type: 'string' },
    'broker-ca': { type: 'string' },
    'broker-credential': { type: 'string' },
    db: { type: 'string' },
    key: { type: 'string' },
    user: { type: 'string' },
    node: { type: 'string' },
    install: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(HELP);
    return 0;
  }
  if (rest.length > 0) throw new UsageError(`hub-unit: unexpected ${JSON.stringify(rest[0])} (more hub options go after "--")`);
  let text: string;
  const id = required('hub-unit', 'id', values.id);
  try {
    text = hubUnit({
      role: oneOf('hub-unit', 'role', values.role, ['ih', 'sh'] as const),
      id,
      broker: required('hub-unit', 'broker', values.broker),
      db: required('hub-unit', 'db', values.db),
      extra,
      ...(values.service !== undefined ? { service: values.service } : {}),
      ...(values['broker-ca'] !== undefined ? { brokerCa: values['broker-ca'] } : {}),
      ...(values['broker-credential'] !== undefined ? { brokerCredential: values['broker-credential'] } : {}),
      ...(values.key !== undefined ? { key: values.key } : {}),
      ...(values.user !== undefined ? { user: values.user } : {}),
      ...(values.node !== undefined ? { node: values.node } : {}),
      ...(values.install !== undefined ? { install: values.install } : {}),
    });
  } catch (e) {
    if (e instanceof HubUnitError) throw new UsageError(`hub-unit: ${e.message}`);
    throw e;
  }
  if (values.out === undefined) {
    io.out(text.trimEnd());
    return 0;
  }
  const problem = outputFolderProblem(values.out, 'must-exist');
  if (problem !== undefined) {
    io.err(`dominion hub-unit: --out ${problem}`);
    return 1;
  }
  const file = join(values.out, hubUnitName(id));
  writeFileSync(file, text, { mode: 0o644 });
  io.out(`wrote ${file}; then: systemctl daemon-reload && systemctl enable --now ${hubUnitName(id)}`);
  return 0;
}
