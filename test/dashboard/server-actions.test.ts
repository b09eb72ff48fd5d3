/**
 * The dashboard's actions over real HTTP: read-only without a token (403), 401 without the header,
 * 403 for a wrong token, 200 with the right one — and the audit row it writes is the one the CLI's
 * own command writes for the same change. Bad bodies are 400s, unknown devices 404, a refused change 409.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readAudit } from '../../actors/hub/sqlite/index.ts';
import { stateCommand } from '../../cli/operator.ts';
import { call, dashFixture, TOKEN, type DashFixture } from './server-fixture.ts';

const JSON_TYPE = { 'Content-Type': 'application/json' };

describe('dashboard actions, read-only', () => {
  let d: DashFixture;
  before(async () => (d = await dashFixture()));
  after(() => d.close());

  it('refuses every action with 403 read-only, even with a token', async () => {
    for (const action of ['quarantine', 'release', 'revoke', 'require-update']) {
      const a = await call(d.base, `/api/devices/alpha-01/${action}`, {
        method: 'POST',
        headers: { ...JSON_TYPE, Authorization: `Bearer ${TOKEN}` },
        body: '{}',
      });
      assert.equal(a.status, 403, action);
      assert.equal(a.json().error.code, 'read-only');
    }
    assert.equal((await call(d.base, '/api/summary')).json().readOnly, true);
  });
});

describe('dashboard actions with an operator token', () => {
  let d: DashFixture;
  before(async () => (d = await dashFixture({ token: TOKEN })));
  after(() => d.close());

  const post = (path: string, body: string, headers: Record<string, string> = { ...JSON_TYPE, Authorization: `Bearer ${TOKEN}` }) =>
    call(d.base, path, { method: 'POST', headers, body });

  it('401 without the header (with WWW-Authenticate), 403 with a wrong token; nothing changes', async () => {
    const none = await post('/api/devices/alpha-01/quarantine', '{}', JSON_TYPE);
    assert.equal(none.status, 401);
    assert.equal(none.json().error.code, 'token-required');
    assert.match(String(none.headers['www-authenticate']), /^Bearer/);
    for (const wrong of ['x', `${TOKEN}x`, TOKEN.slice(0, -1), TOKEN.toUpperCase()]) {
      const a = await post('/api/devices/alpha-01/quarantine', '{}', { ...JSON_TYPE, Authorization: `Bearer ${wrong}` });
      assert.equal(a.status, 403, wrong);
      assert.equal(a.json().error.code, 'bad-token');
    }
    assert.equal((await call(d.base, '/api/devices?q=alpha-01')).json().rows[0].state, 'NEVER');
    assert.ok(
      d.logs.every((l) => !l.includes(TOKEN)),
      'the token is never logged',
    );
  });

  it('quarantines with the token, audited exactly as dominion quarantine audits it', async () => {
    const a = await post('/api/devices/alpha-01/quarantine', JSON.stringify({ reason: 'from the page' }));
    assert.equal(a.status, 200, a.text);
    const body = a.json();
    assert.equal(body.ok, true);
    assert.equal(body.device.state, 'QUARANTINED');
    assert.equal(body.device.stateReason, 'from the page');
    assert.equal((await call(d.base, '/api/devices?q=alpha-01')).json().rows[0].state, 'QUARANTINED');
    // The CLI's command on another device of the same database, then compare the two audit rows.
    const out: string[] = [];
    const code = await stateCommand('quarantine')(['alpha-02', '--db', d.fx.path, '--reason', 'from the page'], {
      out: (l) => out.push(l),
      err: (l) => out.push(l),
    });
    assert.equal(code, 0, out.join('\n'));
    const [page] = readAudit(d.fx.store.db, { deviceId: 'alpha-01', limit: 1 });
    const [cli] = readAudit(d.fx.store.db, { deviceId: 'alpha-02', limit: 1 });
    const shape = (e: typeof page) => ({ ...e, seq: 0, atMs: 0, deviceId: '' });
    assert.deepEqual(shape(page!), shape(cli!));
    assert.equal(page!.reason, 'quarantine');
    assert.ok(
      d.logs.every((l) => !l.includes(TOKEN)),
      'the token is never logged',
    );
  });

  it('releases, revokes, and refuses releasing a revoked device with 409', async () => {
    assert.equal((await post('/api/devices/alpha-01/release', '{}')).status, 200);
    assert.equal((await call(d.base, '/api/devices?q=alpha-01')).json().rows[0].state, 'NEVER');
    const revoked = await post('/api/devices/zeta-9/revoke', '{"reason":"lost"}');
    assert.equal(revoked.json().device.state, 'REVOKED');
    const again = await post('/api/devices/zeta-9/release', '{}');
    assert.equal(again.status, 409);
    assert.equal(again.json().error.code, 'refused');
  });

  it('clears required updates (audited clear-update) and rejects bad require-update bodies', async () => {
    const cleared = await post('/api/devices/alpha-02/require-update', '{"clear":true}');
    assert.equal(cleared.status, 200, cleared.text);
    assert.equal(readAudit(d.fx.store.db, { deviceId: 'alpha-02', limit: 1 })[0]!.reason, 'clear-update');
    for (const body of [
      '{"instance":"device"}',
      '{"instance":"nope","release":1}',
      '{"instance":"mm","release":0}',
      '{"clear":1}',
      '{"release":1}',
    ]) {
      const a = await post(`/api/devices/${d.fx.dev.deviceId}/require-update`, body);
      assert.equal(a.status, 400, body);
      assert.equal(a.json().error.code, 'bad-body', body);
    }
    const unpublished = await post(`/api/devices/${d.fx.dev.deviceId}/require-update`, '{"instance":"mm","release":7}');
    assert.equal(unpublished.status, 409, unpublished.text);
  });

  it('400 for bad bodies, 415 for other content types, 404 for unknown devices and actions, 405 for GET', async () => {
    for (const body of ['nope', '[]', '{"reason":5}', '{"reason":"x","extra":1}', `{"reason":"${'r'.repeat(1001)}"}`]) {
      const a = await post('/api/devices/alpha-01/quarantine', body);
      assert.equal(a.status, 400, body);
      assert.equal(a.json().error.code, 'bad-body');
    }
    const big = await post('/api/devices/alpha-01/quarantine', JSON.stringify({ reason: 'x'.repeat(5000) }));
    assert.equal(big.status, 413);
    const text = await post('/api/devices/alpha-01/quarantine', '{}', { 'Content-Type': 'text/plain', Authorization: `Bearer ${TOKEN}` });
    assert.equal(text.status, 415);
    assert.equal((await post('/api/devices/nobody/quarantine', '{}')).status, 404);
    assert.equal((await post('/api/devices/alpha-01/explode', '{}')).status, 404);
    assert.equal((await call(d.base, '/api/devices/alpha-01/quarantine')).status, 405);
    assert.equal((await call(d.base, '/api/devices?q=alpha-01')).json().rows[0].state, 'NEVER');
  });
});
