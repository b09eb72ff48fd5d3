/**
 * The dashboard's event stream over real HTTP: hello first; a change another process commits (the
 * CLI's quarantine on its own connection, a hub's journal write) reaches the stream as a `change`
 * naming the device at the next poll; changes within MIN_GAP_MS wait for the clock and go out as one
 * event; Last-Event-ID resumes with what was missed, or `*` when the ring no longer has it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { changeDeviceState, openHubDatabase } from '../../actors/hub/sqlite/index.ts';
import { dashFixture, openEvents, T0, type DashFixture } from './server-fixture.ts';

describe('dashboard event stream', () => {
  let d: DashFixture;
  before(async () => (d = await dashFixture()));
  after(() => d.close());

  it('says hello, then names the device a CLI change on another connection touched', async () => {
    const s = await openEvents(d.base);
    const hello = await s.next();
    assert.equal(hello.event, 'hello');
    assert.equal(hello.data.seq, d.dash.feed.seq);
    assert.match(s.raw(), /^retry: 2000\n/);
    const other = openHubDatabase(d.fx.path);
    try {
      changeDeviceState(other, 'alpha-01', 'quarantine', 'cli');
    } finally {
      other.close();
    }
    await d.dash.poll();
    const change = await s.next((e) => e.event === 'change');
    assert.deepEqual(change.data.devices, ['alpha-01']);
    assert.equal(change.data.summary, true);
    assert.equal(change.id, String(change.data.seq));
    s.close();
  });

  it('batches changes within 250 ms into one event, sent when the clock gets there', async () => {
    const s = await openEvents(d.base);
    await s.next((e) => e.event === 'hello');
    d.ticket(T0 + 2000); // a journal write: the fixture hub's ticket
    await d.dash.poll();
    const first = await s.next((e) => e.event === 'change');
    assert.deepEqual(first.data.devices, [d.fx.dev.deviceId]);
    // Two more changes at the same instant: the stream waits for the gap to pass.
    changeDeviceState(d.fx.store.db, 'alpha-02', 'quarantine', 'x');
    await d.dash.poll();
    changeDeviceState(d.fx.store.db, 'Beta-X', 'quarantine', 'y');
    await d.dash.poll();
    const waiting = s.next((e) => e.event === 'change');
    d.clock.advance(250);
    const batched = await waiting;
    assert.deepEqual(batched.data.devices, ['Beta-X', 'alpha-02']);
    assert.equal(batched.data.seq, first.data.seq + 2);
    s.close();
  });

  it('resumes from Last-Event-ID with what was missed; "*" when the ring lost it or the id is unknown', async () => {
    const before = d.dash.feed.seq;
    changeDeviceState(d.fx.store.db, 'zeta-9', 'quarantine', 'z');
    await d.dash.poll();
    const s = await openEvents(d.base, String(before));
    const missed = await s.next((e) => e.event === 'change');
    assert.deepEqual(missed.data.devices, ['zeta-9']);
    assert.equal(missed.id, String(d.dash.feed.seq));
    s.close();
    const future = await openEvents(d.base, String(d.dash.feed.seq + 100));
    assert.equal((await future.next((e) => e.event === 'change')).data.devices, '*');
    future.close();
    for (let i = 0; i < 1100; i++) d.dash.feed.publish([`dev-${i}`]);
    const old = await openEvents(d.base, String(before));
    assert.equal((await old.next((e) => e.event === 'change')).data.devices, '*');
    old.close();
    // Up to date: hello only, no change.
    const fresh = await openEvents(d.base, String(d.dash.feed.seq));
    await fresh.next((e) => e.event === 'hello');
    assert.deepEqual(
      fresh.pending().filter((e) => e.event === 'change'),
      [],
    );
    fresh.close();
  });

  it('sends "*" instead of more than 500 ids', async () => {
    const s = await openEvents(d.base);
    await s.next((e) => e.event === 'hello');
    d.dash.feed.publish(Array.from({ length: 501 }, (_, i) => `many-${i}`));
    assert.equal((await s.next((e) => e.event === 'change')).data.devices, '*');
    s.close();
  });
});
