/**
 * `dominion pack` and `dominion install`, end to end on this machine: the `sim` board packed into one
 * signed archive, installed into a temporary root, and the *installed* runner started as its unit's
 * ExecStart says (paths rebased to that root, `--watchdog simulated`) against an IH and an SH on a
 * broker, until its first ticket. A tampered or unsigned archive is refused; install.sh lays out what
 * `dominion install` does; a pack is refused from artifacts that do not verify.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { generateSecretKey, hex, nodeBackend } from '../../actors/crypto/index.ts';
import { loadBoard } from '../../boards/index.ts';
import { readTarGz, writeTarGz, type TarEntry } from '../../build/index.ts';
import { installCommand } from '../../cli/install.ts';
import { packCommand } from '../../cli/pack.ts';
import { DeviceUnderTest, ticketFor } from './processes.ts';
import { provisionedHubs, releaseKeyFile, tempDir, type ProvisionedHubs } from './support.ts';

const DEVICE = 'pi-packed';
const board = loadBoard('sim');
const root = tempDir('pack');
const state: { hubs?: ProvisionedHubs; archive?: string; pub?: string } = {};

/** Runs a command function in-process; its exit code and what it printed. */
async function run(cmd: (argv: string[], io: { out: (l: string) => void; err: (l: string) => void }) => Promise<number>, argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await cmd(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

/** Every path under `dir` with its kind, mode and (files) content digest: a layout to compare. */
function listing(dir: string): string[] {
  const rows: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      const st = statSync(path);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        rows.push(`${relative(dir, path)}/ ${mode}`);
        walk(path);
      } else rows.push(`${relative(dir, path)} ${mode} ${hex(nodeBackend().sha512(readFileSync(path))).slice(0, 16)}`);
    }
  };
  walk(dir);
  return rows;
}

before(async () => {
  const { file, key } = releaseKeyFile(root);
  state.pub = hex(key.publicKey);
  state.hubs = await provisionedHubs(root, DEVICE, board.timing.deferralMs, board.services);
  const r = await run(packCommand, ['--board', 'sim', '--release-key', file, '--release-version', '3', '--out', join(root, 'out')]);
  assert.equal(r.code, 0, r.err.join('\n'));
  state.archive = join(root, 'out', 'dominion-sim-3.tar.gz');
});

after(async () => {
  await state.hubs?.stop();
  // Left for inspection on failure is not worth the disk: the temp root goes.
  spawnSync('rm', ['-rf', root]);
});

test('pack → install into a temporary root → the installed runner, as its unit runs it, gets its first ticket', async () => {
  const target = join(root, 'board');
  const r = await run(installCommand, [state.archive!, '--release-pub', state.pub!, '--root', target]);
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.match(r.out.join('\n'), /installed dominion sim release 3 into .*\/opt\/dominion/);

  const files = listing(target).map((row) => row.split(' ').slice(0, 2).join(' '));
  for (const want of [
    'opt/dominion/bin/dominion-device.mjs 755',
    'opt/dominion/dist/sim/manifest.json 644',
    'opt/dominion/dist/sim/manifest.sig 644',
    'opt/dominion/dist/sim/sw.mjs 644',
    'opt/dominion/dist/sim/sm-sensor.mjs 644',
    'opt/dominion/board.json 644',
    'opt/dominion/PACK.json 644',
    'opt/dominion/PACK.sig 644',
    'etc/systemd/system/dominion-sim.service 644',
    'etc/dominion/ 700',
    'var/lib/dominion/ 755',
  ])
    assert.ok(files.includes(want), `${want} in\n${files.join('\n')}`);
  assert.ok(!files.some((f) => /install\.sh|SHA512SUMS|staging|\.old-/.test(f)), files.join('\n'));

  // Provision the board as "dominion enroll" would: provisioning (pinning the release key) and key file in /etc/dominion.
  const etc = join(target, 'etc', 'dominion');
  const prov = JSON.parse(readFileSync(state.hubs!.provision, 'utf8')) as Record<string, unknown>;
  writeFileSync(join(etc, 'provision.json'), JSON.stringify({ ...prov, releaseKey: state.pub }));
  copyFileSync(join(root, `${DEVICE}.keys.json`), join(etc, String(prov.deviceKeys)));
  chmodSync(join(etc, String(prov.deviceKeys)), 0o600);

  // Exactly what the installed unit runs, its absolute paths under the temporary root.
  const unit = readFileSync(join(target, 'etc/systemd/system/dominion-sim.service'), 'utf8');
  const execStart = /^ExecStart=(.*)$/m.exec(unit)![1]!.split(/\s+/);
  assert.equal(execStart[0], '/usr/bin/node');
  assert.ok(execStart.includes('/opt/dominion/bin/dominion-device.mjs'), execStart.join(' '));
  const rebased = execStart.slice(1).map((a) => (/^\/(opt|etc|var)\//.test(a) ? join(target, a) : a));
  const child = spawn(process.execPath, [...rebased, '--watchdog', 'simulated', '--duration', '120'], {
    cwd: target,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const device = new DeviceUnderTest(child);
  try {
    const first = await device.waitFor(ticketFor('device'), 'the first device ticket', 60_000);
    assert.match(first, /device: ticket/);
    assert.match(device.lines.join('\n'), new RegExp(`artifacts ${join(target, 'opt/dominion/dist/sim')} verified`));
    assert.ok(existsSync(join(target, 'var/lib/dominion/sw')), 'the device keeps its state in the installed data dir');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('a tampered, unsigned or foreign-signed archive is refused, naming the archive and why, and nothing is installed', async () => {
  const entries = readTarGz(readFileSync(state.archive!));
  const write = (name: string, changed: TarEntry[]): string => {
    const path = join(root, name);
    writeFileSync(path, writeTarGz(changed, 0));
    return path;
  };
  const tampered = write(
    'tampered.tar.gz',
    entries.map((e) => (e.path.endsWith('bin/dominion-device.mjs') ? { ...e, bytes: new TextEncoder().encode('/* mine */') } : e)),
  );
  const unsigned = write(
    'unsigned.tar.gz',
    entries.filter((e) => !e.path.endsWith('PACK.sig')),
  );
  const extra = write('extra.tar.gz', [
    ...entries,
    { path: 'dominion-sim-3/bin/helper.mjs', type: 'file', mode: 0o755, bytes: new Uint8Array(3) },
  ]);
  const other = hex(nodeBackend().publicKeyOf(generateSecretKey()));
  const cases: Array<[string, string, RegExp]> = [
    [tampered, state.pub!, /tampered\.tar\.gz: bin\/dominion-device\.mjs: does not match the signed PACK\.json/],
    [unsigned, state.pub!, /unsigned\.tar\.gz: no PACK\.sig .*not a signed install archive/],
    [extra, state.pub!, /extra\.tar\.gz: bin\/helper\.mjs: in the archive but not listed in the signed PACK\.json/],
    [state.archive!, other, /dominion-sim-3\.tar\.gz: PACK\.json: is signed by key [0-9a-f]{32}, not by the pinned release key/],
  ];
  for (const [archive, pub, why] of cases) {
    const target = join(root, `refused-${archive.length}-${pub.slice(0, 6)}`);
    const r = await run(installCommand, [archive, '--release-pub', pub, '--root', target]);
    assert.equal(r.code, 1, `${archive}: ${r.out.join('\n')}`);
    assert.equal(r.err.length, 1, r.err.join('\n'));
    assert.match(r.err[0]!, why);
    assert.match(r.err[0]!, /^dominion install: .*nothing installed$/);
    assert.equal(existsSync(target), false, 'nothing laid out');
  }
  // --check verifies without laying anything out.
  const check = await run(installCommand, [state.archive!, '--release-pub', state.pub!, '--check', '--root', join(root, 'checked')]);
  assert.equal(check.code, 0);
  assert.match(check.out.join('\n'), /verified: board sim release 3/);
  assert.equal(existsSync(join(root, 'checked')), false);
});

test('install.sh (from the archive, by sh) lays out what dominion install does; a reinstall replaces the prefix and keeps /etc/dominion and /var/lib/dominion', async () => {
  const byCli = join(root, 'by-cli');
  const byScript = join(root, 'by-script');
  const unpacked = join(root, 'unpacked');
  mkdirSync(unpacked);
  const tar = spawnSync('tar', ['xzf', state.archive!, '-C', unpacked], { encoding: 'utf8' });
  assert.equal(tar.status, 0, tar.stderr);
  // The release key pinned in a provisioning file does as well as --release-pub.
  const prov = JSON.parse(readFileSync(state.hubs!.provision, 'utf8')) as Record<string, unknown>;
  const pinned = join(root, 'pinned.provision.json');
  writeFileSync(pinned, JSON.stringify({ ...prov, releaseKey: state.pub }));
  copyFileSync(join(root, `${DEVICE}.keys.json`), join(root, 'pinned.keys.json'));

  for (const prefix of [undefined, '/usr/local/dominion']) {
    const extra = prefix === undefined ? [] : ['--prefix', prefix];
    const cli = await run(installCommand, [state.archive!, '--provision', pinned, '--root', byCli, ...extra]);
    assert.equal(cli.code, 0, cli.err.join('\n'));
    const sh = spawnSync('sh', [join(unpacked, 'dominion-sim-3', 'install.sh'), '--root', byScript, ...extra], { encoding: 'utf8' });
    assert.equal(sh.status, 0, sh.stderr);
    assert.match(sh.stdout, /installed dominion sim release 3/);
    assert.deepEqual(listing(byScript), listing(byCli));
  }
  const unit = readFileSync(join(byCli, 'etc/systemd/system/dominion-sim.service'), 'utf8');
  assert.match(
    unit,
    /^ExecStart=\S+ .*\/usr\/local\/dominion\/bin\/dominion-device\.mjs device --board sim --artifacts \/usr\/local\/dominion\/dist\/sim /m,
  );
  assert.doesNotMatch(unit, /\/opt\/dominion/);

  // A reinstall: what the operator put in the kept folders stays; the prefix is the archive's alone.
  for (const target of [byCli, byScript]) {
    writeFileSync(join(target, 'etc/dominion/provision.json'), '{}');
    writeFileSync(join(target, 'var/lib/dominion/state'), 'kept');
    writeFileSync(join(target, 'opt/dominion/stray'), 'gone');
  }
  assert.equal((await run(installCommand, [state.archive!, '--release-pub', state.pub!, '--root', byCli])).code, 0);
  assert.equal(spawnSync('sh', [join(unpacked, 'dominion-sim-3', 'install.sh'), '--root', byScript]).status, 0);
  for (const target of [byCli, byScript]) {
    assert.equal(readFileSync(join(target, 'etc/dominion/provision.json'), 'utf8'), '{}');
    assert.equal(readFileSync(join(target, 'var/lib/dominion/state'), 'utf8'), 'kept');
    assert.equal(existsSync(join(target, 'opt/dominion/stray')), false);
    assert.deepEqual(readdirSync(join(target, 'opt')).sort(), ['dominion']);
  }
  assert.deepEqual(listing(byScript), listing(byCli));

  // install.sh refuses a damaged copy (its SHA512SUMS check) before touching anything.
  writeFileSync(join(unpacked, 'dominion-sim-3', 'dist/sim/sw.mjs'), 'damaged');
  const damaged = spawnSync('sh', [join(unpacked, 'dominion-sim-3', 'install.sh'), '--root', join(root, 'damaged')], { encoding: 'utf8' });
  assert.equal(damaged.status, 1);
  assert.match(damaged.stderr, /damaged copy, nothing installed/);
  assert.equal(existsSync(join(root, 'damaged')), false);
});

test('pack refuses artifacts that do not verify; packing the same verified artifacts again gives the same bytes', async () => {
  const built = join(root, 'out', 'sim');
  const again = await run(packCommand, [
    '--board',
    'sim',
    '--release-key',
    join(root, 'release.key'),
    '--artifacts',
    built,
    '--out',
    join(root, 'again'),
  ]);
  assert.equal(again.code, 0, again.err.join('\n'));
  assert.deepEqual(readFileSync(join(root, 'again', 'dominion-sim-3.tar.gz')), readFileSync(state.archive!));

  const bad = join(root, 'bad-dist');
  mkdirSync(join(bad, 'sim'), { recursive: true });
  for (const name of readdirSync(built)) copyFileSync(join(built, name), join(bad, 'sim', name));
  writeFileSync(join(bad, 'sim', 'sm-sensor.mjs'), 'export const x = 1;');
  const r = await run(packCommand, [
    '--board',
    'sim',
    '--release-key',
    join(root, 'release.key'),
    '--artifacts',
    join(bad, 'sim'),
    '--out',
    join(root, 'refused'),
  ]);
  assert.equal(r.code, 1);
  assert.match(r.err.join('\n'), /sm-sensor\.mjs: does not match the signed manifest.*nothing packed/);
  assert.equal(existsSync(join(root, 'refused', 'dominion-sim-3.tar.gz')), false);

  const wrongVersion = await run(packCommand, [
    '--board',
    'sim',
    '--release-key',
    join(root, 'release.key'),
    '--artifacts',
    built,
    '--release-version',
    '4',
    '--out',
    join(root, 'v4'),
  ]);
  assert.equal(wrongVersion.code, 1);
  assert.match(wrongVersion.err.join('\n'), /holds release 3, not --release-version 4/);
});

test('the archive reader takes plain files and folders under one relative path only', () => {
  const file = (path: string): TarEntry => ({ path, type: 'file', mode: 0o644, bytes: new Uint8Array([1]) });
  assert.deepEqual(
    readTarGz(writeTarGz([file('a/b')], 0)).map((e) => e.path),
    ['a/b'],
  );
  assert.throws(() => readTarGz(writeTarGz([file('a/../../etc/passwd')], 0)), /unsafe path/);
  assert.throws(() => readTarGz(writeTarGz([file('/etc/passwd')], 0)), /unsafe path/);
  assert.throws(() => readTarGz(new Uint8Array([1, 2, 3])), /not a gzip archive/);
  // A symbolic link (type 2) is refused, whatever it points to: made with the system tar.
  const dir = join(root, 'links');
  mkdirSync(join(dir, 'top'), { recursive: true });
  spawnSync('ln', ['-s', '/etc/passwd', join(dir, 'top', 'link')]);
  const tgz = join(root, 'links.tar.gz');
  assert.equal(spawnSync('tar', ['--format=ustar', '-czf', tgz, '-C', dir, 'top']).status, 0);
  assert.throws(() => readTarGz(readFileSync(tgz)), /"top\/link" is not a plain file or folder \(tar type "2"\)/);
});
