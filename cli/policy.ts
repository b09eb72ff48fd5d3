/**
 * `dominion policy`: shows or sets the fleet default policy, or one device's own policy, in a hub
 * database (format: actors/hub/policy-doc.ts and the README). Checked before it is stored; audited.
 */
import { readFileSync } from 'node:fs';
import { parsePolicyDocument, policyDocumentJson, sqlite, type MemoryPolicyRules } from '../actors/hub/index.ts';
import { consoleIo, parseCommand, positionals, required, UsageError, type CliIo } from './options.ts';
import { pgDevicePolicyText, pgFleetPolicyText, pgSetDevicePolicy, pgSetFleetPolicy } from '../actors/hub/postgres/index.ts';
import { withDatabase } from './operator.ts';
import { isPostgresUrl, withPgDatabase } from './pg-db.ts';

const POLICY_HELP = `usage: dominion policy --db <path|url> [--device <id>] (--show | --set <policy.json> | --clear)

Shows or sets the policy a hub applies: the fleet default, or (with --device) one device's own
rules, which take precedence. A rule per instance (device, mm, sm:<service>) or a default rule:
deferralMs, maxDeferralMs, allowedActors, expectedDigests, minFirmwareVersion, firmwareUpdate.
The document is checked before it is stored (unknown keys are errors); the change is audited and
takes effect at each device's next request, also while the hub runs.

options:
  --db <path|url>     the hub database: a SQLite file or postgres://… (every worker applies it)
  --device <id>       a device's own policy instead of the fleet default
  --show              print the policy as JSON (default)
  --set <file>        replace it with the JSON document in <file> ("-" reads stdin)
  --clear             remove it (a device then follows the fleet default)
  -h, --help          this text

example policy.json:
  { "default":   { "deferralMs": 60000 },
    "instances": { "mm": { "deferralMs": 30000, "allowedActors": ["ticket-receiver", "forwarder", "relay", "uplink"] } } }`;

export async function policyCommand(argv: string[], io: CliIo = consoleIo): Promise<number> {
  const { values, positionals: rest } = parseCommand('policy', argv, {
    db: { type: 'string' },
    device: { type: 'string' },
    show: { type: 'boolean', default: false },
    set: { type: 'string' },
    clear: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (values.help) {
    io.out(POLICY_HELP);
    return 0;
  }
  positionals('policy', rest, []);
  const dbPath = required('policy', 'db', values.db);
  const actions = [values.show, values.set !== undefined, values.clear].filter(Boolean).length;
  if (actions > 1) throw new UsageError('policy: give one of --show, --set <file>, --clear');
  let rules: MemoryPolicyRules | undefined;
  if (values.set !== undefined) {
    let text: string;
    try {
      text = readFileSync(values.set === '-' ? 0 : values.set, 'utf8');
    } catch (err) {
      throw new UsageError(`policy: cannot read ${values.set} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new UsageError(`policy: ${values.set} is not JSON`);
    }
    try {
      rules = parsePolicyDocument(json);
    } catch (err) {
      throw new UsageError(`policy: ${values.set}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const device = values.device;
  const scope = device === undefined ? 'fleet default policy' : `policy of ${device}`;
  const changed = `${scope} ${rules === undefined ? 'cleared' : 'set'} (audited; applies at each device's next request)`;
  const show = (text: string | undefined): string =>
    text === undefined ? `no ${scope}` : policyDocumentJson(parsePolicyDocument(JSON.parse(text)), 2);
  // PostgreSQL: the change and its audit row in one transaction, with a NOTIFY every worker applies.
  if (isPostgresUrl(dbPath))
    return withPgDatabase(io, 'policy', dbPath, async (pool) => {
      if (rules !== undefined || values.clear) {
        if (device === undefined) await pgSetFleetPolicy(pool, rules);
        else await pgSetDevicePolicy(pool, device, rules);
        io.out(changed);
      } else io.out(show(device === undefined ? await pgFleetPolicyText(pool) : await pgDevicePolicyText(pool, device)));
      return 0;
    });
  return withDatabase(io, 'policy', dbPath, (db) => {
    if (rules !== undefined || values.clear) {
      if (device === undefined) sqlite.setFleetPolicy(db, rules);
      else sqlite.setDevicePolicy(db, device, rules);
      io.out(changed);
      return 0;
    }
    io.out(show(device === undefined ? sqlite.fleetPolicyText(db) : sqlite.devicePolicyText(db, device)));
    return 0;
  });
}
