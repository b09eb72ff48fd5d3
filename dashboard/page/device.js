// @ts-check
/**
 * Device view (`#/device/<id>`): each instance with its deadline counting down (against the
 * server's clock), last ticket, deferral and last outcome; the boot and reset history with
 * reasons (TIMEOUT apart from FAIL and WITHHELD); versions and update state per domain; the audit trail.
 */
import { actionPanel } from './actions.js';
import { getDevice } from './api.js';
import { h, replace } from './dom.js';
import { describe } from './fleet.js';
import { ago, clockTime, clock, deadline, duration, resetKind, resetKindClass, stateClass } from './format.js';

/** @typedef {import('./api.js').Device} Device */
/** @typedef {import('./api.js').Instance} Instance */

export class DeviceView {
  /** @param {string} id */
  constructor(id) {
    this.id = id;
    this.root = h('section', { class: 'device' });
    this.body = h('div', { class: 'device-body' }, h('p', { class: 'muted' }, 'loading…'));
    this.actionsEl = h('div');
    this.seq = 0;
    /** @type {Device | undefined} */
    this.device = undefined;
  }

  /** @param {HTMLElement} root */
  mount(root) {
    replace(this.root, h('a', { href: '#/', class: 'back' }, '← fleet'), this.body);
    replace(root, this.root);
    void this.refresh();
  }

  async refresh() {
    const seq = ++this.seq;
    try {
      const d = await getDevice(this.id);
      if (seq === this.seq) this.render(d);
    } catch (e) {
      if (seq === this.seq) replace(this.body, h('h2', {}, this.id), h('p', { class: 'error', role: 'alert' }, describe(e)));
    }
  }

  /** @param {Device} d */
  render(d) {
    const first = this.device === undefined;
    this.device = d;
    // The action panel is built once, so a live refresh keeps what the operator typed and the result line.
    if (first)
      replace(
        this.actionsEl,
        actionPanel(d, (changed) => (this.seq++, this.render(changed))),
      );
    const now = clock.now();
    replace(
      this.body,
      h(
        'header',
        { class: 'device-head' },
        h('h2', { id: 'device-id' }, d.deviceId),
        h('span', { class: stateClass(d.state), id: 'device-state' }, d.state),
        h('span', { class: 'muted' }, ` ${d.deviceState}`, d.stateReason !== null ? ` — ${d.stateReason}` : ''),
      ),
      this.actionsEl,
      h('h3', {}, 'Instances'),
      h(
        'table',
        { class: 'instances', id: 'instances' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['instance', 'hub', 'state', 'deadline', 'last ticket', 'deferral', 'last request', 'reason', 'versions and updates'].map((c) =>
              h('th', { scope: 'col' }, c),
            ),
          ),
        ),
        h(
          'tbody',
          {},
          d.instances.map((i) => instanceRow(i, now)),
        ),
      ),
      h('div', { class: 'columns' }, bootBlock(d), resetTable(d)),
      auditTable(d),
    );
  }

  /** The deadlines count down between refreshes. */
  tick() {
    const now = clock.now();
    for (const td of this.body.querySelectorAll('td[data-deadline-ms]')) {
      const at = Number(td.getAttribute('data-deadline-ms'));
      td.textContent = deadline(at, now);
      td.classList.toggle('expired', at < now);
    }
    for (const td of this.body.querySelectorAll('td[data-ago-ms]')) td.textContent = ago(Number(td.getAttribute('data-ago-ms')), now);
  }
}

/**
 * @param {Instance} i
 * @param {number} now
 */
function instanceRow(i, now) {
  return h(
    'tr',
    { 'data-instance': i.instance },
    h('th', { scope: 'row' }, i.instance, i.recovery ? h('span', { class: 'badge recovery' }, 'recovery') : null),
    h('td', {}, i.hub),
    h('td', {}, h('span', { class: stateClass(i.state) }, i.state)),
    i.deadlineMs === null
      ? h('td', { class: 'deadline' }, '—')
      : h(
          'td',
          { class: `deadline${i.deadlineMs < now ? ' expired' : ''}`, 'data-deadline-ms': i.deadlineMs },
          deadline(i.deadlineMs, now),
        ),
    i.lastTicketAtMs === null ? h('td', {}, '—') : h('td', { 'data-ago-ms': i.lastTicketAtMs }, ago(i.lastTicketAtMs, now)),
    h('td', {}, i.lastDeferralMs === null ? '—' : duration(i.lastDeferralMs)),
    i.lastRequestAtMs === null ? h('td', {}, '—') : h('td', { 'data-ago-ms': i.lastRequestAtMs }, ago(i.lastRequestAtMs, now)),
    h('td', { class: 'reason' }, i.reason ?? ''),
    h(
      'td',
      {},
      i.images.length === 0
        ? '—'
        : h(
            'ul',
            { class: 'images' },
            i.images.map((im) =>
              h(
                'li',
                {},
                h('span', { class: 'image-label' }, im.label),
                ` ${im.version ?? '?'}`,
                im.slot !== null ? ` (slot ${im.slot})` : '',
                im.update !== null && im.update !== ''
                  ? h('span', { class: 'badge update' }, `${im.update}${im.updateVersion !== null ? ` → ${im.updateVersion}` : ''}`)
                  : null,
              ),
            ),
          ),
    ),
  );
}

/** @param {Device} d */
function bootBlock(d) {
  const b = d.boot;
  return h(
    'div',
    { class: 'boot' },
    h('h3', {}, 'Boot'),
    b === null
      ? h('p', { class: 'muted' }, 'no boot reported')
      : h(
          'p',
          { id: 'boot' },
          `boot #${b.count ?? '?'} `,
          b.outcome ?? '',
          b.reason !== null ? ` (${b.reason})` : '',
          b.atMs !== null ? `, ${clockTime(b.atMs)}` : '',
        ),
  );
}

/** @param {Device} d */
function resetTable(d) {
  return h(
    'div',
    {},
    h('h3', {}, `Resets (${d.resets.length})`),
    d.resets.length === 0
      ? h('p', { class: 'muted' }, 'no resets recorded')
      : h(
          'table',
          { class: 'resets', id: 'resets' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['time', 'boot', 'kind', 'reason', 'firmware'].map((c) => h('th', { scope: 'col' }, c)),
            ),
          ),
          h(
            'tbody',
            {},
            d.resets.map((r) => {
              const kind = resetKind(r.reason);
              return h(
                'tr',
                { 'data-kind': kind },
                h('td', { class: 'time', title: new Date(r.atMs).toISOString() }, clockTime(r.atMs)),
                h('td', { class: 'num' }, r.bootCount ?? '—'),
                h('td', {}, h('span', { class: resetKindClass(kind) }, kind)),
                h('td', { class: 'reason' }, r.reason ?? '—'),
                h('td', {}, r.firmware ?? '—'),
              );
            }),
          ),
        ),
  );
}

/** @param {Device} d */
function auditTable(d) {
  return h(
    'div',
    {},
    h('h3', {}, `Audit trail (last ${d.audit.length})`),
    d.audit.length === 0
      ? h('p', { class: 'muted' }, 'no audit rows')
      : h(
          'table',
          { class: 'audit', id: 'audit' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ['time', 'hub', 'instance', 'outcome', 'reason', 'detail', 'deferral'].map((c) => h('th', { scope: 'col' }, c)),
            ),
          ),
          h(
            'tbody',
            {},
            d.audit.map((a) =>
              h(
                'tr',
                {},
                h('td', { class: 'time', title: new Date(a.atMs).toISOString() }, clockTime(a.atMs)),
                h('td', {}, a.hub),
                h('td', {}, a.instance ?? '—'),
                h('td', {}, h('span', { class: `outcome outcome-${/^[a-z-]+$/.test(a.outcome) ? a.outcome : 'other'}` }, a.outcome)),
                h('td', { class: 'reason' }, a.reason ?? ''),
                h('td', { class: 'detail' }, a.detail ?? ''),
                h('td', {}, a.deferralMs === null ? '' : duration(a.deferralMs)),
              ),
            ),
          ),
        ),
  );
}
