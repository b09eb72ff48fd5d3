// @ts-check
/**
 * The dashboard page: hash routes (`#/` fleet, `#/device/<id>`), the operator token field, the
 * live connection and the clock that makes deadlines count down. See docs/DASHBOARD.md.
 */
import { operatorToken } from './api.js';
import { h, replace } from './dom.js';
import { FleetView } from './fleet.js';
import { connectLive } from './live.js';

/** @typedef {import('./device.js').DeviceView} DeviceView */

/**
 * The device view (and its action panel) loads on first visit: the fleet view's first page is
 * what most loads are for, and each module on its path costs a request before anything shows.
 * @type {Promise<typeof import('./device.js')> | undefined}
 */
let deviceModule;

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const indicator = /** @type {HTMLElement} */ (document.getElementById('live'));
const tokenForm = /** @type {HTMLElement} */ (document.getElementById('token-form'));

/** @type {FleetView | undefined} */
let fleet;
/** @type {FleetView | DeviceView | undefined} */
let view;
/** The latest route wins when a slower device-view load finishes after a newer route. */
let routeSeq = 0;

async function route() {
  const seq = ++routeSeq;
  const m = /^#\/device\/(.+)$/.exec(location.hash);
  if (m !== null) {
    let id;
    try {
      id = decodeURIComponent(m[1]);
    } catch {
      id = m[1];
    }
    /** @type {typeof import('./device.js').DeviceView} */
    let DeviceView;
    try {
      ({ DeviceView } = await (deviceModule ??= import('./device.js')));
    } catch (e) {
      deviceModule = undefined; // the next visit tries again
      if (seq === routeSeq) replace(main, h('p', { class: 'error', role: 'alert' }, `the device view did not load: ${String(e)}`));
      return;
    }
    if (seq !== routeSeq) return;
    view = new DeviceView(id);
    document.title = `${id} · dominion`;
  } else {
    fleet ??= new FleetView();
    view = fleet;
    document.title = 'fleet · dominion';
  }
  view.mount(main);
  window.scrollTo(0, 0);
}

function tokenField() {
  const input = h('input', {
    type: 'password',
    id: 'token',
    autocomplete: 'off',
    placeholder: 'operator token',
    'aria-label': 'operator token',
  });
  input.value = operatorToken.get();
  const state = h('span', { class: 'token-state', id: 'token-state' });
  const show = () => replace(state, operatorToken.get() === '' ? 'no token entered' : 'token set (this tab only)');
  input.addEventListener('input', () => {
    operatorToken.set(input.value);
    show();
  });
  const clear = h(
    'button',
    { type: 'button', id: 'token-clear', onclick: () => ((input.value = ''), operatorToken.set(''), show()) },
    'forget',
  );
  show();
  replace(tokenForm, input, clear, state);
}

tokenField();
window.addEventListener('hashchange', () => void route());
void route();
connectLive(indicator, async (change) => {
  if (view instanceof FleetView) await view.refresh({ summary: change.summary });
  else if (view !== undefined && (change.devices === '*' || change.devices.has(view.id))) await view.refresh();
});
setInterval(() => view?.tick(), 100);
