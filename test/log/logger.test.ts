/** The logger (actors/log): levels, both formats, the redaction guard and per-key rate limiting on a ManualClock. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../runtime/index.ts';
import { Logger, OVERFLOW_KEY, RateLimiter, type LogFields } from '../../actors/log/index.ts';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');

function capture(
  o: { format?: 'text' | 'json' | 'auto'; level?: 'debug' | 'info' | 'warn' | 'error'; isTTY?: boolean; windowMs?: number } = {},
) {
  const clock = new ManualClock(T0);
  const lines: string[] = [];
  const log = Logger.create({ component: 'hub ih-1', clock, write: (l) => lines.push(l), ...o });
  return { clock, lines, log, json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('Logger', () => {
  it('prints the text shape on a terminal: ISO time, padded level, component, message, fields', () => {
    const { lines, log } = capture({ isTTY: true });
    log.info('online', { db: '/var/lib/ih.db', n: 3, ok: true, note: 'two words' });
    log.warn('bare');
    assert.deepEqual(lines, [
      '2026-12-01T10:00:00.000Z INFO  hub ih-1: online db=/var/lib/ih.db n=3 ok=true note="two words"',
      '2026-12-01T10:00:00.000Z WARN  hub ih-1: bare',
    ]);
  });

  it('prints one JSON object per line when not on a terminal, with flat fields', () => {
    const { json, log, lines } = capture({ isTTY: false });
    log.error('not ready', { reason: 'disk', count: 2 });
    assert.equal(lines.length, 1);
    assert.deepEqual(json()[0], {
      time: '2026-12-01T10:00:00.000Z',
      level: 'error',
      component: 'hub ih-1',
      msg: 'not ready',
      reason: 'disk',
      count: 2,
    });
  });

  it('--log-format wins over the terminal; a field named like the record is prefixed, not overwritten', () => {
    const { json, log } = capture({ format: 'json', isTTY: true });
    log.info('x', { level: 'spoofed', msg: 'spoofed' });
    assert.deepEqual(json()[0], {
      time: '2026-12-01T10:00:00.000Z',
      level: 'info',
      component: 'hub ih-1',
      msg: 'x',
      'field.level': 'spoofed',
      'field.msg': 'spoofed',
    });
  });

  it('drops records below the level', () => {
    const { lines, log } = capture({ format: 'json', level: 'warn' });
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { msg: string }).msg),
      ['w', 'e'],
    );
    assert.equal(log.enabled('info'), false);
  });

  it('never prints bytes or a field whose name says secret, in either format', () => {
    const secret = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i);
    const hexSecret = Buffer.from(secret).toString('hex');
    for (const format of ['text', 'json'] as const) {
      const { lines, log } = capture({ format });
      log.info('enrolled', {
        secretKey: hexSecret,
        ticket: 'c2lnbmVkLXRpY2tldA==',
        nonce: 'abcd',
        password: 'hunter2',
        signatureHex: 'ff00',
        raw: secret as unknown as string, // what a careless caller might do
        device: 'd-1',
      } as LogFields);
      const text = lines.join('\n');
      assert.ok(!text.includes(hexSecret), `${format}: the secret key never appears`);
      assert.ok(!text.includes('hunter2') && !text.includes('c2lnbmVkLXRpY2tldA==') && !text.includes('ff00'), text);
      assert.match(text, /\[32 bytes\]/);
      assert.match(text, /\[redacted\]/);
      assert.match(text, /d-1/, 'ordinary fields still print');
    }
  });

  it('keeps a record on one line: a newline in a message or field is escaped', () => {
    const { lines, log } = capture({ format: 'text' });
    log.warn('detail from a device\nFAKE 2026 ERROR', { detail: 'a\nb' });
    assert.equal(lines.length, 1);
    assert.ok(!lines[0]!.includes('\n'));
    assert.match(lines[0]!, /detail from a device\\nFAKE/);
  });

  it('children share the output and the level under their own component', () => {
    const { lines, log } = capture({ format: 'text', level: 'warn' });
    const mm = log.child('mm d-1');
    mm.info('hidden');
    mm.warn('shown');
    assert.deepEqual(lines, ['2026-12-01T10:00:00.000Z WARN  mm d-1: shown']);
  });
});

describe('rate-limited lines', () => {
  it('the first at once, then one summary per window with the count held back; a quiet key starts over', () => {
    const { clock, json, log } = capture({ format: 'json', windowMs: 60_000 });
    for (let i = 0; i < 107; i++)
      log.limited('refused/unknown-signer/d-1', 'warn', 'ticket request refused (no reply): unknown-signer', { device: 'd-1' });
    assert.equal(json().length, 1, 'one line for the first');
    assert.equal(json()[0]!.suppressed, undefined);
    clock.advance(59_999);
    assert.equal(json().length, 1, 'nothing before the window ends');
    clock.advance(1);
    assert.equal(json().length, 2);
    const summary = json()[1]!;
    assert.equal(summary.suppressed, 106);
    assert.equal(summary.device, 'd-1');
    assert.equal(summary.level, 'warn');
    assert.match(String(summary.msg), /unknown-signer \(106 more in the last 60 s\)/);
    assert.equal(summary.time, '2026-12-01T10:01:00.000Z');
    // Still flooding: one more summary per window.
    log.limited('refused/unknown-signer/d-1', 'warn', 'again', {});
    log.limited('refused/unknown-signer/d-1', 'warn', 'again', {});
    clock.advance(60_000);
    assert.equal(json().length, 3);
    assert.equal(json()[2]!.suppressed, 2);
    // A window with nothing: no line, and the next occurrence is said at once.
    clock.advance(120_000);
    assert.equal(json().length, 3);
    log.limited('refused/unknown-signer/d-1', 'warn', 'fresh', {});
    assert.equal(json().length, 4);
    assert.equal(json()[3]!.msg, 'fresh');
    assert.equal(json()[3]!.suppressed, undefined);
  });

  it('keys are independent', () => {
    const { json, log } = capture({ format: 'json' });
    log.limited('a', 'warn', 'a1');
    log.limited('b', 'warn', 'b1');
    log.limited('a', 'warn', 'a2');
    assert.deepEqual(
      json().map((r) => r.msg),
      ['a1', 'b1'],
    );
  });

  it('below the level, a limited line is neither said nor counted', () => {
    const { clock, lines, log } = capture({ format: 'json', level: 'error' });
    log.limited('k', 'warn', 'w');
    log.limited('k', 'warn', 'w');
    clock.advance(120_000);
    assert.deepEqual(lines, []);
  });

  it('the key table is bounded: past maxKeys new keys share one overflow entry', () => {
    const clock = new ManualClock(0);
    const said: string[] = [];
    const limiter = new RateLimiter<string>(clock, 1000, (key, o) => said.push(`${key}:${o.value}:${o.suppressed}`), 2);
    limiter.hit('d-1', 'x');
    limiter.hit('d-2', 'x');
    limiter.hit('d-3', 'x');
    limiter.hit('d-4', 'y');
    assert.equal(limiter.size, 3);
    assert.deepEqual(said, ['d-1:x:0', 'd-2:x:0', `${OVERFLOW_KEY}:x:0`]);
    clock.advance(1000);
    assert.deepEqual(said.at(-1), `${OVERFLOW_KEY}:y:1`);
  });

  it('close() drops pending summaries', () => {
    const { clock, lines, log } = capture({ format: 'json' });
    log.limited('k', 'warn', 'w');
    log.limited('k', 'warn', 'w');
    log.close();
    clock.advance(120_000);
    assert.equal(lines.length, 1);
  });
});
