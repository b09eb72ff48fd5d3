/**
 * Services from outside the tree (build/service-module.ts): `dominion build --service` builds a
 * user's module into a board under the same isolation rules, and `dominion digest` prints the digests
 * its hub's policy pins — the image digest as the manifest lists it, the actor digest as the hub's
 * `expectedDigests` compares it.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { build } from '../../cli/build.ts';
import { digestCommand } from '../../cli/digest.ts';
import { PROJECT_ROOT } from '../../build/index.ts';
import { sha512Hex } from '../../actors/release/index.ts';
import { parsePolicyDocument } from '../../actors/hub/index.ts';
import { releaseKeyFile, tempDir } from './support.ts';

const root = tempDir('user-service');
after(() => rmSync(root, { recursive: true, force: true }));
const DOOR = join(PROJECT_ROOT, 'examples', 'door-counter', 'door-counter.ts');

function capture(): { io: { out: (l: string) => void; err: (l: string) => void }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l) }, out, err };
}

/** A folder of the user's, outside the project: `files` by relative path. */
function userFolder(name: string, files: Record<string, string>): string {
  const dir = join(root, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const spec = (name: string, body: string, head = ''): string => `${head}
import type { ServiceSpec } from 'dominion/service';
const spec: ServiceSpec<never> = { name: '${name}', version: '1.0.0', capacity: 8, start(ctx) { ${body}; return { receive() {} }; } };
export default spec;
`;

test('dominion build --service builds the door counter into a board, and dominion digest prints what the manifest and the hub see', async () => {
  const { file: key } = releaseKeyFile(root);
  const out = join(root, 'dist');
  mkdirSync(out);
  const c = capture();
  assert.equal(await build(['--board', 'rpi4', '--out', out, '--release-key', key, '--service', DOOR], c.io), 0, c.err.join('\n'));
  const dir = join(out, 'rpi4');
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
    files: Record<string, { domain?: string; service?: string; sha512: string }>;
  };
  const entry = manifest.files['sm-door-counter.mjs']!;
  assert.deepEqual([entry.domain, entry.service], ['sm', 'door-counter']);
  assert.equal(entry.sha512, sha512Hex(readFileSync(join(dir, 'sm-door-counter.mjs'))));
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'board.json'), 'utf8')).services, ['sensor', 'door-counter']);
  // The build prints the service's digests: the image digest is the manifest's.
  assert.ok(c.out.includes(`    image  ${entry.sha512}`), c.out.join('\n'));
  const actorLine = c.out.find((l) => l.startsWith('    actor  door-counter  '));
  assert.ok(actorLine !== undefined, c.out.join('\n'));
  const actorDigest = actorLine.split(/\s+/).at(-1)!;
  assert.match(actorDigest, /^[0-9a-f]{128}$/);

  // From the artifacts, verified against their key: the same digests.
  const d = capture();
  assert.equal(await digestCommand(['--artifacts', dir], d.io), 0, d.err.join('\n'));
  const block = d.out.slice(d.out.indexOf('  sm:door-counter (sm-door-counter.mjs)'));
  assert.deepEqual(block.slice(1, 3), [`    image  ${entry.sha512}`, `    actor  door-counter  ${actorDigest}`]);

  // From a fresh build (a throwaway key; the same sources give the same bundle): a policy the hub accepts.
  const p = capture();
  assert.equal(await digestCommand(['--board', 'rpi4', '--service', DOOR, '--policy'], p.io), 0, p.err.join('\n'));
  const doc = JSON.parse(p.out.join('\n')) as unknown;
  assert.deepEqual(doc, {
    instances: {
      'sm:door-counter': {
        deferralMs: 50_000,
        allowedActors: ['door-counter'],
        expectedDigests: { 'door-counter': actorDigest },
        imageDigests: [entry.sha512],
      },
    },
  });
  assert.doesNotThrow(() => parsePolicyDocument(doc));
});

test('an out-of-tree service that imports node:net, or MQTT from its own node_modules, is refused by the isolation rules', async () => {
  const { file: key } = releaseKeyFile(root, 'refused.key');
  const net = userFolder('leaky', { 'leaky.ts': spec('leaky', 'connect(1883)', "import { connect } from 'node:net';") });
  const mqtt = userFolder('chatty', {
    'chatty.ts': spec('chatty', "connect('mqtt://example.org')", "import { connect } from 'mqtt';"),
    'node_modules/mqtt/package.json': JSON.stringify({ name: 'mqtt', version: '5.0.0', main: 'index.js' }),
    'node_modules/mqtt/index.js': 'exports.connect = (url) => ({ url });\n',
  });
  for (const [module, bundle, why] of [
    [join(net, 'leaky.ts'), 'sm-leaky.mjs (sm:leaky) contains node:net', 'a service gets no network, processes or crypto of its own'],
    [join(mqtt, 'chatty.ts'), 'sm-chatty.mjs (sm:chatty) contains ', 'a service reaches the network only through mm: no MQTT client'],
  ] as const) {
    const out = join(root, `out-${bundle.slice(3, 8)}`);
    mkdirSync(out);
    const c = capture();
    assert.equal(await build(['--board', 'sim', '--out', out, '--release-key', key, '--service', module], c.io), 1);
    const text = c.err.join('\n');
    assert.match(text, /isolation rules broken/);
    assert.ok(text.includes(bundle) && text.includes(why), text);
    if (module.endsWith('chatty.ts')) assert.match(text, /chatty\/node_modules\/mqtt\/index\.js/); // resolved from the user's folder
  }
});

test('a service module without a ServiceSpec, a bad name or a missing file fails with a clear message', async () => {
  const { file: key } = releaseKeyFile(root, 'names.key');
  const dir = userFolder('odd', {
    'none.ts': 'export const x = 1;\n',
    'named.ts': spec('Bad_Name', ''),
    'other.ts': spec('other', '').replace('export default spec;', 'export const service = spec;'),
  });
  const cases: Array<[string, RegExp]> = [
    [join(dir, 'none.ts'), /none\.ts exports no ServiceSpec .* as its default export or as "service"/],
    [join(dir, 'named.ts'), /service name "Bad_Name" must be 1-32 characters of \[a-z0-9-\]/],
    [join(dir, 'absent.ts'), /service module .*absent\.ts: no such file/],
    [`UPPER=${join(dir, 'other.ts')}`, /no such file/], // not a name: the whole text is the path
  ];
  for (const [arg, message] of cases) {
    const c = capture();
    assert.equal(await build(['--board', 'sim', '--out', root, '--release-key', key, '--service', arg], c.io), 1, arg);
    assert.match(c.err.join('\n'), message);
  }
  // A named export `service`, named on the command line: built without loading it first.
  const out = join(root, 'named-out');
  mkdirSync(out);
  const c = capture();
  assert.equal(await build(['--board', 'sim', '--out', out, '--release-key', key, '--service', `other=${join(dir, 'other.ts')}`], c.io), 0);
  assert.ok(
    c.out.some((l) => l.startsWith('    actor  other  ')),
    c.out.join('\n'),
  );
});
