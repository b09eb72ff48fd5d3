/**
 * `dominion device --watchdog simulated`: a board with a linux watchdog (rpi-zero-2w, `split`
 * placement, generous deadlines) run off-device, on this machine without /dev/watchdog, as a real
 * child process against hubs on an embedded broker: it says loudly that the board's watchdog is not
 * used, and the device gets its tickets. Any other `--watchdog` value is a usage error.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hex } from '../../actors/crypto/index.ts';
import { loadBoard, type BoardProfile } from '../../boards/index.ts';
import { buildBoard, type BuildResult } from '../../build/index.ts';
import type { SlottedImages } from '../../actors/device/index.ts';
import { withSimulatedWatchdog } from '../../cli/watchdog-override.ts';
import { generousBoard, GENEROUS_DEFERRAL_MS } from './processes.ts';
import { provisionedHubs, releaseKeyFile, runDeviceCli, tempDir, type ProvisionedHubs } from './support.ts';

const root = tempDir('device-watchdog');
// rpi-zero-2w's id, placement and linux watchdog; the sim board's budgets and generous deadlines, so
// domain processes run from sources (tsx) come up in time on a loaded machine.
const shipped = loadBoard('rpi-zero-2w');
const board: BoardProfile = { ...generousBoard(shipped.placement), id: shipped.id, watchdog: shipped.watchdog };
let built: BuildResult;
let hubs: ProvisionedHubs;

before(async () => {
  const { file } = releaseKeyFile(root);
  built = await buildBoard({ board, outDir: join(root, 'dist'), releaseKey: file });
  hubs = await provisionedHubs(root, 'pi-wd', GENEROUS_DEFERRAL_MS, board.services);
});

after(async () => {
  await hubs.stop();
  rmSync(root, { recursive: true, force: true });
});

function runDevice(watchdog: string[], until: (line: string) => boolean): Promise<{ code: number | null; out: string[]; err: string }> {
  return runDeviceCli(
    [
      '--board',
      board.id,
      '--artifacts',
      built.dir,
      '--provision',
      hubs.provision,
      '--release-pub',
      hex(built.releaseKey.publicKey),
      '--data-dir',
      join(root, 'data'),
      '--same-user',
      '--duration',
      '120', // an upper bound only: the test stops the device once it saw its ticket
      ...watchdog,
    ],
    until,
  );
}

test('the board built here has a linux watchdog', () => {
  assert.equal(built.manifest.board, 'rpi-zero-2w');
  assert.equal(board.watchdog.backend, 'linux');
});

test('--watchdog simulated runs a linux-watchdog board off-device, saying so on stderr', async () => {
  const { code, out, err } = await runDevice(['--watchdog', 'simulated'], (line) => / device: ticket/.test(line));
  assert.equal(code, 0, `${out.join('\n')}\n${err}`);
  assert.match(out[0]!, /on board rpi-zero-2w \(split placement\): artifacts .* verified/);
  assert.ok(
    out.some((l) => / device: ticket/.test(l)),
    out.join('\n'),
  );
  assert.match(
    err,
    /WARN +device \S+: --watchdog simulated: the board's linux watchdog is NOT used; the strong-dominance bound holds only while this process runs — for development and tests, never on a board/,
  );
});

test('on a board simulated already, --watchdog simulated changes nothing and says nothing', () => {
  // Only the board matters here; the rest of the slots is never looked at.
  const slotted = { board: loadBoard('sim') } as unknown as SlottedImages;
  const r = withSimulatedWatchdog(slotted);
  assert.equal(r.slotted, slotted);
  assert.equal(r.warning, undefined);
  const linux = withSimulatedWatchdog({ board } as unknown as SlottedImages);
  assert.deepEqual(linux.slotted.board.watchdog, { backend: 'simulated' });
  assert.equal(board.watchdog.backend, 'linux', 'the verified board itself is left as it was');
});

test('--watchdog takes only "simulated": any other value is a usage error (exit 2) and nothing starts', async () => {
  for (const value of ['linux', 'foo']) {
    const { code, out, err } = await runDevice(['--watchdog', value], () => false);
    assert.equal(code, 2, err);
    assert.match(err, new RegExp(`--watchdog takes only "simulated".*got "${value}"`));
    assert.deepEqual(out, [], 'nothing starts');
  }
});
