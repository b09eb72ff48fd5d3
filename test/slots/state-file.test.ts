/**
 * The boot state file (actors/slots/state-file.ts): a power cut at every single step of a write
 * leaves the old state or the new one, never a mix or an error; whatever else is on the disk gives
 * a typed `corrupt`, and an oversized file is refused without being read.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  beginDownload,
  BootStateError,
  BootStateFile,
  initialState,
  installedTrial,
  MAX_STATE_BYTES,
  nodeFs,
  startBoot,
  type BootState,
  type SlotFs,
} from '../../actors/slots/index.ts';
import { copyOf, FaultFs, PowerCut, tempDir } from './fixtures.ts';

const root = tempDir('state-file');
after(() => rmSync(root, { recursive: true, force: true }));

const OLD = initialState({ sw: 1, hypervisor: 1, mm: 4, 'sm:sensor': 2 });
const NEW = startBoot(installedTrial(beginDownload(OLD, 'mm', 5), 'mm', 'b', 5), 'mm').state;

const corrupt = (e: unknown) => e instanceof BootStateError && e.code === 'corrupt';

/** A dir holding `state` (or nothing) in `<dir>/boot-state.json`. */
function dirWith(name: string, state?: BootState): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  if (state !== undefined) new BootStateFile(join(dir, 'boot-state.json')).write(state);
  return dir;
}

describe('boot state file', () => {
  it('reads nothing when there is no file, and reads back exactly what it wrote', () => {
    const file = new BootStateFile(join(dirWith('roundtrip'), 'boot-state.json'));
    assert.equal(file.read(), undefined);
    file.write(NEW);
    assert.deepEqual(file.read(), NEW);
    assert.doesNotThrow(() => JSON.parse(readFileSync(file.path, 'utf8')));
  });

  it('writes with temp file, fsync, rename and a directory fsync, in that order', () => {
    const dir = dirWith('order', OLD);
    const fs = new FaultFs();
    new BootStateFile(join(dir, 'boot-state.json'), fs).write(NEW);
    const path = join(dir, 'boot-state.json');
    const ops = fs.log.filter((l) => !l.startsWith('mkdir')).map((l) => l.split(' ')[0]);
    assert.deepEqual(ops, ['open-w', 'write', 'fsync', 'close', 'rename', 'open-r', 'fsync', 'close']);
    assert.equal(
      fs.log.find((l) => l.startsWith('open-w')),
      `open-w ${path}.tmp`,
    );
    assert.equal(fs.renamesOnto(path), 1);
    assert.equal(fs.log.at(-2), `fsync ${dir}`);
  });

  for (const [name, before] of [
    ['over an old state', OLD],
    ['on a first start', undefined],
  ] as const) {
    it(`a power cut at every step of a write ${name} leaves the old state or the new one`, () => {
      const pristine = dirWith(`cut-${before === undefined ? 'first' : 'old'}`, before);
      const dry = new FaultFs();
      new BootStateFile(join(copyOf(pristine, 'dry'), 'boot-state.json'), dry).write(NEW);
      assert.ok(dry.calls >= 8, `a write takes ${dry.calls} steps`);
      const seen = new Set<string>();
      for (let cut = 1; cut <= dry.calls; cut++) {
        const dir = copyOf(pristine, `cut${cut}`);
        const path = join(dir, 'boot-state.json');
        assert.throws(() => new BootStateFile(path, new FaultFs(cut)).write(NEW), PowerCut);
        // After the power comes back: the real file system, a fresh reader.
        const after = new BootStateFile(path).read();
        if (after === undefined) {
          assert.equal(before, undefined, `cut at step ${cut} lost the old state`);
          seen.add('none');
        } else if (JSON.stringify(after) === JSON.stringify(NEW)) {
          seen.add('new');
        } else {
          assert.deepEqual(after, before, `cut at step ${cut} left neither the old state nor the new one`);
          seen.add('old');
        }
        // And the next write succeeds over whatever the cut left (a torn temp file, say).
        new BootStateFile(path).write(NEW);
        assert.deepEqual(new BootStateFile(path).read(), NEW);
        rmSync(dir, { recursive: true, force: true });
      }
      assert.deepEqual([...seen].sort(), [before === undefined ? 'none' : 'old', 'new'].sort(), 'both outcomes occur');
    });
  }

  it('refuses whatever is not a boot state with a typed corrupt error', () => {
    const dir = dirWith('corrupt');
    const path = join(dir, 'boot-state.json');
    const good = JSON.parse(JSON.stringify(NEW)) as { domains: Record<string, Record<string, unknown>> };
    const mutate = (f: (s: typeof good) => void): string => {
      const s = JSON.parse(JSON.stringify(good)) as typeof good;
      f(s);
      return JSON.stringify(s);
    };
    const bad: Array<[string, string | Uint8Array]> = [
      ['empty', ''],
      ['garbage', 'not json {'],
      ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0x7d])],
      ['an array', '[]'],
      ['another format', JSON.stringify({ ...good, format: 'dominion-boot-state/2' })],
      ['an unknown field', JSON.stringify({ ...good, extra: 1 })],
      ['domains not an object', JSON.stringify({ format: 'dominion-boot-state/1', domains: [] })],
      ['a bad label', mutate((s) => (s.domains.device = s.domains.sw!))],
      ['a __proto__ label', JSON.stringify(good).replace('"sw":', '"__proto__":')],
      ['active slot c', mutate((s) => (s.domains.sw!.active = 'c'))],
      ['a version string', mutate((s) => (s.domains.sw!.versions = { a: '1' }))],
      ['a third slot', mutate((s) => (s.domains.sw!.versions = { a: 1, c: 1 }))],
      ['no version for the active slot', mutate((s) => (s.domains.sw!.versions = { b: 1 }))],
      ['the active slot below the floor', mutate((s) => (s.domains.sw!.minVersion = 2))],
      ['an unknown domain field', mutate((s) => (s.domains.sw!.bootCount = 1))],
      ['a trial in the active slot', mutate((s) => ((s.domains.mm!.trial as Record<string, unknown>).slot = 'a'))],
      ['a trial version not in its slot', mutate((s) => ((s.domains.mm!.trial as Record<string, unknown>).version = 6))],
      ['negative tries', mutate((s) => ((s.domains.mm!.trial as Record<string, unknown>).triesLeft = -1))],
      ['a trial without its update', mutate((s) => delete s.domains.mm!.update)],
      ['a trial phase without a trial', mutate((s) => delete s.domains.mm!.trial)],
      ['an unknown phase', mutate((s) => ((s.domains.mm!.update as Record<string, unknown>).phase = 'done'))],
      ['a detail with control characters', mutate((s) => ((s.domains.mm!.update as Record<string, unknown>).detail = 'a\u0000b'))],
      ['a detail too long', mutate((s) => ((s.domains.mm!.update as Record<string, unknown>).detail = 'x'.repeat(257)))],
    ];
    for (const [what, bytes] of bad) {
      writeFileSync(path, bytes);
      assert.throws(() => new BootStateFile(path).read(), corrupt, what);
    }
    rmSync(path);
    mkdirSync(path);
    assert.throws(() => new BootStateFile(path).read(), corrupt, 'a directory');
    rmSync(path, { recursive: true });
    writeFileSync(join(dir, 'elsewhere.json'), JSON.stringify(NEW));
    symlinkSync(join(dir, 'elsewhere.json'), path);
    assert.throws(() => new BootStateFile(path).read(), corrupt, 'a symbolic link, even to a valid state');
  });

  it('refuses an oversized file without reading it', () => {
    const path = join(dirWith('huge'), 'boot-state.json');
    writeFileSync(path, Buffer.alloc(MAX_STATE_BYTES + 1, 0x20));
    const fs = new FaultFs();
    assert.throws(() => new BootStateFile(path, fs).read(), corrupt);
    assert.equal(fs.bytesRead, 0);
    writeFileSync(path, Buffer.alloc(64 * 1024 * 1024, 0x20));
    assert.throws(() => new BootStateFile(path, fs).read(), corrupt);
    assert.equal(fs.bytesRead, 0, 'not a byte of 64 MiB read');
  });

  it('an I/O error is unreadable, not corrupt; an invalid state is never written', () => {
    const path = join(dirWith('eacces', NEW), 'boot-state.json');
    const denied: SlotFs = {
      ...nodeFs,
      openSync: () => {
        throw Object.assign(new Error('permission denied'), { code: 'EACCES' });
      },
    };
    assert.throws(
      () => new BootStateFile(path, denied).read(),
      (e: unknown) => e instanceof BootStateError && e.code === 'unreadable',
    );
    const invalid = {
      format: 'dominion-boot-state/1',
      domains: { mm: { active: 'a', versions: {}, minVersion: 1 } },
    } as unknown as BootState;
    const fs = new FaultFs();
    assert.throws(() => new BootStateFile(path, fs).write(invalid), corrupt);
    assert.equal(fs.calls, 0, 'refused before touching the disk');
    assert.deepEqual(new BootStateFile(path).read(), NEW);
  });

  it('moves a corrupt file aside', () => {
    const path = join(dirWith('aside'), 'boot-state.json');
    writeFileSync(path, 'garbage');
    const file = new BootStateFile(path);
    assert.equal(file.moveAside(), `${path}.corrupt`);
    assert.equal(existsSync(path), false);
    assert.equal(readFileSync(`${path}.corrupt`, 'utf8'), 'garbage');
    assert.equal(file.read(), undefined);
  });
});
