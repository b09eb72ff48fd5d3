/**
 * The slot store (actors/slots/slot-store.ts): a slot holds a release image as shipped; a power cut
 * at every step of an install leaves the slot absent or complete; files are sized before they are
 * read, so a huge or endless file is refused unread; verify catches every kind of tampering.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { bundleFile, MANIFEST_FILE, SIGNATURE_FILE, type ArtifactErrorCode } from '../../actors/release/index.ts';
import { SlotStore, type SlotCheck } from '../../actors/slots/index.ts';
import { BOARD, copyOf, FaultFs, image, KEY, MAX_BUNDLE, PowerCut, releaseKey, tempDir } from './fixtures.ts';

const root = tempDir('store');
after(() => rmSync(root, { recursive: true, force: true }));

const verify = (store: SlotStore, label: string, slot: 'a' | 'b' = 'a'): SlotCheck =>
  store.verify(label, slot, KEY.publicKey, BOARD, MAX_BUNDLE);
const failsWith = (check: SlotCheck, code: ArtifactErrorCode): void => {
  assert.equal(check.ok, false);
  if (!check.ok) assert.equal(check.error.code, code, check.error.message);
};

describe('slot store', () => {
  it('holds a release image as shipped, per label and slot, and reads back the same bytes', () => {
    const store = new SlotStore(join(root, 'layout'));
    const img = image('sm:sensor', 3);
    store.install('sm:sensor', 'b', img);
    assert.deepEqual(readdirSync(join(store.root, 'sm-sensor')), ['b']);
    assert.deepEqual(readdirSync(join(store.root, 'sm-sensor', 'b')).sort(), [MANIFEST_FILE, SIGNATURE_FILE, 'sm-sensor.mjs'].sort());
    assert.deepEqual(store.read('sm:sensor', 'b', MAX_BUNDLE), img);
    assert.equal(store.read('sm:sensor', 'a', MAX_BUNDLE), undefined, 'an absent slot');
    failsWith(verify(store, 'sm:sensor', 'a'), 'missing');
    const ok = verify(store, 'sm:sensor', 'b');
    assert.ok(ok.ok);
    assert.equal(ok.image.version, 3);
    assert.deepEqual(ok.bytes, img);
    store.install('mm', 'a', image('mm', 1));
    assert.deepEqual(store.labels(), ['mm', 'sm:sensor']);
  });

  it('verify refuses a flipped byte, another key, another board, another label, a missing file', () => {
    const store = new SlotStore(join(root, 'tamper'));
    store.install('mm', 'a', image('mm', 2));
    const bundle = join(store.slotDir('mm', 'a'), bundleFile('mm'));
    const bytes = readFileSync(bundle);
    bytes[5] ^= 1;
    writeFileSync(bundle, bytes);
    failsWith(verify(store, 'mm'), 'digest-mismatch');
    store.install('mm', 'a', image('mm', 2, { key: releaseKey() }));
    failsWith(verify(store, 'mm'), 'wrong-key');
    store.install('mm', 'a', image('mm', 2, { board: 'rpi4' }));
    failsWith(verify(store, 'mm'), 'malformed');
    store.install('mm', 'a', image('sw', 2));
    failsWith(verify(store, 'mm'), 'missing');
    store.install('mm', 'a', image('mm', 2));
    assert.ok(verify(store, 'mm').ok);
    rmSync(join(store.slotDir('mm', 'a'), SIGNATURE_FILE));
    failsWith(verify(store, 'mm'), 'missing');
  });

  for (const [name, before] of [
    ['over an older image', 1],
    ['into an empty slot', undefined],
  ] as const) {
    it(`a power cut at every step of an install ${name} leaves the slot absent or complete`, () => {
      const pristine = join(root, `pristine-${name.replace(/ /g, '-')}`);
      if (before !== undefined) new SlotStore(pristine).install('mm', 'b', image('mm', before));
      else new SlotStore(pristine).install('sw', 'a', image('sw', 1));
      const next = image('mm', 2);
      const dry = new FaultFs();
      new SlotStore(copyOf(pristine, 'dry'), dry).install('mm', 'b', next);
      const seen = new Set<string>();
      for (let cut = 1; cut <= dry.calls; cut++) {
        const dir = copyOf(pristine, `cut${cut}`);
        assert.throws(() => new SlotStore(dir, new FaultFs(cut)).install('mm', 'b', next), PowerCut);
        const store = new SlotStore(dir);
        const check = verify(store, 'mm', 'b');
        if (store.read('mm', 'b', MAX_BUNDLE) === undefined) seen.add('absent');
        else {
          assert.ok(check.ok, `cut at step ${cut} left a half-written slot: ${check.ok ? '' : check.error.message}`);
          assert.ok(check.image.version === 2 || check.image.version === before, `cut at step ${cut}`);
          seen.add(`v${check.image.version}`);
        }
        // The next install goes through, and clears what the cut left behind.
        store.install('mm', 'b', next);
        assert.ok(verify(store, 'mm', 'b').ok);
        assert.deepEqual(readdirSync(join(dir, 'mm')), ['b'], `cut at step ${cut}: stale staging removed`);
        rmSync(dir, { recursive: true, force: true });
      }
      assert.ok(seen.has('absent') && seen.has('v2'), [...seen].join());
      if (before !== undefined) assert.ok(seen.has(`v${before}`));
    });
  }

  it('refuses an oversized bundle without reading it', () => {
    const store = new SlotStore(join(root, 'huge'));
    store.install('mm', 'a', image('mm', 1));
    const bundle = join(store.slotDir('mm', 'a'), bundleFile('mm'));
    writeFileSync(bundle, Buffer.alloc(64 * 1024 * 1024, 0x41));
    const fs = new FaultFs();
    const check = new SlotStore(store.root, fs).verify('mm', 'a', KEY.publicKey, BOARD, MAX_BUNDLE);
    failsWith(check, 'digest-mismatch');
    assert.match(check.ok ? '' : check.error.message, /67108864 bytes, more than the 4096 allowed; not read/);
    assert.ok(fs.bytesRead < 4096, `read ${fs.bytesRead} bytes (the manifest and signature only)`);
    assert.equal(fs.log.filter((l) => l === `read ${bundle}`).length, 0, 'not one read of the bundle');
    // One byte over the cap is as good as 64 MiB over it.
    writeFileSync(bundle, Buffer.alloc(MAX_BUNDLE + 1, 0x41));
    failsWith(verify(store, 'mm'), 'digest-mismatch');
  });

  it('refuses a FIFO or a symbolic link to an endless device without blocking or reading', () => {
    const store = new SlotStore(join(root, 'endless'));
    store.install('mm', 'a', image('mm', 1));
    const bundle = join(store.slotDir('mm', 'a'), bundleFile('mm'));
    rmSync(bundle);
    symlinkSync('/dev/zero', bundle);
    failsWith(verify(store, 'mm'), 'digest-mismatch');
    rmSync(bundle);
    assert.equal(spawnSync('mkfifo', [bundle]).status, 0);
    const fs = new FaultFs();
    failsWith(new SlotStore(store.root, fs).verify('mm', 'a', KEY.publicKey, BOARD, MAX_BUNDLE), 'digest-mismatch');
    assert.equal(fs.log.filter((l) => l === `read ${bundle}`).length, 0);
    assert.ok(existsSync(bundle));
  });

  it('refuses a label that is no domain, before touching the disk', () => {
    const fs = new FaultFs();
    const store = new SlotStore(join(root, 'labels'), fs);
    for (const label of ['device', '../sw', 'sm:../../etc', 'sm:']) {
      assert.throws(() => store.install(label, 'a', image('sw', 1)), { name: 'SlotError' });
      assert.throws(() => store.read(label, 'a', MAX_BUNDLE), { name: 'SlotError' });
    }
    assert.equal(fs.calls, 0);
  });
});
