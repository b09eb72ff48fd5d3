// @ts-check
/** Display of times, durations and states. */

export const DEVICE_STATES = /** @type {const} */ (['OK', 'WITHHELD', 'UPDATE', 'TIMEOUT', 'FAIL', 'QUARANTINED', 'REVOKED', 'NEVER']);

/**
 * A CSS class for a state; an unknown one (a newer server) gets a neutral class.
 * @param {string} state
 */
export function stateClass(state) {
  return /** @type {readonly string[]} */ (DEVICE_STATES).includes(state) ? `state state-${state}` : 'state state-unknown';
}

/**
 * Reset reasons grouped as an operator reads them: TIMEOUT (the ticket never came) apart from FAIL
 * (a check failed) and WITHHELD (a hub said no); OPERATOR (quarantine, revoke), UPDATE, POWER-ON.
 * @param {string | null | undefined} reason
 * @returns {'TIMEOUT'|'WITHHELD'|'FAIL'|'UPDATE'|'OPERATOR'|'POWER-ON'|'OTHER'}
 */
export function resetKind(reason) {
  const r = (reason ?? '').toLowerCase();
  if (r.includes('timeout')) return 'TIMEOUT';
  if (r.includes('withheld')) return 'WITHHELD';
  if (r.includes('fail') || r.includes('check')) return 'FAIL';
  if (r.includes('update')) return 'UPDATE';
  if (r.includes('operator') || r.includes('quarantine')) return 'OPERATOR';
  if (r.includes('power')) return 'POWER-ON';
  return 'OTHER';
}

/** The colour of a reset kind: the state it goes with. */
const KIND_STATE = /** @type {Record<string, string>} */ ({ OPERATOR: 'QUARANTINED', 'POWER-ON': 'NEVER', OTHER: 'NEVER' });

/** @param {string} kind */
export function resetKindClass(kind) {
  return stateClass(KIND_STATE[kind] ?? kind);
}

/**
 * "4.2 s", "3 min", "2 h 5 min".
 * @param {number} ms
 */
export function duration(ms) {
  const a = Math.abs(ms);
  if (a < 10_000) return `${(a / 1000).toFixed(1)} s`;
  if (a < 120_000) return `${Math.round(a / 1000)} s`;
  if (a < 7_200_000) return `${Math.round(a / 60_000)} min`;
  if (a < 172_800_000) return `${Math.floor(a / 3_600_000)} h ${Math.round((a % 3_600_000) / 60_000)} min`;
  return `${Math.round(a / 86_400_000)} d`;
}

/**
 * A past time relative to now: "3.1 s ago"; "—" when unknown.
 * @param {number | null | undefined} atMs
 * @param {number} nowMs
 */
export function ago(atMs, nowMs) {
  if (atMs === null || atMs === undefined) return '—';
  return atMs > nowMs ? `in ${duration(atMs - nowMs)}` : `${duration(nowMs - atMs)} ago`;
}

/**
 * A deadline relative to now: "in 4.2 s" or "passed 1.0 s ago".
 * @param {number | null | undefined} atMs
 * @param {number} nowMs
 */
export function deadline(atMs, nowMs) {
  if (atMs === null || atMs === undefined) return '—';
  return atMs >= nowMs ? `in ${duration(atMs - nowMs)}` : `passed ${duration(nowMs - atMs)} ago`;
}

/**
 * Local wall-clock time, to the second; the date too unless it is today.
 * @param {number | null | undefined} atMs
 */
export function clockTime(atMs) {
  if (atMs === null || atMs === undefined) return '—';
  const d = new Date(atMs);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const day = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return d.toDateString() === new Date().toDateString() ? time : `${day} ${time}`;
}

/** @param {number} n */
export function count(n) {
  // Integers by hand: the first toLocaleString of a page initialises ICU's number formatting, which
  // is a visible part of the first page's render on a slow machine.
  return Number.isSafeInteger(n) ? String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',') : n.toLocaleString('en-US');
}

/** The server's clock as seen from here: deadlines count down against it, not the browser's. */
export const clock = {
  offsetMs: 0,
  /** @param {number} serverNowMs */
  sync(serverNowMs) {
    if (Number.isFinite(serverNowMs)) this.offsetMs = serverNowMs - Date.now();
  },
  now() {
    return Date.now() + this.offsetMs;
  },
};
