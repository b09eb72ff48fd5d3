// @ts-check
/**
 * Fleet view (`#/`): counts by state, the hour's ticket and refusal rates, the day's resets by
 * reason, and the device table, paged, searched, sorted and filtered by the server (never the whole
 * fleet in the browser).
 */
import { ApiError, getDevices, getSummary } from './api.js';
import { debounce, h, replace } from './dom.js';
import { DEVICE_STATES, ago, clock, count, deadline, stateClass } from './format.js';

/** @typedef {import('./api.js').Summary} Summary */
/** @typedef {import('./api.js').DevicePage} DevicePage */
/** @typedef {import('./charts.js').SmallChart} SmallChart */

/**
 * The charts (and uPlot under them) load with the first summary, off the first page's path.
 * @type {Promise<typeof import('./charts.js')> | undefined}
 */
let chartsModule;

const PAGE = 50;
const SORTABLE = /** @type {Record<string, string>} */ ({
  deviceId: 'id',
  state: 'state',
  lastRequestAtMs: 'lastRequest',
  nextDeadlineMs: 'deadline',
});

/** The table's query survives a visit to a device and back. */
const query = { q: '', state: '', sort: 'id', dir: 'asc', offset: 0, limit: PAGE };

export class FleetView {
  constructor() {
    this.countsEl = h('div', { class: 'counts', 'aria-label': 'devices by state' });
    this.hubsEl = h('p', { class: 'muted hubs' });
    this.ticketChart = h('div', { class: 'chart', id: 'chart-tickets' });
    this.refusalChart = h('div', { class: 'chart', id: 'chart-refusals' });
    this.resetChart = h('div', { class: 'chart', id: 'chart-resets' });
    this.resetTotals = h('ul', { class: 'reset-totals' });
    this.tbody = h('tbody');
    this.theadRow = h('tr');
    this.table = h('table', { class: 'devices', id: 'devices' }, h('thead', {}, this.theadRow), this.tbody);
    this.totalEl = h('span', { class: 'total', id: 'device-total' });
    this.pagerEl = h('div', { class: 'pager' });
    this.tableError = h('p', { class: 'error', role: 'alert', hidden: true });
    this.search = h('input', {
      type: 'search',
      id: 'device-search',
      placeholder: 'search device id',
      maxlength: 128,
      'aria-label': 'search device id',
    });
    this.search.value = query.q;
    this.stateSelect = h(
      'select',
      { id: 'state-filter', 'aria-label': 'filter by state' },
      h('option', { value: '' }, 'all states'),
      DEVICE_STATES.map((s) => h('option', { value: s }, s)),
    );
    this.stateSelect.value = query.state;
    /** @type {DevicePage | undefined} */
    this.page = undefined;
    this.pageSeq = 0;
    this.summarySeq = 0;
    this.firstRowsMarked = false;
    /** @type {{ tickets: SmallChart, refusals: SmallChart, resets: SmallChart } | undefined} */
    this.charts = undefined;
    const searchLater = debounce(() => {
      query.q = this.search.value.slice(0, 128);
      query.offset = 0;
      void this.loadPage();
    }, 250);
    this.search.addEventListener('input', searchLater);
    this.stateSelect.addEventListener('change', () => this.filter(this.stateSelect.value));
  }

  /** @param {HTMLElement} root */
  mount(root) {
    performance.mark('dominion:route-fleet');
    this.firstRowsMarked = false;
    this.table.removeAttribute('data-first-rows-ms');
    replace(
      root,
      h(
        'section',
        { class: 'fleet' },
        h('h2', {}, 'Fleet'),
        this.hubsEl,
        this.countsEl,
        h(
          'div',
          { class: 'charts' },
          h('figure', {}, h('figcaption', {}, 'Tickets/s, last hour'), this.ticketChart),
          h('figure', {}, h('figcaption', {}, 'Refusals/s, last hour'), this.refusalChart),
          h('figure', {}, h('figcaption', {}, 'Resets per hour by reason, last 24 h'), this.resetChart, this.resetTotals),
        ),
        h('div', { class: 'table-tools' }, this.search, this.stateSelect, this.totalEl, this.pagerEl),
        this.tableError,
        this.table,
      ),
    );
    this.renderHead();
    // The table first: it is what an operator came for, and what the first-page figure measures
    // (the summary folds the whole fleet on the server; asked at once, it would delay the page).
    void this.loadPage().then(() => this.loadSummary());
  }

  /** @param {string} state */
  filter(state) {
    query.state = state;
    query.offset = 0;
    this.stateSelect.value = state;
    void this.loadPage();
  }

  /**
   * Refetch after a change event; the summary too when the counts may have moved.
   * @param {{ summary: boolean }} what
   */
  async refresh(what) {
    await Promise.all([this.loadPage(), what.summary ? this.loadSummary() : undefined]);
  }

  async loadSummary() {
    const seq = ++this.summarySeq;
    try {
      const s = await getSummary();
      if (seq !== this.summarySeq) return;
      clock.sync(s.now);
      this.renderSummary(s);
    } catch (e) {
      if (seq === this.summarySeq) replace(this.hubsEl, h('span', { class: 'error' }, describe(e)));
    }
  }

  async loadPage() {
    const seq = ++this.pageSeq;
    try {
      const page = await getDevices(query);
      if (seq !== this.pageSeq) return;
      this.page = page;
      this.tableError.hidden = true;
      this.renderRows(page);
    } catch (e) {
      if (seq !== this.pageSeq) return;
      this.tableError.hidden = false;
      replace(this.tableError, describe(e));
    }
  }

  /** @param {Summary} s */
  renderSummary(s) {
    replace(
      this.hubsEl,
      `${count(s.devices)} devices enrolled · hubs: `,
      s.hubs.flatMap((hub, i) => [i > 0 ? ', ' : '', h('span', { class: 'hub' }, `${hub.label} (${hub.store})`)]),
      s.readOnly ? h('span', { class: 'badge readonly' }, 'read-only') : null,
    );
    replace(
      this.countsEl,
      DEVICE_STATES.map((state) =>
        h(
          'button',
          {
            type: 'button',
            class: `count ${stateClass(state)}${query.state === state ? ' selected' : ''}`,
            'data-state': state,
            title: `show ${state} devices`,
            onclick: () => this.filter(query.state === state ? '' : state),
          },
          h('span', { class: 'count-n' }, count(s.counts[state] ?? 0)),
          h('span', { class: 'count-label' }, state),
        ),
      ),
    );
    const reasons = Object.keys(s.resets.byReason).sort();
    void this.renderCharts(s, reasons);
    replace(
      this.resetTotals,
      reasons.length === 0
        ? h('li', { class: 'muted' }, 'no resets in the last 24 h')
        : reasons.map((r) => h('li', {}, h('span', { class: 'reason' }, r), ' ', count(s.resets.byReason[r].reduce((a, b) => a + b, 0)))),
    );
  }

  /**
   * @param {Summary} s
   * @param {string[]} reasons
   */
  async renderCharts(s, reasons) {
    const seq = this.summarySeq;
    let m;
    try {
      m = await (chartsModule ??= import('./charts.js'));
    } catch (e) {
      chartsModule = undefined; // the next summary tries again
      replace(this.resetTotals, h('li', { class: 'error' }, `the charts did not load: ${String(e)}`));
      return;
    }
    if (seq !== this.summarySeq) return; // a newer summary draws its own
    this.charts ??= {
      tickets: new m.SmallChart(this.ticketChart, 'tickets/s'),
      refusals: new m.SmallChart(this.refusalChart, 'refusals/s'),
      resets: new m.SmallChart(this.resetChart, 'resets/h'),
    };
    const rateXs = s.rates.tickets.map((_, i) => (s.rates.start + i * s.rates.bucketMs) / 1000);
    const perSecond = (/** @type {number[]} */ v) => v.map((n) => n / (s.rates.bucketMs / 1000));
    void this.charts.tickets.update(rateXs, [{ label: 'tickets/s', colour: '#2e7d32', values: perSecond(s.rates.tickets) }]);
    void this.charts.refusals.update(rateXs, [{ label: 'refusals/s', colour: '#c62828', values: perSecond(s.rates.refusals) }]);
    const hours = Math.max(0, ...reasons.map((r) => s.resets.byReason[r].length));
    const resetXs = Array.from({ length: hours }, (_, i) => (s.resets.start + i * s.resets.bucketMs) / 1000);
    void this.charts.resets.update(
      resetXs,
      reasons.map((r, i) => ({ label: r, colour: m.reasonColour(r, i), values: s.resets.byReason[r], stepped: true })),
    );
  }

  renderHead() {
    const cols = [
      ['deviceId', 'device'],
      ['state', 'state'],
      ['reason', 'reason'],
      ['instances', 'instances'],
      ['lastRequestAtMs', 'last request'],
      ['nextDeadlineMs', 'next deadline'],
      ['bootCount', 'boots'],
      ['firmware', 'firmware'],
    ];
    replace(
      this.theadRow,
      cols.map(([key, label]) => {
        const sort = SORTABLE[key];
        if (sort === undefined) return h('th', { scope: 'col' }, label);
        const active = query.sort === sort;
        return h(
          'th',
          { scope: 'col', 'aria-sort': active ? (query.dir === 'asc' ? 'ascending' : 'descending') : 'none' },
          h(
            'button',
            {
              type: 'button',
              class: 'sort',
              'data-sort': sort,
              onclick: () => {
                query.dir = active && query.dir === 'asc' ? 'desc' : 'asc';
                query.sort = sort;
                query.offset = 0;
                this.renderHead();
                void this.loadPage();
              },
            },
            label,
            active ? (query.dir === 'asc' ? ' ▲' : ' ▼') : '',
          ),
        );
      }),
    );
  }

  /** @param {DevicePage} page */
  renderRows(page) {
    const now = clock.now();
    replace(
      this.tbody,
      page.rows.length === 0
        ? h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'no devices match'))
        : page.rows.map((r) =>
            h(
              'tr',
              { 'data-device': r.deviceId },
              h('td', {}, h('a', { href: `#/device/${encodeURIComponent(r.deviceId)}`, class: 'device-link' }, r.deviceId)),
              h('td', {}, h('span', { class: stateClass(r.state) }, r.state)),
              h('td', {}, r.reason ?? ''),
              h('td', { class: 'num' }, r.instances),
              h('td', { 'data-at': r.lastRequestAtMs ?? '', 'data-kind': 'ago' }, ago(r.lastRequestAtMs, now)),
              h('td', { 'data-at': r.nextDeadlineMs ?? '', 'data-kind': 'deadline' }, deadline(r.nextDeadlineMs, now)),
              h('td', { class: 'num' }, r.bootCount ?? '—'),
              h('td', {}, r.firmware ?? '—'),
            ),
          ),
    );
    const first = page.total === 0 ? 0 : page.offset + 1;
    const last = page.offset + page.rows.length;
    replace(this.totalEl, `${count(first)}–${count(last)} of ${count(page.total)}`);
    this.totalEl.setAttribute('data-total', String(page.total));
    replace(
      this.pagerEl,
      h(
        'button',
        { type: 'button', id: 'page-prev', disabled: page.offset === 0, onclick: () => this.go(page.offset - PAGE) },
        '← previous',
      ),
      h('button', { type: 'button', id: 'page-next', disabled: last >= page.total, onclick: () => this.go(page.offset + PAGE) }, 'next →'),
    );
    if (!this.firstRowsMarked) {
      this.firstRowsMarked = true;
      // After the next frame: the rows are laid out and painted, which is what the figure is about.
      requestAnimationFrame(() => {
        const mark = performance.mark('dominion:first-rows');
        performance.measure('dominion:route-to-rows', 'dominion:route-fleet', 'dominion:first-rows');
        // For whoever measures (bench/dashboard): when, since navigation, the first rows were painted.
        this.table.setAttribute('data-first-rows-ms', mark.startTime.toFixed(1));
      });
    }
  }

  /** @param {number} offset */
  go(offset) {
    query.offset = Math.max(0, offset);
    void this.loadPage();
  }

  /** Live relative times in the table. */
  tick() {
    const now = clock.now();
    for (const td of this.tbody.querySelectorAll('td[data-at]')) {
      const at = td.getAttribute('data-at');
      if (at === null || at === '') continue;
      td.textContent = td.getAttribute('data-kind') === 'deadline' ? deadline(Number(at), now) : ago(Number(at), now);
    }
  }
}

/** @param {unknown} e */
export function describe(e) {
  return e instanceof ApiError ? e.describe() : e instanceof Error ? e.message : String(e);
}
