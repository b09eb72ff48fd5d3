// @ts-check
/** The fleet view's small uPlot charts: tickets/s and refusals/s over the hour, resets per hour by reason. */
/** @typedef {import('./vendor/uplot.js').default} uPlot */

/**
 * uPlot (script and styles) is loaded on first use, not with the page: the device table is what the first paint is for,
 * and the chart library is most of the page's script bytes.
 * @type {Promise<typeof import('./vendor/uplot.js').default> | undefined}
 */
let uPlotLoading;
const loadUPlot = () =>
  (uPlotLoading ??= Promise.all([import('./vendor/uplot.js'), stylesheet('/assets/vendor/uplot.css')]).then(([m]) => m.default));

/**
 * Adds a stylesheet (allowed by the CSP's style-src 'self'); resolves once it applies, or failed:
 * a chart without uPlot's styles is still a chart.
 * @param {string} href
 * @returns {Promise<void>}
 */
function stylesheet(href) {
  return new Promise((resolve) => {
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = href;
    link.addEventListener('load', () => resolve());
    link.addEventListener('error', () => resolve());
    document.head.append(link);
  });
}

/** Reason colours follow the state colours: a timeout is a TIMEOUT, a withheld ticket a WITHHELD. */
const REASON_COLOURS = /** @type {Record<string, string>} */ ({
  'ticket-timeout': '#c62828',
  'ticket-withheld': '#ef6c00',
  'check-failed': '#ad1457',
  update: '#1565c0',
  operator: '#6a1b9a',
  'power-on': '#2e7d32',
});
const SPARE_COLOURS = ['#00838f', '#5d4037', '#827717', '#37474f', '#d81b60', '#3949ab'];

/**
 * @param {string} reason
 * @param {number} i
 */
export function reasonColour(reason, i) {
  return REASON_COLOURS[reason] ?? SPARE_COLOURS[i % SPARE_COLOURS.length];
}

/**
 * One small chart in `el`, replaced on each update (its series may change with the reasons seen).
 */
export class SmallChart {
  /**
   * @param {HTMLElement} el
   * @param {string} yLabel
   */
  constructor(el, yLabel) {
    this.el = el;
    this.yLabel = yLabel;
    /** @type {uPlot | undefined} */
    this.plot = undefined;
    /** @type {string} */
    this.shape = '';
    window.addEventListener('resize', () => this.plot?.setSize(this.size()));
  }

  size() {
    return { width: Math.max(240, this.el.clientWidth - 8), height: 150 };
  }

  /**
   * @param {number[]} xs seconds since epoch
   * @param {{ label: string, colour: string, values: number[], stepped?: boolean }[]} series
   */
  async update(xs, series) {
    const uPlot = await loadUPlot();
    /** @type {uPlot.AlignedData} */
    const data = [xs, ...series.map((s) => s.values)];
    const shape = series.map((s) => s.label).join('\u0000');
    if (this.plot !== undefined && shape === this.shape) {
      this.plot.setData(data);
      return;
    }
    this.plot?.destroy();
    this.shape = shape;
    /** @type {uPlot.Options} */
    const opts = {
      ...this.size(),
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{ size: 30 }, { label: this.yLabel, size: 50 }],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.colour,
          fill: `${s.colour}22`,
          width: 1.5,
          points: { show: false },
          ...(s.stepped === true ? { paths: uPlot.paths.stepped?.({ align: 1 }) } : {}),
        })),
      ],
    };
    this.plot = new uPlot(opts, data, this.el);
  }
}
