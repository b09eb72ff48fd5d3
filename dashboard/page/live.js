// @ts-check
/**
 * Server-sent events: the server pushes `change` events (batched, at most 4/s); this coalesces
 * them further so the page refetches at most ~3 times a second, one fetch at a time. EventSource
 * reconnects by itself, sending Last-Event-ID; the indicator shows which state it is in.
 */
import { clock } from './format.js';

/** @typedef {{ devices: Set<string> | '*', summary: boolean }} Pending */

const MIN_GAP_MS = 300;

/**
 * @param {HTMLElement} indicator
 * @param {(change: Pending) => Promise<void>} onChange
 */
export function connectLive(indicator, onChange) {
  /** @type {Pending | undefined} */
  let pending;
  let running = false;
  let lastRun = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;

  const set = (/** @type {string} */ state, /** @type {string} */ label) => {
    indicator.className = `live live-${state}`;
    indicator.setAttribute('data-state', state);
    indicator.textContent = label;
  };

  const flush = async () => {
    timer = undefined;
    if (running || pending === undefined) return;
    const wait = lastRun + MIN_GAP_MS - Date.now();
    if (wait > 0) {
      timer = setTimeout(flush, wait);
      return;
    }
    const change = pending;
    pending = undefined;
    running = true;
    lastRun = Date.now();
    try {
      await onChange(change);
    } finally {
      running = false;
      if (pending !== undefined && timer === undefined) timer = setTimeout(flush, MIN_GAP_MS);
    }
  };

  /** @param {{ devices?: unknown, summary?: unknown }} data */
  const queue = (data) => {
    const devices = Array.isArray(data.devices) ? new Set(data.devices.map(String)) : '*';
    if (pending === undefined) pending = { devices, summary: data.summary === true };
    else {
      if (devices === '*' || pending.devices === '*') pending.devices = '*';
      else for (const d of devices) pending.devices.add(d);
      pending.summary ||= data.summary === true;
    }
    if (timer === undefined && !running) timer = setTimeout(flush, 0);
  };

  set('connecting', 'connecting…');
  const source = new EventSource('/api/events');
  source.addEventListener('hello', (e) => {
    set('open', 'live');
    try {
      const hello = /** @type {{ now?: unknown }} */ (JSON.parse(/** @type {MessageEvent<string>} */ (e).data));
      if (typeof hello.now === 'number') clock.sync(hello.now);
    } catch {
      // a hello without a body still means connected
    }
  });
  source.addEventListener('open', () => set('open', 'live'));
  source.addEventListener('change', (e) => {
    try {
      queue(/** @type {{ devices?: unknown, summary?: unknown }} */ (JSON.parse(/** @type {MessageEvent<string>} */ (e).data)));
    } catch {
      queue({ devices: '*', summary: true });
    }
  });
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) set('closed', 'offline (reload to retry)');
    else set('reconnecting', 'reconnecting…');
  });
  return source;
}
