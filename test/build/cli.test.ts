/** `dominion build`: help, usage errors, and a build from the command line. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { build } from '../../cli/build.ts';
import { UsageError } from '../../cli/args.ts';
import { PROJECT_ROOT } from '../../build/index.ts';
import { releaseKeyFile, tempDir } from './support.ts';

const root = tempDir('cli');
after(() => rmSync(root, { recursive: true, force: true }));

function capture(): { io: { out: (l: string) => void; err: (l: string) => void }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l) }, out, err };
}

test('dominion build --help lists the options and the boards', () => {
  const r = spawnSync(process.execPath, ['cli/dominion.mjs', 'build', '--help'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^usage: dominion build --board <id> \[options\]/);
  assert.match(r.stdout, /--board <id>\s+one of: nitrogen8m, rpi-zero-2w, rpi3, rpi4, sim/);
  assert.match(r.stdout, /--release-key <file>/);
  const top = spawnSync(process.execPath, ['cli/dominion.mjs', '--help'], { cwd: PROJECT_ROOT, encoding: 'utf8' });
  assert.match(top.stdout, /^\s+build\s+bundle, check and sign a board's artifacts/m);
});

test('usage errors are clear', async () => {
  const c = capture();
  await assert.rejects(
    build([], c.io),
    (e: unknown) =>
      e instanceof UsageError && /--board <id> is required \(one of: nitrogen8m, rpi-zero-2w, rpi3, rpi4, sim\)/.test(e.message),
  );
  await assert.rejects(
    build(['--board', 'rpi5'], c.io),
    (e: unknown) =>
      e instanceof UsageError && e.message === 'build: unknown board "rpi5" (known: nitrogen8m, rpi-zero-2w, rpi3, rpi4, sim)',
  );
  await assert.rejects(
    build(['--board', 'sim', '--bogus'], c.io),
    (e: unknown) => e instanceof UsageError && /Unknown option '--bogus'/.test(e.message),
  );
  const bad = join(root, 'bad.key');
  const r = await build(['--board', 'sim', '--out', join(root, 'x'), '--release-key', bad], c.io);
  assert.equal(r, 1);
  assert.match(c.err.at(-1)!, /^dominion build: cannot read release key .*bad\.key: ENOENT/);
  const shared = join(root, 'shared.key');
  writeFileSync(shared, `${'11'.repeat(32)}\n`, { mode: 0o600 });
  chmodSync(shared, 0o640);
  assert.equal(await build(['--board', 'sim', '--out', join(root, 'x'), '--release-key', shared], c.io), 1);
  assert.match(
    c.err.at(-1)!,
    /^dominion build: release key .*shared\.key is readable by group or others \(mode 640\).*chmod 600 .*shared\.key$/,
  );
  assert.ok(!existsSync(join(root, 'x', 'sim')), 'nothing built');
});

test('a build with the development key: key beside dist (0600), table and public key printed', async () => {
  const c = capture();
  const out = join(root, 'dist');
  assert.equal(await build(['--board', 'rpi-zero-2w', '--out', out], c.io), 0);
  const keyFile = join(root, '.release-key');
  assert.ok(existsSync(keyFile));
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  assert.match(c.err.join('\n'), /warning: created a development release key .*\.release-key/);
  const text = c.out.join('\n');
  assert.match(text, /board rpi-zero-2w \(Raspberry Pi Zero 2 W \(512 MB\)\), target node20/);
  assert.match(text, /sm-sensor\.mjs\s+sm:sensor/);
  const pub = readFileSync(join(out, 'rpi-zero-2w', 'release-key.pub'), 'utf8').trim();
  assert.match(text, new RegExp(`release public key ${pub} \\(pin it in devices: dominion enroll --release-pub <this key>\\)`));
  assert.ok(!existsSync(join(out, 'rpi-zero-2w', '.release-key')));

  const c2 = capture();
  const { file } = releaseKeyFile(root);
  assert.equal(await build(['--board', 'rpi-zero-2w', '--out', out, '--release-key', file], c2.io), 0);
  assert.deepEqual(c2.err, [], 'no warning with a real key');
});
