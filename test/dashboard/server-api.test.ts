/**
 * The dashboard's read API over real HTTP on a real SQLite hub database: paging, sorting, searching
 * and filtering the device table; the device view; 400s that name the parameter and carry no stack;
 * 404s as JSON; the security headers; a deadline that passes with no write flips the device to TIMEOUT.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CSP } from '../../dashboard/index.ts';
import { assertOneTicketDevice, call, dashFixture, EXTRA, T0, type DashFixture } from './server-fixture.ts';

describe('dashboard read API', () => {
  let d: DashFixture;
  let all: string[];
  before(async () => {
    d = await dashFixture();
    all = [d.fx.dev.deviceId, ...EXTRA].sort();
  });
  after(() => d.close());

  it('pages the device table by id, both ways, with totals', async () => {
    const seen: string[] = [];
    for (let offset = 0; offset < all.length; offset += 2) {
      const page = (await call(d.base, `/api/devices?limit=2&offset=${offset}`)).json();
      assert.equal(page.total, all.length);
      assert.equal(page.offset, offset);
      assert.equal(page.limit, 2);
      seen.push(...page.rows.map((r: { deviceId: string }) => r.deviceId));
    }
    assert.deepEqual(seen, all);
    const desc = (await call(d.base, '/api/devices?dir=desc&limit=200')).json();
    assert.deepEqual(
      desc.rows.map((r: { deviceId: string }) => r.deviceId),
      [...all].reverse(),
    );
    const past = (await call(d.base, '/api/devices?offset=1000')).json();
    assert.deepEqual(past.rows, []);
    assert.equal(past.total, all.length);
  });

  it('searches ids case-insensitively, filters by state, sorts by state, last request and deadline', async () => {
    const q = (await call(d.base, '/api/devices?q=ALPHA')).json();
    assert.deepEqual(
      q.rows.map((r: { deviceId: string }) => r.deviceId),
      ['alpha-01', 'alpha-02'],
    );
    assert.equal((await call(d.base, '/api/devices?q=beta-x')).json().total, 1);
    const quarantined = (await call(d.base, '/api/devices?state=QUARANTINED')).json();
    assert.deepEqual(quarantined.rows, [
      {
        deviceId: 'quiet-03',
        state: 'QUARANTINED',
        reason: 'suspicious',
        instances: 1,
        lastRequestAtMs: null,
        nextDeadlineMs: null,
        bootCount: null,
        firmware: null,
      },
    ]);
    const ok = (await call(d.base, '/api/devices?state=OK')).json();
    assert.deepEqual(
      ok.rows.map((r: { deviceId: string }) => r.deviceId),
      [d.fx.dev.deviceId],
    );
    assert.equal(ok.rows[0].lastRequestAtMs, T0);
    assert.ok(ok.rows[0].nextDeadlineMs > T0);
    assert.equal(ok.rows[0].bootCount, 3);
    assert.equal(ok.rows[0].firmware, '2.1.0');
    const byState = (await call(d.base, '/api/devices?sort=state&dir=desc&limit=1')).json();
    assert.equal(byState.rows[0].deviceId, 'quiet-03');
    // Devices that never asked sort last in both directions.
    for (const dir of ['asc', 'desc']) {
      for (const sort of ['lastRequest', 'deadline']) {
        const rows = (await call(d.base, `/api/devices?sort=${sort}&dir=${dir}`)).json().rows;
        assert.equal(rows[0].deviceId, d.fx.dev.deviceId, `${sort} ${dir}`);
      }
    }
    const counts = (await call(d.base, '/api/summary')).json().counts;
    assert.deepEqual(counts, { OK: 1, WITHHELD: 0, UPDATE: 0, TIMEOUT: 0, FAIL: 0, QUARANTINED: 1, REVOKED: 0, NEVER: 4 });
  });

  it('answers bad parameters with 400 bad-parameter naming them, never a stack', async () => {
    const cases: Array<[string, string]> = [
      ['limit=0', 'limit'],
      ['limit=201', 'limit'],
      ['limit=abc', 'limit'],
      ['offset=-1', 'offset'],
      ['offset=1e3', 'offset'],
      ['sort=name', 'sort'],
      ['dir=up', 'dir'],
      ['state=ok', 'state'],
      [`q=${'x'.repeat(129)}`, 'q'],
      ['bogus=1', 'bogus'],
      ['limit=5&limit=6', 'limit'],
    ];
    const before = d.dash.counts.bad;
    for (const [query, name] of cases) {
      const a = await call(d.base, `/api/devices?${query}`);
      assert.equal(a.status, 400, query);
      assert.equal(a.headers['content-type'], 'application/json; charset=utf-8');
      const e = a.json().error;
      assert.equal(e.code, 'bad-parameter', query);
      assert.match(e.message, new RegExp(name), query);
      assert.doesNotMatch(a.text, /\bat .*\.ts:\d+/, query);
    }
    assert.equal(d.dash.counts.bad - before, cases.length);
    const health = (await call(d.base, '/api/health')).json();
    assert.equal(health.ok, true);
    assert.deepEqual(health.hubs, [{ label: 'ih-test', ok: true }]);
    assert.ok(health.requests.bad >= cases.length);
  });

  it('answers unknown routes, devices and files with JSON 404s, wrong methods with 405, foreign Host with 421', async () => {
    for (const path of [
      '/api/nope',
      '/api/devices/nobody',
      '/api/devices/%ZZ',
      '/assets/../package.json',
      '/assets/Bad.JS',
      '/etc/passwd',
    ]) {
      const a = await call(d.base, path);
      assert.ok(a.status === 404 || a.status === 400, `${path}: ${a.status}`);
      assert.equal(typeof a.json().error.code, 'string', path);
    }
    assert.equal((await call(d.base, '/api/devices/nobody')).json().error.code, 'unknown-device');
    assert.equal((await call(d.base, '/api/summary', { method: 'POST' })).status, 405);
    const rebound = await call(d.base, '/api/summary', { headers: { Host: `evil.example:${d.port}` } });
    assert.equal(rebound.status, 421);
    assert.equal(rebound.json().error.code, 'bad-host');
  });

  it('sends the CSP and security headers on every answer, no-store on the API', async () => {
    for (const path of ['/api/summary', '/api/devices', '/api/nope', '/', '/assets/vendor/uplot.js']) {
      const a = await call(d.base, path);
      assert.equal(a.headers['content-security-policy'], CSP, path);
      assert.equal(a.headers['x-content-type-options'], 'nosniff', path);
      assert.equal(a.headers['referrer-policy'], 'no-referrer', path);
      if (path.startsWith('/api/')) assert.equal(a.headers['cache-control'], 'no-store', path);
    }
    const uplot = await call(d.base, '/assets/vendor/uplot.js');
    assert.equal(uplot.status, 200);
    assert.match(String(uplot.headers['content-type']), /^text\/javascript/);
  });

  it('lets the browser keep the page files: no-cache with an ETag, 304 when it still has them', async () => {
    for (const path of ['/', '/assets/app.js', '/assets/style.css', '/assets/vendor/uplot.js']) {
      const a = await call(d.base, path);
      assert.equal(a.status, 200, path);
      assert.equal(a.headers['cache-control'], 'no-cache', path);
      const etag = String(a.headers.etag);
      assert.match(etag, /^"[A-Za-z0-9_-]+"$/, path);
      const again = await call(d.base, path, { headers: { 'If-None-Match': `"other", ${etag}` } });
      assert.equal(again.status, 304, path);
      assert.equal(again.text, '', path);
      assert.equal(again.headers.etag, etag, path);
      assert.equal(again.headers['content-security-policy'], CSP, path);
      const changed = await call(d.base, path, { headers: { 'If-None-Match': '"not-this-one"' } });
      assert.equal(changed.status, 200, path);
      assert.equal(changed.text.length > 0, true, path);
    }
  });

  it('shows one device: instances, boot, audit trail newest first', async () => {
    const dev = (await call(d.base, `/api/devices/${encodeURIComponent(d.fx.dev.deviceId)}`)).json();
    assert.equal(dev.deviceId, d.fx.dev.deviceId);
    assert.equal(dev.state, 'OK');
    assert.equal(dev.deviceState, 'active');
    assert.deepEqual(
      dev.instances.map((i: { instance: string; state: string; hub: string }) => [i.instance, i.state, i.hub]),
      [
        ['device', 'OK', 'ih-test'],
        ['mm', 'NEVER', 'ih-test'],
      ],
    );
    // Newest first by time (the fixture enrolled the device at the host's real time, after T0).
    assertOneTicketDevice(dev, T0);
    assert.deepEqual(dev.resets, [{ atMs: T0, bootCount: 3, reason: 'power-on', firmware: '2.1.0' }]);
  });

  it('flips a device to TIMEOUT when its deadline passes with no write, at the next poll', async () => {
    const id = d.fx.dev.deviceId;
    const deadline = (await call(d.base, '/api/devices?state=OK')).json().rows[0].nextDeadlineMs as number;
    d.clock.advanceTo(deadline + 1);
    await d.dash.poll();
    const row = (await call(d.base, `/api/devices?q=${id}`)).json().rows[0];
    assert.equal(row.state, 'TIMEOUT');
    assert.equal(row.reason, 'silent');
    assert.equal((await call(d.base, '/api/summary')).json().counts.TIMEOUT, 1);
  });
});
