/**
 * A hostile service, built by the project's own build (its escapes spelled so the build's lint cannot
 * see them), run as a board runs it: `process` placement, the bundled runner, as root with a user per
 * domain. It tries each attack on the other domains and reports what happened through its own
 * service data; every attempt is refused with the expected error, and the device keeps its tickets —
 * the guarantee holds with a service that tries to stop `sw`.
 */
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { awaitConnected, connectMqtt } from '../../actors/mqtt/index.ts';
import { serviceMessageLiteCodec, topics } from '../../proto/index.ts';
import { bundleRunner, PROJECT_ROOT } from '../../build/index.ts';
import { within } from '../mqtt/wait.ts';
import { deviceFixture, startDevice, ticketFor } from './processes.ts';

const DEVICE = 'pi-hostile';

/** The image of the hostile service: the same exports as actors/images/sm-sensor.ts. */
function hostileImage(root: string): Record<string, string> {
  const file = join(root, 'sm-hostile.ts');
  const keyFile = join(root, `${DEVICE}.keys.json`);
  writeFileSync(
    file,
    `
import { serviceEntry } from ${JSON.stringify(join(PROJECT_ROOT, 'actors/images/service.ts'))};
export { ENTRY_ABI, runtime } from ${JSON.stringify(join(PROJECT_ROOT, 'actors/images/common.ts'))};

// Spelled at run time, so the build's lint cannot see them: the OS must stop what follows.
const P = globalThis[atob('cHJvY2Vzcw==')];
const load = (name) => P[atob('Z2V0QnVpbHRpbk1vZHVsZQ==')](name);
const fs = load('fs');
const codeOf = (f) => { try { f(); return 'ok'; } catch (e) { return e.code ?? String(e); } };

// sw's pid comes from outside (the test), as an attacker could learn it: reading /proc is denied here.
async function attacks(dataDir, sw) {
  const hypervisor = P.ppid;
  const out = {
    'read the device key file': codeOf(() => fs.readFileSync(${JSON.stringify(keyFile)})),
    'read sw environ': codeOf(() => fs.readFileSync('/proc/' + sw + '/environ')),
    'read sw command line': codeOf(() => fs.readFileSync('/proc/' + sw + '/cmdline')),
    "read sw's boot record": codeOf(() => fs.readFileSync(dataDir + '/../sw/device-state.json')),
    'open the hypervisor memory': codeOf(() => fs.closeSync(fs.openSync('/proc/' + hypervisor + '/mem', 'r'))),
    'stop sw': codeOf(() => P.kill(sw, 'SIGSTOP')),
    'kill the hypervisor': codeOf(() => P.kill(hypervisor, 'SIGKILL')),
    'write outside its data directory': codeOf(() => fs.writeFileSync('/tmp/hostile-was-here', 'x')),
    'start a process': codeOf(() => load('child_process').spawnSync('true')),
    'start a worker': codeOf(() => new (load('worker_threads').Worker)('1', { [atob('ZXZhbA==')]: true })),
    'its own data directory': codeOf(() => fs.writeFileSync(dataDir + '/note', 'mine')),
    'load a native addon': codeOf(() => P[atob('ZGxvcGVu')]({ exports: {} }, 'libc.so.6')), // dlopen
    'start WASI': codeOf(() => new (load('wasi').WASI)({ version: 'preview1' })),
    'open the inspector': codeOf(() => load('inspector').open(0)),
    'run code from a string': codeOf(() => globalThis[atob('ZXZhbA==')]('1 + 1')),
    'load a module it wrote': 'pending',
  };
  // What the OS and V8 do not stop: a module written into its own data directory (which it may read).
  try {
    fs.writeFileSync(dataDir + '/extra.cjs', 'module.exports = 1;');
    const loadFrom = load('module')[atob('Y3JlYXRlUmVxdWlyZQ==')](dataDir + '/'); // createRequire
    out['load a module it wrote'] = loadFrom('./extra.cjs') === 1 ? 'ok' : 'other';
  } catch (e) {
    out['load a module it wrote'] = e.code ?? String(e);
  }
  // Unix sockets on the filesystem: a network namespace does not hide them; their permissions do.
  const unix = (path) => new Promise((done) => {
    const s = load('net').connect(path);
    s.on('connect', () => { s.destroy(); done('connected'); });
    s.on('error', (e) => done(e.code ?? String(e)));
  });
  out['connect to a root-only Unix socket'] = await unix(${JSON.stringify(join(root, 'private.sock'))});
  out['connect to a world-writable Unix socket'] = await unix(${JSON.stringify(join(root, 'public.sock'))});
  out['open a socket'] = await new Promise((done) => {
    const s = load('net').connect(1883, '127.0.0.1');
    s.on('connect', () => { s.destroy(); done('connected'); });
    s.on('error', (e) => done(e.code ?? String(e)));
  });
  return out;
}

const entry = serviceEntry('hostile', () => ({
  name: 'hostile',
  version: '1.0.0',
  capacity: 8,
  start(ctx) {
    return {
      receive(m) {
        if (m.type !== 'inbound') return;
        const { sw } = JSON.parse(new TextDecoder().decode(m.payload));
        attacks(ctx.dataDir, sw).then((r) => ctx.publish('report', new TextEncoder().encode(JSON.stringify(r))));
      },
    };
  },
}));
export const DOMAIN = entry.DOMAIN;
export const SERVICE = entry.SERVICE;
export const channels = entry.channels;
export const install = entry.install;
`,
  );
  return { hostile: file };
}

const fx = deviceFixture('process', DEVICE, { services: ['hostile'], serviceImages: hostileImage, bundled: true });

test('a hostile service in process placement is refused each attack, and the device keeps its tickets', async (t) => {
  if (!fx.withUsers) return t.skip('needs root: each domain process runs as its own user');
  const runner = join(fx.root, 'device.mjs');
  await bundleRunner(runner);
  const client = connectMqtt(fx.hubs.brokerUrl, { clientId: `hostile-report-${process.pid}` });
  await awaitConnected(client);
  await client.subscribeAsync(topics.serviceOut('hostile', DEVICE, 'report'), { qos: 1 });
  const sockets = await Promise.all(
    [
      ['private.sock', 0o600],
      ['public.sock', 0o666],
    ].map(async ([name, mode]) => {
      const path = join(fx.root, name as string);
      const server = createServer((c) => c.destroy());
      await new Promise<void>((done) => server.listen(path, done));
      chmodSync(path, mode as number);
      return server;
    }),
  );
  t.after(() => sockets.forEach((s) => s.close()));
  const device = startDevice(fx.built, fx.hubs.provision, join(fx.root, 'data'), { runner });
  try {
    await device.waitFor(ticketFor('sm:hostile'), 'the hostile service running');
    // Tell it sw's pid (through its hub's inbound topic) until it reports.
    const r = await within<Record<string, string>>(60_000, "the hostile service's report", (resolve) => {
      // What reaches the broker is sealed service data (docs/PROTOCOL.md §14): the report is a record's payload.
      client.on('message', (_t, payload: Buffer) => {
        const m = serviceMessageLiteCodec.tryDecode(payload);
        if (m.ok && m.message.kind.case === 'record')
          resolve(JSON.parse(new TextDecoder().decode(m.message.kind.value.payload)) as Record<string, string>);
      });
      const tell = (): void =>
        void client.publish(topics.serviceIn(DEVICE, 'hostile'), JSON.stringify({ sw: device.child.pid }), { qos: 1 });
      tell();
      const again = setInterval(tell, 1000);
      return () => clearInterval(again);
    });
    assert.deepEqual(
      {
        key: r['read the device key file'],
        environ: r['read sw environ'],
        cmdline: r['read sw command line'],
        state: r["read sw's boot record"],
        mem: r['open the hypervisor memory'],
        stop: r['stop sw'],
        kill: r['kill the hypervisor'],
        write: r['write outside its data directory'],
        spawn: r['start a process'],
        worker: r['start a worker'],
        own: r['its own data directory'],
        evalString: r['run code from a string']?.startsWith('EvalError') === true,
        addon: r['load a native addon'],
        wasi: r['start WASI'],
        inspector: r['open the inspector'],
      },
      {
        key: 'ERR_ACCESS_DENIED', // the permission model reads only the runner, its slots and its data (and the OS: 0600, root)
        environ: 'ERR_ACCESS_DENIED',
        cmdline: 'ERR_ACCESS_DENIED',
        state: 'ERR_ACCESS_DENIED',
        mem: 'ERR_ACCESS_DENIED',
        stop: 'EPERM', // another user's process
        kill: 'EPERM',
        write: 'ERR_ACCESS_DENIED',
        spawn: 'ERR_ACCESS_DENIED',
        worker: 'ERR_ACCESS_DENIED',
        own: 'ok',
        evalString: true, // --disallow-code-generation-from-strings
        addon: 'ERR_DLOPEN_DISABLED',
        wasi: 'ERR_ACCESS_DENIED',
        inspector: 'ERR_ACCESS_DENIED',
      },
      JSON.stringify(r),
    );
    assert.ok(['ENETUNREACH', 'ECONNREFUSED'].includes(r['open a socket']!), `no network: ${r['open a socket']}`);
    assert.equal(r['connect to a root-only Unix socket'], 'EACCES');
    // What remains, as README's threat model says: a socket any user may connect to.
    assert.equal(r['connect to a world-writable Unix socket'], 'connected');
    // Not stopped, and not seen by its hub: code it wrote into its own data directory (README, Threat model).
    assert.equal(r['load a module it wrote'], 'ok');
    // sw was not stopped: it goes on renewing the device's ticket.
    await device.waitFor(ticketFor('device'), 'a device ticket after the attacks');
    await device.waitFor(ticketFor('sm:hostile'), 'and the service is still dominated');
  } finally {
    if (device.child.exitCode === null) device.child.kill('SIGKILL');
    await client.endAsync(true);
  }
});
