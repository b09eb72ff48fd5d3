/**
 * What the operator sees when a command goes wrong: `dominion --version`; every usage mistake exits 2
 * with one line and a pointer to the command's --help; a path that cannot be used is one line naming
 * it, exit 1 — never Node's raw parseArgs or ENOENT text.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runDominion, ROOT } from '../hub/child.ts';
import { tempDir } from '../hub/fixtures.ts';
import { reportError } from '../../cli/report.ts';
import { UsageError } from '../../cli/args.ts';
import { build } from '../../cli/build.ts';
import { benchCommand } from '../../cli/bench.ts';
import { deviceCommand } from '../../cli/device.ts';
import { usersCommand } from '../../cli/users.ts';
import { keysCommand } from '../../cli/keys.ts';
import { enrollCommand } from '../../cli/enroll.ts';

const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** stderr of a usage error: exactly the message line and the pointer to `<command> --help`. */
function assertUsage(r: { code: number | string; stdout: string; stderr: string }, command: string, message: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0]!, new RegExp(`^dominion: ${command}: `));
  assert.match(lines[0]!, message);
  assert.equal(lines[1], `Run "dominion ${command} --help" for usage.`);
}

/** stderr of a failure: one line, `dominion <command>: …`, exit 1. */
function assertFailure(r: { code: number | string; stderr: string }, command: string, message: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, new RegExp(`^dominion ${command}: `));
  assert.match(lines[0]!, message);
  assert.doesNotMatch(lines[0]!, /\b(ENOENT|ENOTDIR|EISDIR|EEXIST): /, 'no raw Node error text');
}

describe('dominion --version', () => {
  it('prints the package version and the Node.js version, exit 0, as --version, -V and version', async () => {
    const runs = await Promise.all([runDominion(['--version']), runDominion(['-V']), runDominion(['version'])]);
    for (const r of runs) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `dominion ${version} (Node.js ${process.version})\n`);
      assert.equal(r.stderr, '');
    }
  });
});

describe('usage errors: exit 2, one line, a pointer to --help', () => {
  it('up: a negative --duration, a bad number, an unknown option, a missing value; nothing started', async () => {
    const [negative, joined, unknown, missing] = await Promise.all([
      runDominion(['up', '--duration', '-1']),
      runDominion(['up', '--duration=-1']),
      runDominion(['up', '--frobnicate']),
      runDominion(['up', '--interval']),
    ]);
    assertUsage(negative, 'up', /--duration is missing its value \(write a value that starts with "-" as --duration=<value>\)/);
    assertUsage(joined, 'up', /--duration must be a number from 0 to 604800, got "-1"/);
    assertUsage(unknown, 'up', /Unknown option '--frobnicate'/);
    assertUsage(missing, 'up', /--interval needs a value/);
    for (const r of [negative, joined, unknown, missing]) assert.doesNotMatch(r.stdout, /broker/, 'no broker started');
  });

  it('hub: --activity-flush out of range, and with a PostgreSQL --db (a SQLite option)', async () => {
    const [range, pg] = await Promise.all([
      runDominion(['hub', '--role', 'ih', '--id', 'ih1', '--broker', 'mqtt://127.0.0.1:1', '--db', 'ih.db', '--activity-flush', '600001']),
      runDominion([
        'hub',
        '--role',
        'ih',
        '--id',
        'ih1',
        '--broker',
        'mqtt://127.0.0.1:1',
        '--db',
        'postgres://127.0.0.1:1/x',
        '--key',
        'k.json',
        '--activity-flush',
        '0',
      ]),
    ]);
    assertUsage(range, 'hub', /--activity-flush must be an integer from 0 to 60000, got "600001"/);
    assertUsage(pg, 'hub', /--activity-flush is for a SQLite --db only/);
  });

  it('every command in the table answers an unknown option the same way', async () => {
    const help = await runDominion(['--help']);
    const names = [...help.stdout.matchAll(/^ {2}([a-z-]+) /gm)].map((m) => m[1]!);
    assert.ok(names.length >= 20 && names.includes('up') && names.includes('build') && names.includes('version'), help.stdout);
    // A few at a time: each is a Node process with tsx.
    for (let i = 0; i < names.length; i += 4) {
      const batch = names.slice(i, i + 4);
      const results = await Promise.all(batch.map((name) => runDominion([name, '--no-such-option'])));
      batch.forEach((name, j) => assertUsage(results[j]!, name, /Unknown option '--no-such-option'/));
    }
  });

  it('bad numbers, missing options, stray arguments, unknown boards: in-process, the same lines', async () => {
    const cases: [string, Promise<number>, RegExp][] = [
      ['build', build(['--board', 'sim', '--release-version', 'x']), /--release-version must be an integer of at least 1/],
      ['build', build(['--board', 'sim', 'extra']), /expected no positional arguments, got "extra"/],
      ['bench', benchCommand(['--board', 'sim', '--seconds', 'x']), /--seconds must be a number from 2 to 3600/],
      ['bench', benchCommand([]), /--board is required/],
      ['device', deviceCommand(['--board', 'sim']), /--board and --provision are required/],
      ['device', deviceCommand(['--board', 'sim', 'extra']), /expected no positional arguments, got "extra"/],
      ['users', usersCommand(['--board', 'rpi5']), /unknown board "rpi5" \(known: .*sim\)/],
    ];
    for (const [command, running, message] of cases) {
      const err = await running.then(
        () => assert.fail(`${command} should have refused`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof UsageError, String(err));
      const report = reportError(command, err);
      assert.equal(report.code, 2);
      assert.equal(report.lines.length, 2, report.lines.join('\n'));
      assert.match(report.lines[0]!, new RegExp(`^dominion: ${command}: `));
      assert.match(report.lines[0]!, message);
      assert.equal(report.lines[1], `Run "dominion ${command} --help" for usage.`);
    }
  });
});

describe('paths that cannot be used: one line naming the path, exit 1', () => {
  it('build --out into a missing parent folder, or under a file', async () => {
    const dir = tempDir('dominion-cli-');
    writeFileSync(join(dir, 'file'), 'x');
    const missing = join(dir, 'no-such-dir', 'out');
    const [r, underFile] = await Promise.all([
      runDominion(['build', '--board', 'sim', '--out', missing]),
      runDominion(['build', '--board', 'sim', '--out', join(dir, 'file', 'out')]),
    ]);
    assertFailure(r, 'build', new RegExp(`--out ${missing}: its parent folder ${join(dir, 'no-such-dir')} does not exist$`));
    assertFailure(underFile, 'build', /file\/out: .*file is not a folder$/);
    assert.ok(!existsSync(join(dir, '.release-key')), 'no key made before the refusal');
  });

  it('keys --out under a file, hub --key a folder, up --data-dir a file (before any broker starts)', async () => {
    const dir = tempDir('dominion-cli-');
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    mkdirSync(join(dir, 'folder'));
    const [keys, hub, up] = await Promise.all([
      runDominion(['keys', 'new', '--device', 'pi-1', '--out', join(file, 'keys')]),
      runDominion([
        'hub',
        '--role',
        'ih',
        '--id',
        'ih-1',
        '--broker',
        'mqtt://127.0.0.1:9',
        '--db',
        join(dir, 'ih.db'),
        '--key',
        join(dir, 'folder'),
      ]),
      runDominion(['up', '--data-dir', file, '--duration', '1']),
    ]);
    assertFailure(keys, 'keys', new RegExp(`${file}/keys: cannot create the folder: a part of the path is not a folder$`));
    assertFailure(hub, 'hub', new RegExp(`${join(dir, 'folder')}: is a folder, not a key file$`));
    assertFailure(up, 'up', new RegExp(`--data-dir ${file}: exists and is not a folder$`));
    assert.equal(up.stdout, '', 'no broker started');
  });

  it('enroll --out into a missing folder is refused before any hub database changes', async () => {
    const dir = tempDir('dominion-cli-');
    const k = join(dir, 'keys');
    const io = { out: () => undefined, err: () => undefined };
    assert.equal(await keysCommand(['new', '--device', 'pi-1', '--services', '', '--without-mm', '--out', k], io), 0);
    assert.equal(await keysCommand(['new', '--hub', 'ih-1', '--role', 'ih', '--out', k], io), 0);
    const errors: string[] = [];
    const db = join(dir, 'ih.db');
    const out = join(dir, 'missing', 'pi-1.provision.json');
    const code = await enrollCommand(['--device', join(k, 'pi-1.pub.json'), '--hub', `${join(k, 'ih-1.pub.json')}=${db}`, '--out', out], {
      out: () => undefined,
      err: (l) => void errors.push(l),
    });
    assert.equal(code, 1);
    assert.deepEqual(errors, [`dominion enroll: --out ${out}: its folder ${join(dir, 'missing')} does not exist`]);
    assert.ok(!existsSync(db), 'the hub database was not touched');
  });

  it('any fs error a command throws is reported as <command>: <path>: <what went wrong>', () => {
    const path = join(tempDir('dominion-cli-'), 'absent.json');
    let err: unknown;
    try {
      readFileSync(path);
    } catch (e) {
      err = e;
    }
    assert.deepEqual(reportError('policy', err), { code: 1, lines: [`dominion policy: ${path}: cannot open: no such file or folder`] });
    assert.deepEqual(reportError('hub', new Error('hub: something broke')), { code: 1, lines: ['dominion hub: something broke'] });
  });
});
