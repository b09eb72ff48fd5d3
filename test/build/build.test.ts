/**
 * `dominion build`: bundles per domain within budget, isolation read off esbuild's metafile,
 * reproducible bytes, a signed manifest that catches any flipped byte, budget failures that name
 * the domain and budget, release keys kept out of dist, and the systemd unit.
 */
import assert from 'node:assert/strict';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Metafile } from 'esbuild';
import { CONTEXTS, hex, nodeBackend, signInContext } from '../../actors/crypto/index.ts';
import { loadBoard, type BoardProfile } from '../../boards/index.ts';
import {
  ALIASES,
  buildBoard,
  BuildError,
  devReleaseKey,
  isolationViolations,
  planBundles,
  readReleaseKey,
  shippedInputs,
  sizeTable,
  systemdUnit,
  PROJECT_ROOT,
  type BuildResult,
} from '../../build/index.ts';
import { ArtifactError, encodeManifest, verifyArtifacts } from '../../actors/release/index.ts';
import { releaseKeyFile, tempDir } from './support.ts';

const root = tempDir('build');
after(() => rmSync(root, { recursive: true, force: true }));
let key: ReturnType<typeof releaseKeyFile>;
let sim: BuildResult;
let simAgain: BuildResult;
let rpi4: BuildResult;
const logs: string[] = [];

before(async () => {
  key = releaseKeyFile(join(root, 'keys'));
  [sim, simAgain, rpi4] = await Promise.all([
    buildBoard({ board: 'sim', outDir: join(root, 'a'), releaseKey: key.file, issuedAt: 1_700_000_000_000, log: (l) => logs.push(l) }),
    buildBoard({ board: 'sim', outDir: join(root, 'b'), releaseKey: key.key, issuedAt: 1_700_000_000_000 }),
    buildBoard({ board: 'rpi4', outDir: join(root, 'a'), releaseKey: key.file }),
  ]);
});

const inputsOf = (r: BuildResult, file: string): string[] => shippedInputs(r.bundles.find((b) => b.file === file)!.metafile);
const importsOf = (r: BuildResult, file: string): string[] =>
  Object.values(r.bundles.find((b) => b.file === file)!.metafile.outputs).flatMap((o) =>
    o.imports.filter((i) => i.external).map((i) => i.path),
  );
const none = (paths: string[], pattern: RegExp, what: string): void => {
  const hits = paths.filter((p) => pattern.test(p));
  assert.deepEqual(hits, [], what);
};

test('one bundle per domain and per service, plus board, unit, manifest and signature', () => {
  assert.deepEqual(readdirSync(sim.dir).sort(), [
    'board.json',
    'dominion-sim.service',
    'hypervisor.mjs',
    'manifest.json',
    'manifest.sig',
    'mm.mjs',
    'release-key.pub',
    'sm-sensor.mjs',
    'sw.mjs',
  ]);
  assert.deepEqual(Object.keys(sim.manifest.files), [
    'board.json',
    'dominion-sim.service',
    'hypervisor.mjs',
    'mm.mjs',
    'sm-sensor.mjs',
    'sw.mjs',
  ]);
  assert.deepEqual(
    sim.bundles.map((b) => [b.file, b.label]),
    [
      ['sw.mjs', 'sw'],
      ['hypervisor.mjs', 'hypervisor'],
      ['mm.mjs', 'mm'],
      ['sm-sensor.mjs', 'sm:sensor'],
    ],
  );
  for (const [name, entry] of Object.entries(sim.manifest.files)) {
    const bytes = readFileSync(join(sim.dir, name));
    assert.equal(entry.bytes, bytes.length, name);
    assert.equal(entry.sha512, hex(nodeBackend().sha512(bytes)), name);
  }
  assert.deepEqual(JSON.parse(readFileSync(join(sim.dir, 'board.json'), 'utf8')), sim.board);
  assert.equal(readFileSync(join(sim.dir, 'release-key.pub'), 'utf8'), `${hex(key.key.publicKey)}\n`);
  const code = readFileSync(join(sim.dir, 'sw.mjs'), 'utf8');
  assert.ok(!code.includes('\n//') && code.split('\n').length < 5, 'minified');
});

test('every bundle fits its budget and the issue targets (gzip: sw 40, hypervisor 60, sm 30, mm 90 KB)', () => {
  const targetKb: Record<string, number> = { sw: 40, hypervisor: 60, mm: 90, sm: 30 };
  for (const r of [sim, rpi4]) {
    for (const b of r.bundles) {
      assert.ok(b.gzipBytes <= b.budget.gzipKb * 1024 && b.rawBytes <= b.budget.rawKb * 1024, `${r.board.id} ${b.file} within budget`);
      // Even read as decimal kilobytes.
      assert.ok(b.gzipBytes <= targetKb[b.domain]! * 1000, `${b.file}: ${b.gzipBytes} B gzip > ${targetKb[b.domain]} KB`);
      // sw keeps room under its target for gated boot (BootRequest/BootTicket and the A/B slot loader).
      if (b.domain === 'sw') assert.ok(b.gzipBytes <= 35_000, `${b.file}: ${b.gzipBytes} B gzip > 35,000 B`);
    }
  }
});

test('the build prints a size table against the budgets', () => {
  const table = logs.find((l) => l.startsWith('board sim'))!;
  assert.match(table, /bundle\s+domain\s+raw KiB\s+budget\s+gzip KiB\s+budget/);
  for (const b of sim.bundles)
    assert.match(
      table,
      new RegExp(`${b.file.replace('.', '\\.')}\\s+${b.label}\\s+[\\d.]+\\s+${b.budget.rawKb}\\s+[\\d.]+\\s+${b.budget.gzipKb}\\s+ok`),
    );
  assert.match(
    sizeTable(sim.board, [{ file: 'x.mjs', label: 'sw', rawBytes: 2048, gzipBytes: 50 * 1024, budget: { rawKb: 1, gzipKb: 40 } }]),
    /x\.mjs\s+sw\s+2\.0\s+1\s+50\.0\s+40\s+OVER \(raw, gzip\)/,
  );
});

test('sm bundles: no MQTT client, no signing code, no protobuf runtime, no network modules', () => {
  const inputs = inputsOf(sim, 'sm-sensor.mjs');
  none(inputs, /node_modules\/(mqtt|mqtt-packet)\/|^actors\/(mqtt|mm)\//, 'MQTT in sm');
  none(inputs, /node_modules\/@noble\/|^actors\/crypto\/|^actors\/tickets\//, 'signing code in sm');
  none(inputs, /node_modules\/@bufbuild\//, 'protobuf runtime in sm');
  assert.ok(inputs.includes('actors/sm/sensor.ts') && inputs.includes('proto/lite.ts'));
  assert.deepEqual(importsOf(sim, 'sm-sensor.mjs').sort(), ['node:fs', 'node:path']);
});

test('mm: no private-key code, no protobuf runtime, no crypto module; MQTT over TCP only', () => {
  const inputs = inputsOf(sim, 'mm.mjs');
  none(inputs, /node_modules\/@noble\/|^actors\/crypto\/|^actors\/tickets\//, 'key or signing code in mm');
  none(inputs, /node_modules\/@bufbuild\//, 'protobuf runtime in mm');
  none(inputs, /node_modules\/(ws|socks|debug|worker-timers|readable-stream|aedes)\//, 'aliased or broker packages in mm');
  assert.ok(inputs.some((p) => p.startsWith('node_modules/mqtt/')) && inputs.includes('proto/lite.ts'));
  assert.ok(!importsOf(sim, 'mm.mjs').some((i) => /crypto/.test(i)), 'no node:crypto import');
  assert.ok(
    readFileSync(join(sim.dir, 'mm.mjs'), 'utf8').startsWith("import{createRequire as __dominionCreateRequire}from'node:module';"),
    'CommonJS inside gets a require',
  );
  assert.ok(!readFileSync(join(sim.dir, 'sw.mjs'), 'utf8').includes('__dominionCreateRequire'), 'and only where needed');
});

test('sw signs with noble only; the hypervisor with node only; neither has a network', () => {
  const sw = inputsOf(sim, 'sw.mjs');
  none(sw, /node_modules\/@bufbuild\//, 'protobuf runtime in sw');
  assert.ok(sw.some((p) => p.startsWith('node_modules/@noble/ed25519/')));
  none(sw, /^actors\/crypto\/node\.ts$/, 'node backend in sw');
  assert.ok(!importsOf(sim, 'sw.mjs').includes('node:crypto'));
  const hyp = inputsOf(sim, 'hypervisor.mjs');
  assert.ok(hyp.includes('actors/crypto/node.ts'));
  none(hyp, /node_modules\/@noble\/|^actors\/crypto\/noble\.ts$/, 'noble in the hypervisor');
  for (const file of ['sw.mjs', 'hypervisor.mjs'])
    none(inputsOf(sim, file), /node_modules\/mqtt|^actors\/(mqtt|mm)\//, `network in ${file}`);
  for (const b of sim.bundles)
    none(inputsOf(sim, b.file), /^actors\/hub\/|^cli\/|node_modules\/(aedes|better-sqlite3)\//, `hub code in ${b.file}`);
});

test('isolation rules are enforced on the metafile', () => {
  const meta = (inputs: string[], imports: string[] = []): Metafile => ({
    inputs: {},
    outputs: {
      'bundle.mjs': {
        bytes: 1,
        inputs: Object.fromEntries(inputs.map((p) => [p, { bytesInOutput: 1 }])),
        imports: imports.map((path) => ({ path, kind: 'import-statement' as const, external: true })),
        exports: [],
        entryPoint: 'x',
      },
    },
  });
  const sm = isolationViolations('sm', meta(['node_modules/mqtt/build/lib/client.js', 'actors/crypto/noble.ts'], ['node:net']));
  assert.deepEqual(
    sm.map((v) => v.match),
    ['node_modules/mqtt/build/lib/client.js', 'actors/crypto/noble.ts', 'node:net'],
  );
  assert.match(sm[0]!.rule.why, /no MQTT client/);
  assert.deepEqual(
    isolationViolations('mm', meta(['node_modules/@bufbuild/protobuf/dist/esm/create.js', 'node_modules/mqtt/x.js'])).map((v) => v.match),
    ['node_modules/@bufbuild/protobuf/dist/esm/create.js'],
  );
  assert.deepEqual(isolationViolations('sw', meta(['actors/crypto/node.ts'])).length, 1);
  const swProto = isolationViolations('sw', meta(['node_modules/@bufbuild/protobuf/dist/esm/from-binary.js', 'proto/lite-wire.ts']));
  assert.deepEqual(
    swProto.map((v) => v.match),
    ['node_modules/@bufbuild/protobuf/dist/esm/from-binary.js'],
  );
  assert.match(swProto[0]!.rule.why, /table-driven codecs/);
  assert.deepEqual(isolationViolations('hypervisor', meta(['actors/crypto/node.ts', 'proto/lite.ts'])), []);
  for (const a of ALIASES) assert.ok(existsSync(join(PROJECT_ROOT, 'build', 'shims', a.shim)), a.shim);
});

test('the same sources give the same bytes', () => {
  for (const name of readdirSync(sim.dir)) {
    assert.ok(readFileSync(join(sim.dir, name)).equals(readFileSync(join(simAgain.dir, name))), `${name} differs between two builds`);
  }
  assert.deepEqual(
    sim.bundles.map((b) => b.sha512),
    simAgain.bundles.map((b) => b.sha512),
  );
});

test('verifyArtifacts accepts the build and returns the verified bytes', () => {
  const v = verifyArtifacts(rpi4.dir, key.key.publicKey);
  assert.equal(v.manifest.board, 'rpi4');
  assert.deepEqual([...v.files.keys()].sort(), Object.keys(rpi4.manifest.files));
  assert.deepEqual(v.manifestDigest, nodeBackend().sha512(readFileSync(join(rpi4.dir, 'manifest.json'))));
  assert.deepEqual(readFileSync(join(rpi4.dir, 'manifest.json')), Buffer.from(encodeManifest(rpi4.manifest)));
});

/** A copy of the rpi4 artifacts with `change` applied; returns the ArtifactError verification throws. */
function tampered(name: string, change: (dir: string) => void, publicKey = key.key.publicKey): ArtifactError {
  const dir = join(root, 'tamper', name);
  cpSync(rpi4.dir, dir, { recursive: true });
  change(dir);
  try {
    verifyArtifacts(dir, publicKey);
  } catch (e) {
    assert.ok(e instanceof ArtifactError, String(e));
    return e;
  }
  assert.fail(`${name}: verification passed`);
}

function flip(dir: string, file: string, at = 0.5): void {
  const p = join(dir, file);
  const bytes = readFileSync(p);
  bytes[Math.floor(bytes.length * at)] ^= 0x20;
  writeFileSync(p, bytes);
}

test('a flipped byte in a bundle is refused, naming the bundle', () => {
  for (const file of ['sw.mjs', 'hypervisor.mjs', 'mm.mjs', 'sm-sensor.mjs', 'board.json', 'dominion-rpi4.service']) {
    const e = tampered(`bundle-${file}`, (d) => flip(d, file));
    assert.equal(e.code, 'digest-mismatch');
    assert.equal(e.file, file);
    assert.match(e.message, new RegExp(`^${file.replace('.', '\\.')}: does not match the signed manifest`));
  }
  const e = tampered('appended', (d) =>
    writeFileSync(join(d, 'mm.mjs'), Buffer.concat([readFileSync(join(d, 'mm.mjs')), Buffer.from('\n')])),
  );
  assert.deepEqual([e.code, e.file], ['digest-mismatch', 'mm.mjs']);
});

test('a flipped byte in the manifest or its signature is refused, naming the manifest', () => {
  const m = tampered('manifest', (d) => flip(d, 'manifest.json', 0.3));
  assert.deepEqual([m.code, m.file], ['bad-signature', 'manifest.json']);
  assert.match(m.message, /manifest\.json: does not match its signature in manifest\.sig/);

  // A manifest re-pointed at a swapped bundle with its digest fixed up still fails: it is no longer what was signed.
  const swapped = tampered('swapped', (d) => {
    writeFileSync(join(d, 'sw.mjs'), 'export const DOMAIN = "sw";\n');
    const manifest = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8'));
    manifest.files['sw.mjs'] = { domain: 'sw', bytes: 28, sha512: hex(nodeBackend().sha512(readFileSync(join(d, 'sw.mjs')))) };
    writeFileSync(join(d, 'manifest.json'), encodeManifest(manifest));
  });
  assert.deepEqual([swapped.code, swapped.file], ['bad-signature', 'manifest.json']);

  const sig = tampered('signature', (d) => {
    const s = JSON.parse(readFileSync(join(d, 'manifest.sig'), 'utf8'));
    s.signature = (s.signature[0] === '0' ? '1' : '0') + s.signature.slice(1);
    writeFileSync(join(d, 'manifest.sig'), JSON.stringify(s));
  });
  assert.deepEqual([sig.code, sig.file], ['bad-signature', 'manifest.json']);

  const junk = tampered('sig-junk', (d) => writeFileSync(join(d, 'manifest.sig'), 'not json'));
  assert.deepEqual([junk.code, junk.file], ['malformed', 'manifest.sig']);
});

test('artifacts signed by another key, or incomplete, are refused', () => {
  const other = releaseKeyFile(join(root, 'keys'), 'other.key').key;
  const wrong = tampered('wrong-key', () => {}, other.publicKey);
  assert.equal(wrong.code, 'wrong-key');
  assert.match(wrong.message, /not by the pinned release key/);

  // Re-signed by an attacker's key with the pinned key's id claimed: the signature fails.
  const forged = tampered('forged', (d) => {
    const s = JSON.parse(readFileSync(join(d, 'manifest.sig'), 'utf8'));
    s.signature = hex(signInContext(nodeBackend().signer(other.secretKey), CONTEXTS.manifest, readFileSync(join(d, 'manifest.json'))));
    writeFileSync(join(d, 'manifest.sig'), JSON.stringify(s));
  });
  assert.equal(forged.code, 'bad-signature');

  const gone = tampered('missing', (d) => rmSync(join(d, 'hypervisor.mjs')));
  assert.deepEqual([gone.code, gone.file], ['missing', 'hypervisor.mjs']);
  const noSig = tampered('no-sig', (d) => rmSync(join(d, 'manifest.sig')));
  assert.deepEqual([noSig.code, noSig.file], ['missing', 'manifest.sig']);
});

test('a bundle over budget fails the build, naming the domain and the budget, and writes nothing', async () => {
  const tight = structuredClone(loadBoard('sim')) as unknown as {
    id: string;
    domains: { mm: { bundle: { gzipKb: number } }; sm: { bundle: { rawKb: number; gzipKb: number } } };
  };
  tight.id = 'tight';
  tight.domains.mm.bundle.gzipKb = 10;
  tight.domains.sm.bundle = { rawKb: 8, gzipKb: 8 };
  const out = join(root, 'tight');
  await assert.rejects(buildBoard({ board: tight as unknown as BoardProfile, outDir: out, releaseKey: key.key }), (e: unknown) => {
    assert.ok(e instanceof BuildError && e.code === 'budget', String(e));
    assert.match(e.message, /mm bundle mm\.mjs is [\d.]+ KiB gzip, over its budget of 10 KiB \(tight\.domains\.mm\.bundle\.gzipKb\)/);
    assert.match(
      e.message,
      /sm:sensor bundle sm-sensor\.mjs is [\d.]+ KiB raw, over its budget of 8 KiB \(tight\.domains\.sm\.bundle\.rawKb\)/,
    );
    return true;
  });
  assert.ok(!existsSync(join(out, 'tight')), 'nothing written');
});

test('a service without an entry module is a clear error', () => {
  const board = { ...loadBoard('sim'), services: ['sensor', 'camera'] } as BoardProfile;
  assert.throws(
    () => planBundles(board),
    (e: unknown) => e instanceof BuildError && e.code === 'no-entry' && /no image actors\/images\/sm-camera\.ts/.test(e.message),
  );
});

test('release keys: the private key stays out of dist; the dev key is 0600 and reused', () => {
  const seed = readFileSync(key.file, 'utf8').trim();
  for (const name of readdirSync(sim.dir))
    assert.ok(!readFileSync(join(sim.dir, name), 'utf8').includes(seed), `${name} holds the private key`);

  const warnings: string[] = [];
  mkdirSync(join(root, 'dev'));
  const devFile = join(root, 'dev', '.release-key');
  const first = devReleaseKey(devFile, (l) => warnings.push(l));
  assert.equal(statSync(devFile).mode & 0o777, 0o600);
  assert.ok(first.dev);
  assert.match(warnings[0]!, /created a development release key .*\.release-key \(mode 0600\)\. Do not ship/);
  const again = devReleaseKey(devFile, (l) => warnings.push(l));
  assert.deepEqual(again.publicKey, first.publicKey);
  assert.match(warnings[1]!, /signing with the development release key/);

  const bad = join(root, 'keys', 'bad.key');
  writeFileSync(bad, 'xyz', { mode: 0o600 });
  assert.throws(
    () => readReleaseKey(bad),
    (e: unknown) =>
      e instanceof BuildError && e.code === 'release-key' && /must hold a 32-byte Ed25519 seed as 64 hex digits/.test(e.message),
  );
  assert.throws(() => readReleaseKey(join(root, 'keys', 'absent.key')), /cannot read release key .*absent\.key: ENOENT/);
  // A release key group or others can read is refused (README: 0600), as the device's key files are.
  const open = join(root, 'keys', 'open.key');
  writeFileSync(open, readFileSync(key.file), { mode: 0o600 });
  for (const mode of [0o640, 0o604]) {
    chmodSync(open, mode);
    assert.throws(
      () => readReleaseKey(open),
      (e: unknown) =>
        e instanceof BuildError &&
        e.code === 'release-key' &&
        e.message.includes(`(mode ${mode.toString(8)})`) &&
        e.message.includes(`chmod 600 ${open}`) &&
        !e.message.includes(readFileSync(key.file, 'utf8').trim()),
    );
  }
  chmodSync(open, 0o400);
  assert.deepEqual(readReleaseKey(open).publicKey, key.key.publicKey);
});

test('the systemd unit: sw owns the watchdog, is never restarted in place, and the board reboots if it ends', () => {
  const unit = readFileSync(join(rpi4.dir, 'dominion-rpi4.service'), 'utf8');
  assert.equal(unit, systemdUnit(loadBoard('rpi4')));
  assert.match(unit, /^Restart=no$/m);
  assert.match(unit, /^FailureAction=reboot-force$/m);
  assert.match(unit, /^DeviceAllow=\/dev\/watchdog rw$/m);
  assert.match(unit, /^DevicePolicy=closed$/m);
  assert.match(unit, /RuntimeWatchdogSec= off/);
  assert.match(
    unit,
    /^ExecStart=\/usr\/bin\/node --max-old-space-size=32 --max-semi-space-size=1 \/opt\/dominion\/bin\/dominion-device\.mjs device --board rpi4 --artifacts \/opt\/dominion\/dist\/rpi4 /m,
  );
  assert.match(unit, /^MemoryMax=704M$/m);
  assert.doesNotMatch(unit, /Restart=(always|on-failure)/);

  const simUnit = readFileSync(join(sim.dir, 'dominion-sim.service'), 'utf8');
  assert.match(simUnit, /^Restart=on-failure$/m);
  assert.doesNotMatch(simUnit, /DeviceAllow|FailureAction/);
  assert.match(simUnit, /--max-old-space-size=448 /, 'single placement: one heap for every domain');
});
