/**
 * `npm start` as a user runs it: `dominion up` in a child process — the embedded broker, SQLite hubs,
 * the sim board's releases built, signed and published, the device booted from its slots — plays the
 * whole default scenario and exits 0 with every step ok. Real time (a child process), at a 1 s
 * interval so a loaded machine has room; each step waits for an event, never for a fixed time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { PROJECT_ROOT } from '../../build/index.ts';

test('npm start: the default scenario ends with every step ok', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'up', '--interval', '1000', '--duration', '110'], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((done) => child.on('exit', (c) => done(c)));
  const summary = out.slice(out.indexOf('scenario summary'));
  const steps = summary.split('\n').filter((l) => /^ {2}(ok|FAIL) /.test(l));
  assert.equal(code, 0, `dominion up failed:\n${out.slice(-4000)}`);
  assert.ok(steps.length >= 17, `every step reported:\n${summary}`);
  assert.deepEqual(
    steps.filter((l) => !l.startsWith('  ok')),
    [],
  );
  for (const step of ['restored from the SH', 'the mm trial commits', 'rolls back to the last good one', 'held in recovery mode'])
    assert.ok(
      steps.some((l) => l.includes(step)),
      `step "${step}" ran`,
    );
  assert.match(out, /rolled-back 3/, 'dominion devices shows the rollback');
});
