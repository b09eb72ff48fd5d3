/**
 * The dashboard's fleet index (dashboard/fleet-index.ts) on its own: one device's rows on two hubs
 * fold into one line as the start-up scan meets them; a device enrolled after the start is found and
 * paged in id order (slots are found by binary search once the scan is done); a deadline passing
 * turns the line due.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FleetRow } from '../../actors/hub/sqlite/index.ts';
import { FleetIndex } from '../../dashboard/fleet-index.ts';
import { DeviceFold } from '../../dashboard/types.ts';

const NOW = 1_800_000_000_000;

function row(deviceId: string, instance: string, o: Partial<FleetRow> = {}): FleetRow {
  return { deviceId, deviceState: 'active', instance, state: 'ok', reason: 'granted', lastRequestAtMs: NOW - 1000, ...o };
}

function fold(rows: readonly FleetRow[]): DeviceFold {
  const f = new DeviceFold(rows[0]!.deviceId);
  for (const r of rows) f.add(r, NOW);
  return f;
}

const ALL = { q: '', state: '', sort: 'id', dir: 'asc', offset: 0, limit: 50 } as const;

describe('the fleet index', () => {
  it("folds one device's rows from two hubs into one line: the worst state, both instances, the device's boot count", () => {
    const index = new FleetIndex();
    // The IH's scan, then the SH's: b's sm instance is withheld there.
    index.merge(fold([row('b', 'device', { reported: { bootCount: 7, firmwareVersion: '1.2.0' } }), row('b', 'mm')]));
    index.merge(fold([row('a', 'device')]));
    index.merge(fold([row('b', 'sm:sensor', { state: 'withheld', reason: 'foreign-actor', lastRequestAtMs: NOW - 10 })]));
    index.sealLoad();
    const b = index.get('b')!;
    assert.equal(b.state, 'WITHHELD');
    assert.equal(b.reason, 'foreign-actor');
    assert.equal(b.instances, 3);
    assert.equal(b.bootCount, 7, 'from the device row, not lost when the SH row folded in');
    assert.equal(b.firmware, '1.2.0');
    assert.equal(b.lastRequestAtMs, NOW - 10);
    assert.deepEqual(
      index.page(ALL).rows.map((r) => r.deviceId),
      ['a', 'b'],
    );
  });

  it('finds and pages a device enrolled after the start in id order; an unknown id is not there', () => {
    const index = new FleetIndex();
    for (const id of ['d-1', 'd-3', 'd-5']) index.merge(fold([row(id, 'device')]));
    index.sealLoad();
    const changed = index.refresh(['d-4', 'd-0'], [row('d-4', 'device', { state: 'never', reason: undefined }), row('d-0', 'device')], NOW);
    assert.deepEqual(changed.sort(), ['d-0', 'd-4']);
    assert.deepEqual(
      index.page(ALL).rows.map((r) => r.deviceId),
      ['d-0', 'd-1', 'd-3', 'd-4', 'd-5'],
    );
    assert.deepEqual(
      index.page({ ...ALL, dir: 'desc', limit: 2 }).rows.map((r) => r.deviceId),
      ['d-5', 'd-4'],
    );
    assert.equal(index.get('d-4')!.state, 'NEVER');
    assert.equal(index.get('d-2'), undefined);
    assert.equal(index.canonical('d-3'), 'd-3');
    assert.deepEqual(index.refresh(['d-3'], [row('d-3', 'device')], NOW), [], 'an unchanged line is no change');
  });

  it('a deadline still ahead makes the device due once it passes', () => {
    const index = new FleetIndex();
    index.merge(fold([row('x', 'device', { lastTicketAtMs: NOW - 1000, deadlineMs: NOW + 5000 })]));
    index.merge(fold([row('y', 'device')]));
    index.sealLoad();
    assert.deepEqual(index.due(NOW + 4999), []);
    assert.deepEqual(index.due(NOW + 5000), ['x']);
  });
});
