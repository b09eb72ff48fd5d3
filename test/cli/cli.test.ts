/**
 * The hub and operator commands, run in-process (with their output captured) for the flows, and as
 * real `dominion` processes for what only the process shows: exit codes and start-up errors.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hubCommand, HUB_HELP } from '../../cli/hub.ts';
import { keysCommand } from '../../cli/keys.ts';
import { enrollCommand } from '../../cli/enroll.ts';
import { devicesCommand, requireUpdateCommand, stateCommand } from '../../cli/operator.ts';
import { auditCommand } from '../../cli/audit.ts';
import { policyCommand } from '../../cli/policy.ts';
import { publishCommand, releasesCommand } from '../../cli/publish.ts';
import { rolloutCommand } from '../../cli/rollout.ts';
import { UsageError, type CliIo } from '../../cli/options.ts';
import { loadProvisioning, readDeviceKeysFile, serviceHubRole } from '../../actors/hub/index.ts';
import { openHubDatabase, readAudit, setFleetPolicy, SqliteHubStore } from '../../actors/hub/sqlite/index.ts';
import { runDominion } from '../hub/child.ts';
import { digestOf, domainRuntime, newSigner, node, signedRequest, stagedHub, tempDir, type RuntimeInit } from '../hub/fixtures.ts';
import { bootRequest } from '../hub/exchanges.ts';
import { UpdateState } from '../../proto/index.ts';
import { newReleaseKey, writeArtifacts } from '../hub/release-fixture.ts';
import { hex } from '../../actors/crypto/index.ts';
import { readReleaseKey } from '../../build/index.ts';

interface Captured extends CliIo {
  readonly lines: string[];
  readonly errors: string[];
  text(): string;
}

function capture(): Captured {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => void lines.push(l), err: (l) => void errors.push(l), text: () => [...lines, ...errors].join('\n') };
}

type Command = (argv: string[], io?: CliIo) => Promise<number>;

async function run(command: Command, argv: string[]): Promise<{ code: number; io: Captured }> {
  const io = capture();
  const code = await command(argv, io);
  return { code, io };
}

async function usageError(command: Command, argv: string[], pattern: RegExp): Promise<void> {
  await assert.rejects(command(argv, capture()), (err: unknown) => err instanceof UsageError && pattern.test(err.message));
}

const COMMANDS: Record<string, Command> = {
  hub: hubCommand,
  keys: keysCommand,
  enroll: enrollCommand,
  devices: devicesCommand,
  audit: auditCommand,
  quarantine: stateCommand('quarantine'),
  release: stateCommand('release'),
  revoke: stateCommand('revoke'),
  'require-update': requireUpdateCommand,
  policy: policyCommand,
  publish: publishCommand,
  releases: releasesCommand,
  rollout: rolloutCommand,
};

/** keys → enroll, as an operator would: returns the paths. */
async function enrolledFleet(): Promise<{ dir: string; ih: string; sh: string; provision: string; keys: string }> {
  const dir = tempDir('dominion-cli-');
  const k = join(dir, 'keys');
  assert.equal((await run(keysCommand, ['new', '--device', 'pi-7', '--services', 'sensor,cam', '--out', k])).code, 0);
  assert.equal((await run(keysCommand, ['new', '--hub', 'ih-1', '--role', 'ih', '--out', k])).code, 0);
  assert.equal((await run(keysCommand, ['new', '--hub', 'sh-sensor', '--role', 'sh', '--service', 'sensor', '--out', k])).code, 0);
  assert.equal((await run(keysCommand, ['new', '--hub', 'sh-cam', '--role', 'sh', '--service', 'cam', '--out', k])).code, 0);
  const ih = join(dir, 'ih.db');
  const sh = join(dir, 'sh-sensor.db');
  const provision = join(dir, 'pi-7.provision.json');
  const r = await run(
    enrollCommand,
    [
      'enroll',
      ...['--device', join(k, 'pi-7.pub.json')],
      ...['--hub', `${join(k, 'ih-1.pub.json')}=${ih}`],
      ...['--hub', `${join(k, 'sh-sensor.pub.json')}=${sh}`],
      ...['--hub', `${join(k, 'sh-cam.pub.json')}=${join(dir, 'sh-cam.db')}`],
      ...['--out', provision, '--broker', 'mqtt://127.0.0.1:1883', '--release-pub', 'cd'.repeat(32)],
    ].slice(1),
  );
  assert.equal(r.code, 0, r.io.text());
  return { dir, ih, sh, provision, keys: join(k, 'pi-7.keys.json') };
}

describe('dominion commands (in-process)', () => {
  it('every command answers --help with its usage', async () => {
    for (const [name, command] of Object.entries(COMMANDS)) {
      const { code, io } = await run(command, ['--help']);
      assert.equal(code, 0, name);
      assert.match(io.lines.join('\n'), new RegExp(`^usage: dominion ${name}`), name);
    }
    assert.match(HUB_HELP, /--share-group/);
  });

  it('bad arguments are usage errors that say what is wrong', async () => {
    await usageError(devicesCommand, [], /--db is required/);
    await usageError(devicesCommand, ['--db', 'x.db', '--frobnicate'], /Unknown option '--frobnicate'/);
    await usageError(devicesCommand, ['--db', 'x.db', 'extra'], /expected no positional arguments/);
    await usageError(stateCommand('quarantine'), ['--db', 'x.db'], /expected <device-id>/);
    await usageError(hubCommand, ['--role', 'xx', '--id', 'a', '--broker', 'mqtt://h', '--db', 'x'], /--role must be one of ih, sh/);
    await usageError(hubCommand, ['--role', 'sh', '--id', 'a', '--broker', 'mqtt://h', '--db', 'x'], /--service is required/);
    await usageError(
      hubCommand,
      ['--role', 'ih', '--id', 'a', '--broker', 'mqtt://h', '--db', 'x', '--batch', '0'],
      /--batch must be an integer/,
    );
    await usageError(keysCommand, ['new', '--out', 'x'], /exactly one of --device/);
    await usageError(keysCommand, ['old', '--device', 'd', '--out', 'x'], /unknown subcommand/);
    await usageError(enrollCommand, ['--device', 'd', '--out', 'o', '--hub', 'no-equals'], /--hub takes <hub.pub.json>=<hub.db>/);
    await usageError(requireUpdateCommand, ['pi', '--db', 'x.db', '--release', '2'], /--instance is required/);
    await usageError(requireUpdateCommand, ['pi', '--db', 'x.db', '--instance', 'vm9', '--release', '2'], /--instance: invalid instance/);
    await usageError(requireUpdateCommand, ['pi', '--db', 'x.db', '--instance', 'mm'], /--release is required/);
    await usageError(requireUpdateCommand, ['pi', '--db', 'x.db', '--instance', 'mm', '--release', '1.2'], /--release must be an integer/);
    await usageError(requireUpdateCommand, ['pi', '--db', 'x.db', '--instance', 'mm', '--version', '2'], /Unknown option '--version'/);
    await usageError(publishCommand, ['--db', 'x.db'], /expected <dist\/board-dir>/);
    await usageError(publishCommand, ['dist/rpi4'], /--db is required/);
    await usageError(publishCommand, ['dist/rpi4', '--db', 'x.db', '--release-pub', 'zz'], /cannot read the release public key file zz/);
    await usageError(releasesCommand, ['--db', 'x.db', 'extra'], /expected no positional arguments/);
    await usageError(policyCommand, ['--db', 'x.db', '--show', '--clear'], /one of --show/);
  });

  it('dominion rollout: bad arguments are usage errors that say what is wrong', async () => {
    const start = ['--db', 'x.db', '--release', '5', '--instance', 'mm'];
    await usageError(rolloutCommand, [...start], /rollout: --percent is required/);
    await usageError(rolloutCommand, [...start, '--percent', '0'], /--percent must be an integer from 1 to 100, got "0"/);
    await usageError(rolloutCommand, [...start, '--percent', '101'], /--percent must be an integer from 1 to 100/);
    await usageError(rolloutCommand, [...start, '--percent', '12.5'], /--percent must be an integer from 1 to 100/);
    await usageError(rolloutCommand, ['--db', 'x.db', '--instance', 'mm', '--percent', '5'], /rollout: --release is required/);
    await usageError(rolloutCommand, ['--db', 'x.db', '--release', '5', '--percent', '5'], /rollout: --instance is required/);
    await usageError(
      rolloutCommand,
      [...start, '--percent', '5', '--max-rollbacks', '0'],
      /--max-rollbacks must be an integer from 1 to 1000000/,
    );
    await usageError(rolloutCommand, ['--release', '5', '--instance', 'mm', '--percent', '5'], /rollout: --db is required/);
    await usageError(
      rolloutCommand,
      ['--db', 'x.db', '--release', '5', '--instance', 'vm9', '--percent', '5'],
      /--instance: invalid instance/,
    );
    await usageError(rolloutCommand, ['--db', 'x.db', '--status', '--halt'], /--status and --halt exclude each other/);
    await usageError(rolloutCommand, ['--db', 'x.db', '--status', '--percent', '5'], /--percent does not go with --status/);
    await usageError(rolloutCommand, ['--db', 'x.db', '--halt', '--max-rollbacks', '3'], /--max-rollbacks does not go with --halt/);
    await usageError(rolloutCommand, [...start, '--percent', '5', '--json'], /--json does not go with starting or widening a rollout/);
    await usageError(rolloutCommand, ['--db', 'x.db', '--resume'], /--resume needs --instance/);
    await usageError(rolloutCommand, ['--db', 'x.db', '--status', 'extra'], /expected no positional arguments/);
    await usageError(rolloutCommand, ['--db', 'x.db', '--pause'], /Unknown option '--pause'/);
  });

  it('keys new: secret files 0600, never overwritten, secrets never printed', async () => {
    const dir = tempDir('dominion-keys-');
    const { code, io } = await run(keysCommand, ['new', '--device', 'pi-1', '--services', 'sensor', '--out', dir]);
    assert.equal(code, 0);
    assert.equal(statSync(join(dir, 'pi-1.keys.json')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'pi-1.pub.json')).mode & 0o077, 0o044 & statSync(join(dir, 'pi-1.pub.json')).mode);
    const secrets = JSON.parse(readFileSync(join(dir, 'pi-1.keys.json'), 'utf8')) as { keys: Record<string, { secretKey: string }> };
    for (const k of Object.values(secrets.keys)) assert.ok(!io.text().includes(k.secretKey), 'no secret in the output');
    const again = await run(keysCommand, ['new', '--device', 'pi-1', '--out', dir]);
    assert.equal(again.code, 1);
    assert.match(again.io.errors.join('\n'), /already exists; refusing to overwrite/);
    const hub = await run(keysCommand, ['new', '--hub', 'ih-9', '--role', 'ih', '--out', dir]);
    assert.equal(hub.code, 0);
    assert.equal(statSync(join(dir, 'ih-9.key.json')).mode & 0o777, 0o600);
    const hubSecret = (JSON.parse(readFileSync(join(dir, 'ih-9.key.json'), 'utf8')) as { secretKey: string }).secretKey;
    assert.ok(!hub.io.text().includes(hubSecret));
  });

  it('keys new --release: a seed file 0600 that build reads and a public file that --release-pub reads; never overwritten', async () => {
    const dir = tempDir('dominion-release-');
    const made = await run(keysCommand, ['new', '--release', 'release', '--out', dir]);
    assert.equal(made.code, 0, made.io.text());
    const secret = join(dir, 'release.key');
    assert.equal(statSync(secret).mode & 0o777, 0o600);
    const key = readReleaseKey(secret);
    assert.equal(readFileSync(join(dir, 'release.pub'), 'utf8').trim(), hex(key.publicKey));
    assert.ok(!made.io.text().includes(hex(key.secretKey)), 'the seed is never printed');
    assert.match(made.io.text(), new RegExp(`public key ${hex(key.publicKey)}`));
    const again = await run(keysCommand, ['new', '--release', 'release', '--out', dir]);
    assert.equal(again.code, 1);
    assert.match(again.io.errors.join('\n'), /already exists; refusing to overwrite a release key/);
    assert.equal(readReleaseKey(secret).publicKey.toString(), key.publicKey.toString(), 'the old key is untouched');
    await usageError(keysCommand, ['new', '--release', 'r', '--hub', 'h', '--out', dir], /exactly one of/);
    await usageError(keysCommand, ['new', '--release', 'r', '--role', 'ih', '--out', dir], /takes only --out/);
  });

  it('enroll: the IH learns K_I and K_MM, each SH only its own K_SM; the provisioning file pins the hubs', async () => {
    const f = await enrolledFleet();
    const ih = SqliteHubStore.open({ path: f.ih });
    const sh = SqliteHubStore.open({ path: f.sh });
    try {
      const keysOf = (s: SqliteHubStore): string[] =>
        s.db.prepare('SELECT instance FROM device_key ORDER BY instance').pluck().all() as string[];
      assert.deepEqual(keysOf(ih), ['device', 'mm']);
      assert.deepEqual(keysOf(sh), ['sm:sensor']);
      assert.equal(sh.identity()?.hubId, 'sh-sensor');
    } finally {
      ih.close();
      sh.close();
    }
    const p = loadProvisioning(f.provision);
    assert.equal(p.deviceId, 'pi-7');
    assert.equal(p.hubs.ih.id, 'ih-1');
    assert.deepEqual(Object.keys(p.hubs.services).sort(), ['cam', 'sensor']);
    assert.equal(p.deviceKeysPath, f.keys);
    const keys = readDeviceKeysFile(p.deviceKeysPath);
    assert.deepEqual(Object.keys(keys.services).sort(), ['cam', 'sensor']);
    assert.equal(p.broker, 'mqtt://127.0.0.1:1883');
    assert.equal(hex(p.releaseKey!), 'cd'.repeat(32), 'the release key is pinned');
  });

  it('keys new --without-mm → enroll: the IH learns only K_I', async () => {
    const dir = tempDir('dominion-cli-');
    const k = join(dir, 'keys');
    const made = await run(keysCommand, ['new', '--device', 'pi-8', '--without-mm', '--out', k]);
    assert.equal(made.code, 0, made.io.text());
    assert.doesNotMatch(made.io.text(), /\bmm\b/);
    assert.equal((await run(keysCommand, ['new', '--hub', 'ih-1', '--role', 'ih', '--out', k])).code, 0);
    await usageError(keysCommand, ['new', '--hub', 'ih-2', '--role', 'ih', '--without-mm', '--out', k], /--without-mm is for --device/);
    const ih = join(dir, 'ih.db');
    const r = await run(enrollCommand, [
      '--device',
      join(k, 'pi-8.pub.json'),
      '--hub',
      `${join(k, 'ih-1.pub.json')}=${ih}`,
      '--out',
      join(dir, 'pi-8.provision.json'),
    ]);
    assert.equal(r.code, 0, r.io.text());
    assert.match(r.io.text(), /enrolled pi-8 with .*: device$/m);
    const store = SqliteHubStore.open({ path: ih });
    try {
      assert.deepEqual(store.db.prepare('SELECT instance FROM device_key ORDER BY instance').pluck().all(), ['device']);
    } finally {
      store.close();
    }
    assert.equal(readDeviceKeysFile(join(k, 'pi-8.keys.json')).mm, undefined);
  });

  it('revoke across hubs: each database named refuses the device, its SH shows it REVOKED, and devices merges both views', async () => {
    const f = await enrolledFleet();
    // A database that cannot be opened stops the command, saying what was already changed.
    const partial = await run(stateCommand('quarantine'), ['pi-7', '--db', f.ih, '--db', join(f.dir, 'nope.db')]);
    assert.equal(partial.code, 1);
    assert.match(partial.io.errors.join('\n'), /already changed in .*ih\.db; not in .*nope\.db/);
    const r = await run(stateCommand('revoke'), ['pi-7', '--db', f.ih, '--db', f.sh, '--reason', 'stolen']);
    assert.equal(r.code, 0, r.io.text());
    assert.equal(r.io.lines.filter((l) => l.startsWith('pi-7: revoked in ')).length, 2);
    // The SH answers sm:sensor WITHHELD REVOKED, signed, like the IH answers device.
    const store = SqliteHubStore.open({ path: f.sh });
    try {
      const hub = stagedHub(store, newSigner(), serviceHubRole('sensor'));
      const kSM = node.signer(readDeviceKeysFile(f.keys).services.sensor!);
      const d = hub.ask(signedRequest(kSM, 'pi-7', 'sm:sensor', domainRuntime([{ name: 'sensor' }])).bytes, Date.now());
      assert.deepEqual([d.outcome, d.reason], ['withheld', 'revoked']);
    } finally {
      store.close();
    }
    const view = await run(devicesCommand, ['--db', f.sh, '--device', 'pi-7']);
    assert.match(view.io.lines.join('\n'), /REVOKED/);
    // The IH's and the SH's views merge into one per device.
    const merged = await run(devicesCommand, ['--db', f.sh, '--db', f.ih, '--device', 'pi-7', '--json']);
    assert.equal(merged.code, 0);
    const rows = merged.io.lines.map((l) => JSON.parse(l) as { instance: string; deviceState: string });
    assert.deepEqual(
      rows.map((r) => [r.instance, r.deviceState]),
      [
        ['device', 'revoked'],
        ['mm', 'revoked'],
        ['sm:sensor', 'revoked'],
      ],
    );
  });

  it('enroll refuses the device secret key file where its public file belongs, and writes nothing', async () => {
    const dir = tempDir('dominion-cli-');
    const k = join(dir, 'keys');
    assert.equal((await run(keysCommand, ['new', '--device', 'pi-9', '--services', 'sensor', '--out', k])).code, 0);
    assert.equal((await run(keysCommand, ['new', '--hub', 'ih-1', '--role', 'ih', '--out', k])).code, 0);
    const secretFile = join(k, 'pi-9.keys.json');
    const ih = join(dir, 'ih.db');
    const out = join(dir, 'pi-9.provision.json');
    const r = await run(enrollCommand, ['--device', secretFile, '--hub', `${join(k, 'ih-1.pub.json')}=${ih}`, '--out', out]);
    assert.equal(r.code, 1, r.io.text());
    const message = r.io.errors.join('\n');
    assert.match(message, /^dominion enroll: .*pi-9\.keys\.json is the device's secret key file \(dominion\.device-keys\)/);
    assert.ok(message.includes(`pass ${join(k, 'pi-9.pub.json')} (dominion.device-public`), message);
    const secrets = JSON.parse(readFileSync(secretFile, 'utf8')) as { keys: Record<string, { secretKey: string }> };
    for (const { secretKey } of Object.values(secrets.keys)) assert.ok(!message.includes(secretKey), 'no secret in the message');
    assert.ok(!existsSync(ih) && !existsSync(out) && !existsSync(join(dir, 'pi-9.broker.json')), 'nothing written');
  });

  it('devices, quarantine, release, revoke, require-update, policy, audit on one database', async () => {
    const f = await enrolledFleet();
    let r = await run(devicesCommand, ['--db', f.ih]);
    assert.equal(r.code, 0);
    assert.match(
      r.io.lines[0]!,
      /^device\s+instance\s+version\s+slot\s+update\s+last request\s+last ticket\s+deadline\s+state\s+boot\s+boots\s+reset\s+firmware\s+refused\s+reason$/,
    );
    assert.match(r.io.lines.join('\n'), /pi-7\s+device\s+—\s+—\s+—\s+—\s+—\s+—\s+NEVER\s+—/);

    assert.equal((await run(stateCommand('quarantine'), ['pi-7', '--db', f.ih, '--reason', 'odd traffic'])).code, 0);
    r = await run(devicesCommand, ['--db', f.ih, '--device', 'pi-7']);
    assert.match(r.io.lines[1]!, /QUARANTINED\s+—\s+—\s+—\s+—\s+0\s+odd traffic$/);
    assert.equal((await run(stateCommand('release'), ['pi-7', '--db', f.ih])).code, 0);
    r = await run(stateCommand('quarantine'), ['ghost', '--db', f.ih]);
    assert.equal(r.code, 1);
    assert.match(r.io.errors[0]!, /ghost.*not enrolled/);

    const key = newReleaseKey();
    const built = writeArtifacts(f.dir, { key, version: 2 });
    r = await run(requireUpdateCommand, ['pi-7', '--db', f.ih, '--instance', 'mm', '--release', '2']);
    assert.equal(r.code, 1, 'nothing published yet');
    assert.match(r.io.errors[0]!, /release 2 of mm is not published here/);
    r = await run(publishCommand, [built.dir, '--db', f.ih, '--release-pub', hex(key.publicKey)]);
    assert.equal(r.code, 0, r.io.text());
    r = await run(requireUpdateCommand, ['pi-7', '--db', f.ih, '--instance', 'mm', '--release', '2']);
    assert.equal(r.code, 0, r.io.text());
    assert.match(
      r.io.lines[0]!,
      /mm must run release 2 \(20000 bytes, manifest sha512 [0-9a-f]{16}…, fetched from dominion\/v1\/hub\/ih-1\/request\)/,
    );
    r = await run(requireUpdateCommand, ['pi-7', '--db', f.sh, '--instance', 'mm', '--release', '2']);
    assert.equal(r.code, 1, 'the SH does not dominate mm');
    assert.equal((await run(requireUpdateCommand, ['pi-7', '--db', f.ih, '--clear'])).code, 0);

    const policyFile = join(f.dir, 'policy.json');
    writeFileSync(
      policyFile,
      JSON.stringify({ default: { deferralMs: 60000 }, instances: { mm: { deferralMs: 30000, allowedActors: ['uplink'] } } }),
    );
    assert.equal((await run(policyCommand, ['--db', f.ih, '--set', policyFile])).code, 0);
    r = await run(policyCommand, ['--db', f.ih]);
    assert.deepEqual(JSON.parse(r.io.lines.join('\n')), {
      default: { deferralMs: 60000 },
      instances: { mm: { deferralMs: 30000, allowedActors: ['uplink'] } },
    });
    writeFileSync(policyFile, JSON.stringify({ default: { deferalMs: 60000 } }));
    await usageError(policyCommand, ['--db', f.ih, '--set', policyFile], /unknown key "deferalMs"/);

    assert.equal((await run(stateCommand('revoke'), ['pi-7', '--db', f.ih, '--reason', 'stolen'])).code, 0);
    r = await run(stateCommand('release'), ['pi-7', '--db', f.ih]);
    assert.equal(r.code, 1);
    assert.match(r.io.errors[0]!, /revoked/);

    r = await run(auditCommand, ['--db', f.ih, '--json', '--last', '0']);
    const reasons = r.io.lines.map((l) => (JSON.parse(l) as { reason: string }).reason);
    assert.deepEqual(reasons, [
      'enrolled',
      'quarantine',
      'release',
      'pin-release-key',
      'publish',
      'require-update',
      'clear-update',
      'policy',
      'revoke',
    ]);
    const db = openHubDatabase(f.ih);
    try {
      assert.ok(readAudit(db).every((e) => e.outcome === 'operator'));
    } finally {
      db.close();
    }
  });
});

describe('dominion publish, releases, require-update --release, devices columns', () => {
  it('publish prints what it stored; releases lists it; a second key is one clear line, exit 1', async () => {
    const f = await enrolledFleet();
    const key = newReleaseKey();
    const built = writeArtifacts(f.dir, { key, version: 5, services: ['sensor', 'cam'] });
    let r = await run(publishCommand, [built.dir, '--db', f.ih, '--release-pub', hex(key.publicKey)]);
    assert.equal(r.code, 0, r.io.text());
    assert.match(r.io.lines[0]!, new RegExp(`^board rpi4, release key [0-9a-f]{32} \\(pinned now\\)$`));
    assert.match(r.io.text(), /^ {2}sw\s+5\s+100000 bytes\s+sha512 [0-9a-f]{16}…\s+stored$/m);
    assert.match(r.io.text(), /^ {2}mm\s+5\s+20000 bytes/m);
    assert.match(r.io.text(), /^not for this hub: sm:cam, sm:sensor$/m);
    r = await run(publishCommand, [built.dir, '--db', f.sh]);
    assert.equal(r.code, 1, 'the SH has no key pinned yet');
    assert.deepEqual(r.io.errors, ['dominion publish: no release key is pinned in this hub database yet: give --release-pub <key>']);
    r = await run(publishCommand, [built.dir, '--db', f.sh, '--release-pub', hex(key.publicKey)]);
    assert.match(r.io.text(), /^ {2}sm:sensor\s+5/m);

    r = await run(releasesCommand, ['--db', f.ih]);
    assert.match(r.io.lines[0]!, /^board\s+image\s+version\s+bytes\s+sha512\s+manifest sha512\s+issued\s+published$/);
    assert.equal(r.io.lines.length, 4);
    r = await run(releasesCommand, ['--db', f.ih, '--json']);
    const listed = r.io.lines.map((l) => JSON.parse(l) as { label: string; version: number; sha512: string; manifestSha512: string });
    assert.deepEqual(
      listed.map((l) => l.label),
      ['hypervisor', 'mm', 'sw'],
    );
    assert.match(listed[0]!.manifestSha512, /^[0-9a-f]{128}$/);

    const other = newReleaseKey();
    r = await run(publishCommand, [built.dir, '--db', f.ih, '--release-pub', hex(other.publicKey)]);
    assert.equal(r.code, 1);
    assert.equal(r.io.errors.length, 1);
    assert.match(r.io.errors[0]!, /^dominion publish: this hub pins release key [0-9a-f]{32}; the given key [0-9a-f]{32} is another one/);
    r = await run(publishCommand, [join(f.dir, 'nowhere'), '--db', f.ih]);
    assert.equal(r.code, 1);
    assert.match(r.io.errors[0]!, /^dominion publish: manifest\.json: not found in /);
  });

  it("devices shows each instance's version, slot and update state, and the device's latest boot", async () => {
    const f = await enrolledFleet();
    const seeds = readDeviceKeysFile(f.keys);
    const store = SqliteHubStore.open({ path: f.ih });
    try {
      const hub = stagedHub(store, newSigner());
      const kI = node.signer(seeds.device);
      const kMM = node.signer(seeds.mm!);
      const device: RuntimeInit = {
        report: {
          case: 'device',
          value: {
            firmwareVersion: '0.1.5',
            manifestDigest: digestOf('m'),
            recovery: true,
            slots: [
              { label: 'sw', version: 5n, slot: 'b', update: UpdateState.TRIAL, updateVersion: 5n },
              { label: 'hypervisor', version: 5n, slot: 'b', update: UpdateState.COMMITTED, updateVersion: 5n },
            ],
          },
        },
      };
      const mm: RuntimeInit = {
        report: { case: 'domain', value: { slot: { label: 'mm', version: 4n, slot: 'a', update: UpdateState.FAILED, updateVersion: 5n } } },
      };
      hub.ask(signedRequest(kI, 'pi-7', 'device', device).bytes, Date.now());
      hub.ask(signedRequest(kMM, 'pi-7', 'mm', mm).bytes, Date.now());
      const images = [
        { label: 'sw', version: 5n, digest: digestOf('sw') },
        { label: 'hypervisor', version: 5n, digest: digestOf('hv') },
        { label: 'mm', version: 4n, digest: digestOf('mm') },
      ];
      const boot = hub.ask(
        bootRequest(kI, {
          deviceId: 'pi-7',
          bootNonce: randomBytes(32),
          manifestDigest: digestOf('m'),
          firmwareVersion: '0.1.5',
          bootCount: 12n,
          images,
        }),
        Date.now(),
      );
      assert.equal(boot.outcome, 'boot-granted');
      hub.commit();
    } finally {
      store.close();
    }
    const r = await run(devicesCommand, ['--db', f.ih]);
    assert.equal(r.code, 0, r.io.text());
    const text = r.io.lines.join('\n');
    assert.match(text, /pi-7\s+device\s+sw 5, hypervisor 5\s+b, b\s+recovery, sw trial 5, hypervisor committed 5\s.*#12 granted/);
    assert.match(text, /pi-7\s+mm\s+4\s+a\s+failed 5\s/);
    const json = await run(devicesCommand, ['--db', f.ih, '--json', '--device', 'pi-7']);
    const rows = json.io.lines.map(
      (l) => JSON.parse(l) as { instance: string; images?: unknown[]; recovery?: boolean; boot?: { count: number } },
    );
    const dev = rows.find((row) => row.instance === 'device')!;
    assert.equal(dev.recovery, true);
    assert.equal(dev.boot?.count, 12);
    assert.deepEqual(dev.images, [
      { label: 'sw', version: 5, slot: 'b', update: 'trial', updateVersion: 5, source: 'slots' },
      { label: 'hypervisor', version: 5, slot: 'b', update: 'committed', updateVersion: 5, source: 'slots' },
    ]);
  });

  it('without slot reports, devices shows the versions the latest boot reported', async () => {
    const f = await enrolledFleet();
    const seeds = readDeviceKeysFile(f.keys);
    const store = SqliteHubStore.open({ path: f.ih });
    try {
      const hub = stagedHub(store, newSigner());
      const images = [
        { label: 'sw', version: 3n, digest: digestOf('sw') },
        { label: 'hypervisor', version: 3n, digest: digestOf('hv') },
        { label: 'mm', version: 2n, digest: digestOf('mm') },
        { label: 'sm:sensor', version: 9n, digest: digestOf('s') },
      ];
      const kI = node.signer(seeds.device);
      hub.ask(
        bootRequest(kI, { deviceId: 'pi-7', bootNonce: randomBytes(32), manifestDigest: digestOf('m'), firmwareVersion: '0.1.3', images }),
        1,
      );
      hub.commit();
    } finally {
      store.close();
    }
    const text = (await run(devicesCommand, ['--db', f.ih])).io.lines.join('\n');
    assert.match(text, /pi-7\s+device\s+sw 3, hypervisor 3 \(boot\)\s+—\s+—\s/);
    assert.match(text, /pi-7\s+mm\s+2 \(boot\)\s+—\s+—\s/);
  });
});

describe('dominion rollout', () => {
  it('start, status, automatic halt, halt and resume by hand; failures are one line, exit 1', async () => {
    const f = await enrolledFleet();
    const key = newReleaseKey();
    const built = writeArtifacts(f.dir, { key, version: 5 });
    assert.equal((await run(publishCommand, [built.dir, '--db', f.ih, '--release-pub', hex(key.publicKey)])).code, 0);

    let r = await run(rolloutCommand, ['--db', f.ih, '--status']);
    assert.deepEqual([r.code, r.io.lines], [0, ['no rollouts in place (dominion rollout --release <n> --instance <i> --percent <p> …)']]);
    r = await run(rolloutCommand, ['--db', f.ih, '--release', '5', '--instance', 'mm', '--percent', '100']);
    assert.equal(r.code, 0, r.io.text());
    assert.deepEqual(r.io.lines, [
      'mm: rollout of release 5 started at 100 %: cohort 1 of 1 active device(s), halts at 1 rollback(s) or failure(s); audited',
    ]);
    r = await run(rolloutCommand, ['--db', f.ih, '--release', '5', '--instance', 'mm', '--percent', '100']);
    assert.match(r.io.lines[0]!, /^mm: rollout of release 5 is at 100 % already: .*; nothing changed$/);

    // Failures: one line on stderr, exit 1.
    for (const [argv, message] of [
      [['--release', '9', '--instance', 'mm', '--percent', '10'], 'dominion rollout: release 9 of mm is not published here'],
      [
        ['--release', '5', '--instance', 'mm', '--percent', '50'],
        'dominion rollout: the rollout of release 5 for mm is at 100 %; a rollout only widens',
      ],
      [
        ['--release', '5', '--instance', 'sm:sensor', '--percent', '10'],
        "dominion rollout: this database's hub (ih-1) does not dominate sm:sensor",
      ],
      [['--resume', '--instance', 'mm'], 'dominion rollout: the rollout of release 5 for mm is active, not halted'],
      [['--halt', '--instance', 'device'], 'dominion rollout: no rollout in place for device'],
    ] as const) {
      const failed = await run(rolloutCommand, ['--db', f.ih, ...argv]);
      assert.equal(failed.code, 1, argv.join(' '));
      assert.equal(failed.io.errors.length, 1);
      assert.ok(failed.io.errors[0]!.startsWith(message), failed.io.errors[0]);
    }

    // pi-7's mm asks with a rollback of release 5: counted, and the rollout halts at 1.
    const seeds = readDeviceKeysFile(f.keys);
    const store = SqliteHubStore.open({ path: f.ih });
    try {
      setFleetPolicy(store.db, { default: { deferralMs: 30_000 } });
      const hub = stagedHub(store, newSigner());
      const mm = (update: UpdateState): RuntimeInit => ({
        report: { case: 'domain', value: { slot: { label: 'mm', version: 4n, slot: 'a', update, updateVersion: 5n } } },
      });
      const kMM = node.signer(seeds.mm!);
      assert.equal(hub.ask(signedRequest(kMM, 'pi-7', 'mm', mm(UpdateState.DOWNLOADING)).bytes, Date.now()).reason, 'rollout-update');
      hub.commit();
      hub.ask(signedRequest(kMM, 'pi-7', 'mm', mm(UpdateState.ROLLED_BACK)).bytes, Date.now());
      hub.commit();
    } finally {
      store.close();
    }
    r = await run(rolloutCommand, ['--db', f.ih, '--status']);
    assert.equal(r.code, 0, r.io.text());
    assert.equal(r.io.lines[0], 'mm release 5: halted at 100 %, cohort 1 of 1 active device(s)');
    assert.equal(r.io.lines[1], '  updates: rolled-back 1, failed 0, pending 0, downloading 0, installed 0, trial 0, committed 0');
    assert.equal(r.io.lines[2], '  rollbacks or failures counted: 1 (halts at 1)');
    assert.match(
      r.io.lines[4]!,
      /^ {2}halted \S+Z: automatic: 1 cohort device\(s\) rolled back or failed \(--max-rollbacks 1\); the last: pi-7 rolled-back$/,
    );
    const json = JSON.parse((await run(rolloutCommand, ['--db', f.ih, '--status', '--json'])).io.lines[0]!) as Record<string, unknown>;
    assert.deepEqual([json.instance, json.release, json.state, json.percent, json.cohort, json.failures], ['mm', 5, 'halted', 100, 1, 1]);

    r = await run(rolloutCommand, ['--db', f.ih, '--resume', '--instance', 'mm']);
    assert.equal(r.code, 1);
    assert.deepEqual(r.io.errors, [
      'dominion rollout: the rollout of release 5 for mm has counted 1 rollback(s) or failure(s), at its limit of 1: resume with a higher --max-rollbacks',
    ]);
    r = await run(rolloutCommand, ['--db', f.ih, '--resume', '--instance', 'mm', '--max-rollbacks', '3']);
    assert.deepEqual(r.io.lines, ['mm: rollout of release 5 resumed at 100 % (halts at 3 rollback(s) or failure(s), 1 counted); audited']);
    r = await run(rolloutCommand, ['--db', f.ih, '--halt', '--reason', 'bad field reports']);
    assert.deepEqual(r.io.lines, ['mm: rollout of release 5 halted at 100 % (audited)']);
    r = await run(rolloutCommand, ['--db', f.ih, '--halt', '--instance', 'mm', '--release', '5']);
    assert.deepEqual(r.io.lines, ['mm: rollout of release 5 was halted already (operator: bad field reports)']);
    assert.match((await run(rolloutCommand, ['--db', f.ih, '--status'])).io.text(), /^ {2}halted \S+Z: operator: bad field reports$/m);

    const audit = (await run(auditCommand, ['--db', f.ih, '--last', '0'])).io.lines.join('\n');
    assert.match(audit, /operator rollout mm — release 5 to 100 % of devices, halts at 1 rollback\(s\) or failure\(s\)/);
    assert.match(audit, /ih-1 rollout rollout-failure pi-7\/mm — release 5: rolled-back \(1 of 1 before the rollout halts\)/);
    assert.match(audit, /ih-1 rollout rollout-halt pi-7\/mm — release 5 halted at 100 %: automatic: /);
    assert.match(audit, /operator rollout-resume mm — release 5 resumed at 100 %, halts at 3 rollback\(s\) or failure\(s\)/);
    assert.match(audit, /operator rollout-halt mm — release 5 halted at 100 %: operator: bad field reports/);
  });
});

describe('dominion as a process', () => {
  it('bad arguments exit 2 with a clear message', async () => {
    const r = await runDominion(['quarantine']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /quarantine: expected <device-id>, got none/);
    assert.match(r.stderr, /dominion quarantine --help/);
  });

  it('dominion publish: usage errors exit 2, failures exit 1 with one line', async () => {
    const dir = tempDir('dominion-cli-');
    const [usage, missing] = await Promise.all([
      runDominion(['publish', '--db', join(dir, 'ih.db')]),
      runDominion(['publish', join(dir, 'dist'), '--db', join(dir, 'missing.db')]),
    ]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /publish: expected <dist\/board-dir>, got none/);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim().split('\n').length, 1);
    assert.match(missing.stderr, /missing\.db: no hub database here/);
  });

  it('dominion rollout: usage errors exit 2, failures exit 1 with one line', async () => {
    const dir = tempDir('dominion-cli-');
    const [usage, missing] = await Promise.all([
      runDominion(['rollout', '--db', join(dir, 'ih.db'), '--release', '5', '--instance', 'mm', '--percent', '0']),
      runDominion(['rollout', '--db', join(dir, 'missing.db'), '--status']),
    ]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^dominion: rollout: --percent must be an integer from 1 to 100, got "0"$/m);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim().split('\n').length, 1);
    assert.match(missing.stderr, /^dominion rollout: .*missing\.db: no hub database here/);
  });

  it('dominion hub: a missing or corrupt database is a clear error at start-up, before the broker', async () => {
    const dir = tempDir('dominion-cli-');
    const keys = await run(keysCommand, ['new', '--hub', 'ih-1', '--role', 'ih', '--out', dir]);
    assert.equal(keys.code, 0);
    const base = ['hub', '--role', 'ih', '--id', 'ih-1', '--broker', 'mqtt://127.0.0.1:9', '--key', join(dir, 'ih-1.key.json')];
    const [missing, corrupt] = await Promise.all([
      runDominion([...base, '--db', join(dir, 'missing.db')]),
      (async () => {
        writeFileSync(join(dir, 'corrupt.db'), randomBytes(16384));
        return runDominion([...base, '--db', join(dir, 'corrupt.db')]);
      })(),
    ]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /missing\.db: no hub database here \(create one with "dominion hub --init …"/);
    assert.equal(corrupt.code, 1);
    assert.match(corrupt.stderr, /corrupt\.db: not a usable hub database/);
  });
});
