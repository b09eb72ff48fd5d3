/**
 * `dominion <command>`: the one entry point — a simulated device with its hubs (`up`), hubs, keys,
 * enrolment and operator commands, builds, devices and benchmarks. Each command loads its module
 * only when it runs.
 */
import { reportError } from './report.ts';

const COMMANDS: Record<string, { summary: string; run: (argv: string[]) => Promise<number> }> = {
  up: {
    summary: 'run a broker, the IH, one SH and a simulated device, and play a scenario',
    run: async (a) => (await import('./up.ts')).up(a),
  },
  build: { summary: "bundle, check and sign a board's artifacts into dist/<id>/", run: async (a) => (await import('./build.ts')).build(a) },
  digest: {
    summary: "print the code digests of a board's images (and your --service modules) for a hub's policy",
    run: async (a) => (await import('./digest.ts')).digestCommand(a),
  },
  pack: {
    summary: "make a board's signed install archive: runner, verified artifacts, unit, install.sh",
    run: async (a) => (await import('./pack.ts')).packCommand(a),
  },
  install: {
    summary: 'verify an install archive against the release key and install it (under --root)',
    run: async (a) => (await import('./install.ts')).installCommand(a),
  },
  device: {
    summary: "verify a board's artifacts and run them as a device against its hubs",
    run: async (a) => (await import('./device.ts')).deviceCommand(a),
  },
  users: {
    summary: "list (or --create) the Unix users a board's domain processes run as",
    run: async (a) => (await import('./users.ts')).usersCommand(a),
  },
  bench: {
    summary: "run the device on a board's budgets (memory, CPU, cold start)",
    run: async (a) => (await import('./bench.ts')).benchCommand(a),
  },
  hub: {
    summary: 'run one hub process (IH or SH) on its SQLite database, or one PostgreSQL worker of it',
    run: async (a) => (await import('./hub.ts')).hubCommand(a),
  },
  db: {
    summary: 'move a hub from its SQLite database to PostgreSQL (db migrate)',
    run: async (a) => (await import('./db.ts')).dbCommand(a),
  },
  'hub-unit': {
    summary: 'write the systemd unit that runs one hub as a service',
    run: async (a) => (await import('./hub-unit.ts')).hubUnitCommand(a),
  },
  keys: { summary: 'make key files: a device key set or a hub key pair', run: async (a) => (await import('./keys.ts')).keysCommand(a) },
  enroll: {
    summary: 'register a device with its hubs and write its provisioning file',
    run: async (a) => (await import('./enroll.ts')).enrollCommand(a),
  },
  'broker-config': {
    summary: "make a TLS broker's CA, certificate and mosquitto.conf (openssl)",
    run: async (a) => (await import('./broker-config.ts')).brokerConfigCommand(a),
  },
  'broker-sync': {
    summary: "write the broker's password and ACL files from the hub databases and make it reload them",
    run: async (a) => (await import('./broker-sync.ts')).brokerSyncCommand(a),
  },
  watch: {
    summary: "print a service's readings as they arrive, each verified against its sealed K_SM signature",
    run: async (a) => (await import('./watch.ts')).watchCommand(a),
  },
  devices: {
    summary: 'print the fleet a hub database knows: versions, slots, updates, last request, ticket, deadline, state',
    run: async (a) => (await import('./operator.ts')).devicesCommand(a),
  },
  history: {
    summary: "print a device's boots, reset reasons and firmware/image versions as it reported them",
    run: async (a) => (await import('./history.ts')).historyCommand(a),
  },
  dashboard: {
    summary: 'serve the fleet dashboard (live device states, deadlines, resets, actions) over HTTP',
    run: async (a) => (await import('./dashboard.ts')).dashboardCommand(a),
  },
  audit: { summary: "print a hub's audit log", run: async (a) => (await import('./audit.ts')).auditCommand(a) },
  quarantine: {
    summary: 'withhold every ticket from a device until released',
    run: async (a) => (await import('./operator.ts')).stateCommand('quarantine')(a),
  },
  release: { summary: 'lift a quarantine', run: async (a) => (await import('./operator.ts')).stateCommand('release')(a) },
  revoke: {
    summary: 'revoke a device for good (until enrolled again)',
    run: async (a) => (await import('./operator.ts')).stateCommand('revoke')(a),
  },
  'require-update': {
    summary: 'demand that an instance runs a published release before it gets tickets',
    run: async (a) => (await import('./operator.ts')).requireUpdateCommand(a),
  },
  rollout: {
    summary: 'stage a published release to a percent of the devices, halting on rollbacks (--status, --halt, --resume)',
    run: async (a) => (await import('./rollout.ts')).rolloutCommand(a),
  },
  policy: { summary: "show or set a hub's fleet or per-device policy", run: async (a) => (await import('./policy.ts')).policyCommand(a) },
  publish: {
    summary: "verify a board's built artifacts and store this hub's images of them, to serve to devices",
    run: async (a) => (await import('./publish.ts')).publishCommand(a),
  },
  releases: { summary: 'list the releases a hub serves', run: async (a) => (await import('./publish.ts')).releasesCommand(a) },
  version: {
    summary: 'print the dominion and Node.js versions (also --version, -V)',
    run: async (a) => (await import('./version.ts')).versionCommand(a),
  },
};

/** Internal: a domain process of a `process`-placement device, started by its parent domain only. */
const HIDDEN: Record<string, (argv: string[]) => Promise<number>> = {
  'domain-host': async () => (await import('./domain-host.ts')).domainHostCommand(),
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
  if (name === '--version' || name === '-V') return main(['version', ...rest]);
  const hidden = HIDDEN[name];
  if (hidden !== undefined) return hidden(rest);
  const command = COMMANDS[name];
  if (command === undefined) {
    console.error(`dominion: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    // One line (and a --help pointer for usage mistakes), never Node's raw text: report.ts.
    const report = reportError(name, error);
    for (const line of report.lines) console.error(line);
    return report.code;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`dominion: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
