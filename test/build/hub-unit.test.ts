/**
 * `dominion hub-unit`: the text of a hub's systemd unit, systemd's own reading of it where
 * systemd-analyze is installed, and its ExecStart run as written (node and install folder pointed at
 * this checkout) starting a hub that comes online on a broker and stops cleanly on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { startEmbeddedBroker } from '../../actors/mqtt/index.ts';
import { hubUnit, HubUnitError, PROJECT_ROOT } from '../../build/index.ts';
import { hubUnitCommand } from '../../cli/hub-unit.ts';
import { keysCommand } from '../../cli/keys.ts';
import { UsageError } from '../../cli/args.ts';
import { tempDir } from './support.ts';

const SH = {
  role: 'sh',
  id: 'sh-sensor',
  service: 'sensor',
  broker: 'mqtts://broker.example:8883',
  db: '/var/lib/dominion-hub/sh-sensor.db',
} as const;
const quiet = { out: () => {}, err: () => {} };

test('the hub unit: restarted on failure within a start limit, its own user and state directory, sandboxed, running dominion hub', () => {
  const unit = hubUnit({
    ...SH,
    brokerCa: '/etc/dominion-hub/ca.crt',
    key: '/var/lib/dominion-hub/sh-sensor.key.json',
    extra: ['--sync', 'full'],
  });
  assert.match(
    unit,
    /^ExecStart=\/usr\/bin\/node \/opt\/dominion-hub\/cli\/dominion\.mjs hub --role sh --id sh-sensor --service sensor --broker mqtts:\/\/broker\.example:8883 --broker-ca \/etc\/dominion-hub\/ca\.crt --db \/var\/lib\/dominion-hub\/sh-sensor\.db --key \/var\/lib\/dominion-hub\/sh-sensor\.key\.json --sync full$/m,
  );
  for (const line of [
    'Restart=on-failure',
    'StartLimitBurst=5',
    'User=dominion-hub',
    'Group=dominion-hub',
    'StateDirectory=dominion-hub',
    'StateDirectoryMode=0700',
    'NoNewPrivileges=yes',
    'CapabilityBoundingSet=',
    'ProtectSystem=strict',
    'PrivateTmp=yes',
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
    'WantedBy=multi-user.target',
  ])
    assert.match(unit, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), line);
  // A database under the state directory needs nothing more; a database elsewhere gets its folder writable.
  assert.doesNotMatch(unit, /ReadWritePaths|--init|MemoryDenyWriteExecute=yes/);
  assert.match(hubUnit({ ...SH, db: '/srv/hubs/sh.db' }), /^ReadWritePaths=\/srv\/hubs$/m);
  // IH: no service.
  assert.match(
    hubUnit({ role: 'ih', id: 'ih-1', broker: SH.broker, db: '/var/lib/dominion-hub/ih.db' }),
    /^Description=dominion hub ih-1 \(IH\)$/m,
  );
});

test('the hub unit refuses what a unit file would misread: relative paths, spaces, $ and %, a role without its service', async () => {
  assert.throws(() => hubUnit({ ...SH, db: 'sh.db' }), HubUnitError);
  assert.throws(() => hubUnit({ ...SH, broker: 'mqtts://a b' }), /must be plain/);
  assert.throws(() => hubUnit({ ...SH, extra: ['--stats', '%h'] }), /must be plain/);
  assert.throws(() => hubUnit({ ...SH, extra: ['$HOME'] }), /must be plain/);
  assert.throws(() => hubUnit({ role: 'sh', id: 'sh-x', broker: SH.broker, db: SH.db }), /--role sh needs --service/);
  await assert.rejects(hubUnitCommand(['--role', 'ih', '--id', 'ih-1', '--broker', SH.broker, '--db', 'ih.db'], quiet), UsageError);
  await assert.rejects(hubUnitCommand(['--role', 'xx', '--id', 'ih-1', '--broker', SH.broker, '--db', SH.db], quiet), UsageError);
});

test('a hub unit on PostgreSQL: the URL as given with % doubled for systemd, no ReadWritePaths, never a password', () => {
  const unit = hubUnit({ ...SH, db: 'postgres://dominion@db.example/fleet?options=-c%20search_path%3Dsh' });
  assert.match(unit, / --db postgres:\/\/dominion@db\.example\/fleet\?options=-c%%20search_path%%3Dsh( |$)/m);
  assert.doesNotMatch(unit, /^ReadWritePaths=/m);
  assert.throws(
    () => hubUnit({ ...SH, db: 'postgres://dominion:s3cret@db.example/fleet' }),
    (e: unknown) => {
      assert.ok(e instanceof HubUnitError && /must not carry a password/.test(e.message));
      assert.doesNotMatch(e.message, /s3cret/);
      return true;
    },
  );
  assert.throws(() => hubUnit({ ...SH, db: 'postgres://db.example/fleet?x=$HOME' }), /must be plain/);
});

test('systemd reads the hub unit without a complaint', (t) => {
  if (spawnSync('systemd-analyze', ['--version']).status !== 0) return t.skip('no systemd-analyze here');
  const dir = tempDir('hub-unit-verify');
  try {
    const file = join(dir, 'dominion-hub-sh-sensor.service');
    writeFileSync(file, hubUnit({ ...SH, node: process.execPath }));
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'no unknown keys, no unparsable values');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the hub unit's ExecStart, run as written, starts a hub that comes online and stops cleanly", async (t) => {
  const dir = tempDir('hub-unit-run');
  const broker = await startEmbeddedBroker({ port: 0 });
  try {
    assert.equal(await keysCommand(['new', '--hub', 'ih-unit', '--role', 'ih', '--out', dir], quiet), 0);
    const out: string[] = [];
    const argv = [
      '--role',
      'ih',
      '--id',
      'ih-unit',
      '--broker',
      broker.url,
      '--db',
      join(dir, 'ih.db'),
      '--key',
      join(dir, 'ih-unit.key.json'),
    ];
    const code = await hubUnitCommand([...argv, '--node', process.execPath, '--install', PROJECT_ROOT, '--out', dir, '--', '--init'], {
      out: (l) => out.push(l),
      err: (l) => out.push(l),
    });
    assert.equal(code, 0, out.join('\n'));
    const unit = readFileSync(join(dir, 'dominion-hub-ih-unit.service'), 'utf8');
    assert.match(unit, new RegExp(`^ReadWritePaths=${dir}$`, 'm'));
    const [node, ...args] = /^ExecStart=(.*)$/m.exec(unit)![1]!.split(' ');
    assert.equal(node, process.execPath);
    const child = spawn(node!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    t.after(() => void (child.exitCode === null && child.kill('SIGKILL')));
    // Not a TTY: one JSON record per line on stderr. cli/hub.ts warns of the missing mm policy in the
    // same run of code that then installs its SIGTERM handler: once that line is out, a SIGTERM is a clean stop.
    const online = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "online" and policy warning within 60 s; stderr: ${err}`)), 60_000);
      let onlineMsg: string | undefined;
      createInterface({ input: child.stderr }).on('line', (line) => {
        err += `${line}\n`;
        const record = JSON.parse(line) as { msg?: string; component?: string };
        assert.equal(record.component, 'hub ih-unit');
        if (/online/.test(record.msg ?? '')) onlineMsg = record.msg;
        if (onlineMsg !== undefined && /no fleet policy for mm/.test(record.msg ?? '')) (clearTimeout(timer), resolve(onlineMsg));
      });
      void exited.then((c) => reject(new Error(`the hub exited with ${c}: ${err}`)));
    });
    assert.match(online, /^ih online: /);
    child.kill('SIGTERM');
    assert.equal(await exited, 0, 'a clean stop: not restarted by Restart=on-failure');
  } finally {
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
