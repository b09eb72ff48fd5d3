/**
 * `dominion device` as a user runs it: a real child process, the sim board's built artifacts, a
 * provisioning file and key file, hubs on an embedded broker. A tampered bundle is refused, naming
 * the file, before anything starts.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hex } from '../../actors/crypto/index.ts';
import { buildBoard, type BuildResult } from '../../build/index.ts';
import { provisionedHubs, releaseKeyFile, runDeviceCli, tempDir, type ProvisionedHubs } from './support.ts';

const root = tempDir('device-cli');
let built: BuildResult;
let hubs: ProvisionedHubs;
let provision: string;

before(async () => {
  const { file } = releaseKeyFile(root);
  built = await buildBoard({ board: 'sim', outDir: join(root, 'dist'), releaseKey: file });
  hubs = await provisionedHubs(root, 'pi-cli', 3000);
  provision = hubs.provision;
});

after(async () => {
  await hubs.stop();
  rmSync(root, { recursive: true, force: true });
});

function runDevice(
  artifacts: string,
  until: (line: string) => boolean,
  o: { provision?: string; releasePub?: string | null } = {},
): Promise<{ code: number | null; out: string[]; err: string }> {
  const release = o.releasePub === null ? [] : ['--release-pub', o.releasePub ?? hex(built.releaseKey.publicKey)];
  return runDeviceCli(
    [
      '--board',
      'sim',
      '--artifacts',
      artifacts,
      '--provision',
      o.provision ?? provision,
      ...release,
      '--data-dir',
      join(root, 'data'),
      '--duration',
      // An upper bound only (each test stops the device once it saw what it waits for): a loaded CI
      // machine may take a while to get a gated boot granted and every instance its ticket.
      '90',
    ],
    until,
  );
}

test('dominion device runs the verified artifacts: every instance gets tickets over MQTT', async () => {
  const seen = new Set<string>();
  const { code, out } = await runDevice(built.dir, (line) => {
    const m = /(device|mm|sm:sensor): ticket/.exec(line);
    if (m) seen.add(m[1]!);
    return seen.size === 3;
  });
  assert.equal(code, 0, out.join('\n'));
  assert.match(out[0]!, /verified/);
  assert.deepEqual([...seen].sort(), ['device', 'mm', 'sm:sensor'], out.join('\n'));
});

test('a tampered bundle is refused, naming the file, and nothing starts', async () => {
  const bundle = join(built.dir, 'sm-sensor.mjs');
  const original = readFileSync(bundle);
  const tampered = Buffer.from(original);
  tampered[tampered.length - 2] ^= 0x01;
  writeFileSync(bundle, tampered);
  try {
    const { code, out, err } = await runDevice(built.dir, () => false);
    assert.equal(code, 1);
    assert.match(err, /refusing to start: .*sm-sensor\.mjs/);
    assert.ok(!out.some((l) => /boot/.test(l)), 'no domain started');
  } finally {
    writeFileSync(bundle, original);
  }
});

test('the release key pinned in the provisioning file is used without --release-pub; a wrong one refuses the artifacts', async () => {
  const doc = JSON.parse(readFileSync(provision, 'utf8')) as Record<string, unknown>;
  const pinnedFile = join(root, 'pinned.provision.json');
  writeFileSync(pinnedFile, JSON.stringify({ ...doc, releaseKey: hex(built.releaseKey.publicKey) }));
  const ok = await runDevice(built.dir, (line) => / device: ticket/.test(line), { provision: pinnedFile, releasePub: null });
  assert.equal(ok.code, 0, ok.err);
  assert.ok(ok.out.some((l) => / device: ticket/.test(l)));

  const other = await runDevice(built.dir, () => false, { provision: pinnedFile, releasePub: 'ab'.repeat(32) });
  assert.equal(other.code, 1);
  assert.match(other.err, /refusing to start: .*manifest/);

  const none = await runDevice(built.dir, () => false, { releasePub: null });
  assert.equal(none.code, 2);
  assert.match(none.err, /no release key: give --release-pub or enroll with --release-pub/);
});
