/**
 * `dominion history` (cli/history.ts) and the history columns of `dominion devices`: an IH's and an
 * SH's databases, written through their own write path, read back as text and JSON, merged by time.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { randomNonce } from '../../actors/crypto/index.ts';
import { serviceHubRole } from '../../actors/hub/index.ts';
import { enrollKeys, setFleetPolicy, SqliteHubStore } from '../../actors/hub/sqlite/index.ts';
import { historyCommand } from '../../cli/history.ts';
import { devicesCommand } from '../../cli/operator.ts';
import { UsageError, type CliIo } from '../../cli/options.ts';
import { ResetReason } from '../../proto/index.ts';
import { bootRequest } from '../hub/exchanges.ts';
import { digestOf, newSigner, signedRequest, SM, sqliteIhFixture, stagedHub, type RuntimeInit } from '../hub/fixtures.ts';

const T0 = 1_764_028_800_000;

async function run(
  command: (argv: string[], io?: CliIo) => Promise<number>,
  argv: string[],
): Promise<{ code: number; lines: string[]; errors: string[] }> {
  const lines: string[] = [];
  const errors: string[] = [];
  const code = await command(argv, { out: (l) => void lines.push(l), err: (l) => void errors.push(l) });
  return { code, lines, errors };
}

function deviceReport(bootCount: bigint, reason: ResetReason): RuntimeInit {
  return {
    report: {
      case: 'device',
      value: { bootCount, lastResetReason: reason, firmwareVersion: '2.1.0', manifestDigest: digestOf('manifest') },
    },
  };
}

function smReport(boots: number, version: bigint): RuntimeInit {
  return { report: { case: 'domain', value: { boots, imageDigest: digestOf('weather'), slot: { label: SM, version } } } };
}

/** An IH and an SH database; the device booted twice, its weather service domain twice. */
function fleet(): { ih: string; sh: string; deviceId: string; replay: () => void } {
  const fx = sqliteIhFixture();
  const { deviceId } = fx.dev;
  const boot = (bootCount: bigint, atMs: number): void => {
    const images = [{ label: 'sw', version: 5n, digest: digestOf('sw') }];
    const init = { deviceId, bootNonce: randomNonce(32), manifestDigest: digestOf('m'), firmwareVersion: '2.1.0', bootCount, images };
    assert.equal(fx.ask(bootRequest(fx.dev.device, init), atMs).outcome, 'boot-granted');
  };
  boot(7n, T0);
  const first = signedRequest(fx.dev.device, deviceId, 'device', deviceReport(7n, ResetReason.POWER_ON));
  fx.ask(first.bytes, T0 + 1000);
  fx.commit();
  boot(8n, T0 + 4000);
  fx.commit();
  const replay = (): void => {
    assert.equal(fx.ask(first.bytes, T0 + 6000).reason, 'replayed');
    fx.commit();
  };
  replay();
  fx.store.close();

  const sh = join(fx.dir, 'sh-weather.db');
  const role = serviceHubRole('weather');
  const store = SqliteHubStore.open({ path: sh, create: true, identity: { hubId: 'sh-weather', role } });
  try {
    setFleetPolicy(store.db, { instances: { [SM]: { deferralMs: 20_000 } } });
    enrollKeys(store.db, deviceId, [{ instance: SM, publicKey: fx.dev.sm.publicKey }]);
    const hub = stagedHub(store, newSigner(), role);
    const ask = (runtime: RuntimeInit, atMs: number): void => {
      assert.equal(hub.ask(signedRequest(fx.dev.sm, deviceId, SM, runtime).bytes, atMs).outcome, 'ticket');
      hub.commit();
    };
    ask(smReport(1, 3n), T0 + 2000);
    ask(smReport(1, 3n), T0 + 3000); // the same: no line
    ask(smReport(2, 3n), T0 + 5000); // the hypervisor restarted the domain
  } finally {
    store.close();
  }
  return { ih: fx.path, sh, deviceId, replay };
}

describe('dominion history', () => {
  it('prints one device history from several databases, merged by time; --json, --limit', async () => {
    const f = fleet();
    const r = await run(historyCommand, ['--db', f.ih, '--db', f.sh, '--device', f.deviceId]);
    assert.equal(r.code, 0, r.errors.join('\n'));
    assert.match(r.lines[0]!, /^time\s+hub\s+instance\s+source\s+boots\s+reset\s+firmware\s+images$/);
    const body = r.lines.slice(1);
    assert.equal(body.length, 5);
    const expected = [
      /^2025-11-25T00:00:00\.000Z\s+ih-test\s+device\s+boot-request\s+7\s+—\s+2\.1\.0\s+sw 5$/,
      /^2025-11-25T00:00:01\.000Z\s+ih-test\s+device\s+runtime\s+7\s+power-on\s+2\.1\.0\s+—$/,
      /^2025-11-25T00:00:02\.000Z\s+sh-weather\s+sm:weather\s+runtime\s+1\s+—\s+—\s+sm:weather 3$/,
      /^2025-11-25T00:00:04\.000Z\s+ih-test\s+device\s+boot-request\s+8\s+—\s+2\.1\.0\s+sw 5$/,
      /^2025-11-25T00:00:05\.000Z\s+sh-weather\s+sm:weather\s+runtime\s+2\s+—\s+—\s+sm:weather 3$/,
    ];
    body.forEach((line, i) => assert.match(line, expected[i]!));

    const json = await run(historyCommand, ['--db', f.sh, '--db', f.ih, '--device', f.deviceId, '--json', '--limit', '2']);
    assert.equal(json.code, 0);
    assert.deepEqual(
      json.lines.map((l) => JSON.parse(l) as Record<string, unknown>),
      [
        {
          seq: 3,
          deviceId: f.deviceId,
          instance: 'device',
          atMs: T0 + 4000,
          hubId: 'ih-test',
          source: 'boot-request',
          bootCount: 8,
          firmwareVersion: '2.1.0',
          images: 'sw 5',
        },
        {
          seq: 2,
          deviceId: f.deviceId,
          instance: SM,
          atMs: T0 + 5000,
          hubId: 'sh-weather',
          source: 'runtime',
          bootCount: 2,
          images: 'sm:weather 3',
        },
      ],
    );
    assert.deepEqual((await run(historyCommand, ['--db', f.ih, '--device', 'ghost'])).lines, ['no history for ghost']);
  });

  it('devices shows the latest boots, reset reason, firmware and the refused requests', async () => {
    const f = fleet();
    const r = await run(devicesCommand, ['--db', f.ih, '--db', f.sh, '--device', f.deviceId]);
    assert.equal(r.code, 0, r.errors.join('\n'));
    assert.match(r.lines[0]!, /\sboot\s+boots\s+reset\s+firmware\s+refused\s+reason$/);
    assert.match(r.lines[1]!, new RegExp(`^${f.deviceId}\\s+device\\s.*#8 granted\\s+8\\s+power-on\\s+2\\.1\\.0\\s+1 \\(replayed\\)`));
    assert.match(r.lines[3]!, new RegExp(`^${f.deviceId}\\s+sm:weather\\s+3\\s.*\\sTIMEOUT\\s+2\\s+silent$`), 'the SH: the domain boots');
    const rows = (await run(devicesCommand, ['--db', f.ih, '--device', f.deviceId, '--json'])).lines.map(
      (l) => JSON.parse(l) as { instance: string; reported?: unknown; refused?: { count: number; lastReason: string } },
    );
    assert.deepEqual(rows[0]!.reported, { bootCount: 8, resetReason: 'power-on', firmwareVersion: '2.1.0' });
    assert.deepEqual([rows[0]!.refused?.count, rows[0]!.refused?.lastReason], [1, 'replayed']);
    assert.equal(rows[1]!.refused, undefined);
  });

  it('usage mistakes are usage errors; a missing database is one line naming it, exit 1', async () => {
    const help = await run(historyCommand, ['--help']);
    assert.match(help.lines.join('\n'), /^usage: dominion history/);
    await assert.rejects(
      historyCommand(['--device', 'x'], { out: () => {}, err: () => {} }),
      (e: unknown) => e instanceof UsageError && /--db is required/.test(e.message),
    );
    await assert.rejects(
      historyCommand(['--db', 'x.db'], { out: () => {}, err: () => {} }),
      (e: unknown) => e instanceof UsageError && /--device is required/.test(e.message),
    );
    await assert.rejects(
      historyCommand(['--db', 'x.db', '--device', 'd', '--limit', '-3'], { out: () => {}, err: () => {} }),
      (e: unknown) => e instanceof UsageError,
    );
    const missing = await run(historyCommand, ['--db', '/nonexistent/ih.db', '--device', 'd']);
    assert.equal(missing.code, 1);
    assert.equal(missing.errors.length, 1);
    assert.match(missing.errors[0]!, /nonexistent\/ih\.db/);
  });
});
