// @ts-check
/**
 * The dashboard page: hash routes (`#/` fleet, `#/device/<id>`), the operator token field, the
 * live connection and the clock that makes deadlines count down. See docs/DASHBOARD.md.
 */
import { operatorToken } from './api.js';
import { DeviceView } from './device.js';
import { h, replace } from './dom.js';
import { FleetView } from './fleet.js';
import { connectLive } from './live.js';

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const indicator = /** @type {HTMLElement} */ (document.getElementById('live'));
const tokenForm = /** @type {HTMLElement} */ (document.getElementById('token-form'));

/** @type {FleetView | undefined} */
let fleet;
/** @type {FleetView | DeviceView} */
let view;

function route() {
  const m = /^#\/device\/(.+)$/.exec(location.hash);
  if (m !== null) {
    let id;
    try {
      id = decodeURIComponent(m[1]);
    } catch {
      id = m[1];
    }
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
window.addEventListener('hashchange', route);
route();
connectLive(indicator, async (change) => {
  if (view instanceof DeviceView) {
    if (change.devices === '*' || change.devices.has(view.id)) await view.refresh();
  } else await view.refresh({ summary: change.summary });
});
setInterval(() => view.tick(), 100);
