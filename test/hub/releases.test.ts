/**
 * Publishing releases into a hub database: role filtering, the pinned release key, idempotent
 * re-publish, refused conflicts, and the update target `require-update --release` builds from them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesEqual, hex } from '../../actors/crypto/index.ts';
import { IH_ROLE, serviceHubRole } from '../../actors/hub/index.ts';
import {
  listReleases,
  pinnedReleaseKey,
  publishArtifacts,
  readAudit,
  readRelease,
  ReleaseError,
  releaseTarget,
  SqliteHubStore,
  type HubIdentity,
} from '../../actors/hub/sqlite/index.ts';
import { ArtifactError } from '../../actors/release/index.ts';
import { topics } from '../../proto/index.ts';
import { node, tempDir } from './fixtures.ts';
import { newReleaseKey, writeArtifacts } from './release-fixture.ts';

function hubDb(identity: HubIdentity, dir = tempDir()): SqliteHubStore {
  return SqliteHubStore.open({ path: join(dir, `${identity.hubId}.db`), create: true, identity });
}

function rejects<E extends Error>(fn: () => unknown, type: new (...a: never[]) => E, pattern: RegExp): E {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected ${type.name}`);
}

describe('dominion publish: releases in the hub store', () => {
  it('an IH stores sw, hypervisor and mm with the exact manifest bytes; an SH only its service', () => {
    const dir = tempDir();
    const key = newReleaseKey();
    const built = writeArtifacts(dir, { key, version: 3, services: ['sensor', 'cam'] });
    const ih = hubDb({ hubId: 'ih-1', role: IH_ROLE }, dir);
    const sh = hubDb({ hubId: 'sh-cam', role: serviceHubRole('cam') }, dir);
    try {
      const r = publishArtifacts(ih.db, built.dir, { releasePub: key.publicKey, nowMs: 5000 });
      assert.equal(r.board, 'rpi4');
      assert.equal(r.pinned, true);
      assert.deepEqual(
        r.images.map((i) => [i.label, i.version, i.bytes, i.status]),
        [
          ['sw', 3, 100_000, 'stored'],
          ['hypervisor', 3, 20_000, 'stored'],
          ['mm', 3, 20_000, 'stored'],
        ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      );
      assert.deepEqual([...r.skipped].sort(), ['sm:cam', 'sm:sensor']);
      const sw = readRelease(ih.db, 'rpi4', 'sw', 3)!;
      assert.ok(bytesEqual(sw.manifest, built.manifest), 'manifest.json exactly as signed');
      assert.ok(bytesEqual(sw.signature, built.signature));
      assert.ok(bytesEqual(sw.bundle, built.bundles.get('sw')!));
      assert.ok(bytesEqual(sw.digest, node.sha512(built.bundles.get('sw')!)));
      assert.equal(sw.issuedAt, 1_764_028_800_003);
      assert.equal(sw.publishedAt, 5000);
      assert.equal(readRelease(ih.db, 'rpi4', 'sm:cam', 3), undefined);

      const s = publishArtifacts(sh.db, built.dir, { releasePub: key.publicKey });
      assert.deepEqual(
        s.images.map((i) => i.label),
        ['sm:cam'],
      );
      assert.deepEqual(
        listReleases(sh.db).map((l) => [l.board, l.label, l.version, l.bytes]),
        [['rpi4', 'sm:cam', 3, 20_000]],
      );
      const listed = listReleases(ih.db).map((l) => l.label);
      assert.deepEqual(listed, ['hypervisor', 'mm', 'sw']);
      assert.ok(bytesEqual(listReleases(ih.db)[0]!.manifestDigest, node.sha512(built.manifest)));

      const audit = readAudit(ih.db).map((e) => [e.outcome, e.reason]);
      assert.deepEqual(audit, [
        ['operator', 'pin-release-key'],
        ['operator', 'publish'],
      ]);
    } finally {
      ih.close();
      sh.close();
    }
  });

  it('the first publish pins the release key; later ones need no key, and another key is refused', () => {
    const dir = tempDir();
    const key = newReleaseKey();
    const other = newReleaseKey();
    const ih = hubDb({ hubId: 'ih-1', role: IH_ROLE }, dir);
    try {
      const v1 = writeArtifacts(dir, { key, version: 1 });
      rejects(() => publishArtifacts(ih.db, v1.dir), ReleaseError, /no release key is pinned .*--release-pub/);
      publishArtifacts(ih.db, v1.dir, { releasePub: key.publicKey });
      assert.ok(bytesEqual(pinnedReleaseKey(ih.db)!, key.publicKey));

      const v2 = writeArtifacts(dir, { key, version: 2 });
      const r = publishArtifacts(ih.db, v2.dir); // the pinned key
      assert.equal(r.pinned, false);
      assert.ok(r.images.every((i) => i.status === 'stored'));

      const e = rejects(
        () => publishArtifacts(ih.db, v2.dir, { releasePub: other.publicKey }),
        ReleaseError,
        /pins release key .* another one/,
      );
      assert.equal(e.code, 'wrong-key');
      // Artifacts signed by another key, published with the pinned one: they do not verify.
      const foreign = writeArtifacts(dir, { key: other, version: 3 });
      const a = rejects(() => publishArtifacts(ih.db, foreign.dir), ArtifactError, /signed by key .* not by the pinned release key/);
      assert.equal(a.code, 'wrong-key');
      assert.deepEqual(
        listReleases(ih.db).map((l) => l.version),
        [1, 2, 1, 2, 1, 2],
        'nothing of version 3',
      );
    } finally {
      ih.close();
    }
  });

  it('re-publishing the same bytes changes nothing; other bytes under a published version are refused whole', () => {
    const dir = tempDir();
    const key = newReleaseKey();
    const ih = hubDb({ hubId: 'ih-1', role: IH_ROLE }, dir);
    try {
      const built = writeArtifacts(dir, { key, version: 4 });
      publishArtifacts(ih.db, built.dir, { releasePub: key.publicKey });
      const again = publishArtifacts(ih.db, built.dir);
      assert.ok(again.images.every((i) => i.status === 'unchanged'));
      assert.equal(readAudit(ih.db).filter((e) => e.reason === 'publish').length, 1, 'an unchanged publish is not audited');

      const rebuilt = writeArtifacts(dir, { key, version: 4, variant: 'other-build' });
      const e = rejects(() => publishArtifacts(ih.db, rebuilt.dir), ReleaseError, /published already with other bytes.*--release-version/);
      assert.equal(e.code, 'conflict');
      assert.ok(bytesEqual(readRelease(ih.db, 'rpi4', 'sw', 4)!.bundle, built.bundles.get('sw')!), 'the published bytes stay');
      assert.throws(() => ih.db.prepare("UPDATE release SET bundle = x'00'").run(), /never changes/);
    } finally {
      ih.close();
    }
  });

  it('tampered artifacts, a hub without images in them, and a database without a hub are refused', () => {
    const dir = tempDir();
    const key = newReleaseKey();
    const built = writeArtifacts(dir, { key, version: 1, services: ['sensor'] });
    const sh = hubDb({ hubId: 'sh-cam', role: serviceHubRole('cam') }, dir);
    const bare = SqliteHubStore.open({ path: join(dir, 'bare.db'), create: true });
    const ih = hubDb({ hubId: 'ih-1', role: IH_ROLE }, dir);
    try {
      const e = rejects(() => publishArtifacts(sh.db, built.dir, { releasePub: key.publicKey }), ReleaseError, /sh:cam serves sm:cam/);
      assert.equal(e.code, 'no-images');
      rejects(() => publishArtifacts(bare.db, built.dir, { releasePub: key.publicKey }), Error, /belongs to no hub yet/);
      writeFileSync(join(built.dir, 'mm.mjs'), 'tampered');
      const t = rejects(() => publishArtifacts(ih.db, built.dir, { releasePub: key.publicKey }), ArtifactError, /mm\.mjs: does not match/);
      assert.equal(t.code, 'digest-mismatch');
      assert.equal(pinnedReleaseKey(ih.db), undefined, 'a refused publish pins nothing');
      rejects(
        () => publishArtifacts(ih.db, join(dir, 'nowhere'), { releasePub: key.publicKey }),
        ArtifactError,
        /manifest\.json: not found/,
      );
    } finally {
      sh.close();
      bare.close();
      ih.close();
    }
  });

  it('releaseTarget: the UPDATE_REQUIRED of a published release (device = sw + hypervisor)', () => {
    const dir = tempDir();
    const key = newReleaseKey();
    const ih = hubDb({ hubId: 'ih-1', role: IH_ROLE }, dir);
    try {
      const built = writeArtifacts(dir, { key, version: 7 });
      publishArtifacts(ih.db, built.dir, { releasePub: key.publicKey });
      const device = releaseTarget(ih.db, 'device', 7);
      assert.equal(device.version, '7');
      assert.equal(device.releaseVersion, 7);
      assert.equal(hex(device.imageDigest), hex(node.sha512(built.manifest)));
      assert.equal(device.fetchTopic, topics.hubRequestBase('ih-1'));
      assert.equal(Number(device.sizeBytes), 120_000, 'sw + hypervisor');
      assert.equal(Number(releaseTarget(ih.db, 'mm', 7).sizeBytes), 20_000);
      rejects(() => releaseTarget(ih.db, 'mm', 8), Error, /release 8 of mm is not published here/);
      rejects(() => releaseTarget(ih.db, 'sm:sensor', 7), Error, /does not dominate sm:sensor/);

      writeArtifacts(dir, { key, version: 7, board: 'nitrogen8m' });
      publishArtifacts(ih.db, join(dir, 'nitrogen8m-v7'));
      rejects(() => releaseTarget(ih.db, 'mm', 7), Error, /boards nitrogen8m, rpi4: pick one with --board/);
      assert.equal(releaseTarget(ih.db, 'mm', 7, 'nitrogen8m').fetchTopic, topics.hubRequestBase('ih-1'));
    } finally {
      ih.close();
    }
  });
});
