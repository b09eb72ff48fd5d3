// @ts-check
/**
 * The dashboard's HTTP API (docs/DASHBOARD.md): typed fetches, errors as ApiError
 * with the server's code and message, and the operator token (memory and this tab's sessionStorage,
 * sent as a bearer header, never a cookie).
 */
import { takeFirstPage } from './first-page.js';

/**
 * @typedef {'OK'|'WITHHELD'|'UPDATE'|'TIMEOUT'|'FAIL'|'QUARANTINED'|'REVOKED'|'NEVER'} DeviceState
 * @typedef {{ now: number, hubs: { label: string, store: string }[], devices: number,
 *   counts: Record<string, number>,
 *   rates: { bucketMs: number, start: number, tickets: number[], refusals: number[] },
 *   resets: { bucketMs: number, start: number, byReason: Record<string, number[]> },
 *   readOnly: boolean }} Summary
 * @typedef {{ deviceId: string, state: string, reason: string|null, instances: number,
 *   lastRequestAtMs: number|null, nextDeadlineMs: number|null, bootCount: number|null, firmware: string|null }} DeviceRow
 * @typedef {{ total: number, offset: number, limit: number, rows: DeviceRow[] }} DevicePage
 * @typedef {{ label: string, version: string|number|null, slot: string|null, update: string|null, updateVersion: string|number|null }} Image
 * @typedef {{ instance: string, hub: string, state: string, reason: string|null, lastRequestAtMs: number|null,
 *   lastTicketAtMs: number|null, lastDeferralMs: number|null, deadlineMs: number|null, images: Image[], recovery: boolean }} Instance
 * @typedef {{ atMs: number, bootCount: number|null, reason: string|null, firmware: string|null }} Reset
 * @typedef {{ id: number|string, atMs: number, hub: string, instance: string|null, outcome: string, reason: string|null,
 *   detail: string|null, deferralMs: number|null }} AuditRow
 * @typedef {{ deviceId: string, state: string, deviceState: string, stateReason: string|null, instances: Instance[],
 *   boot: { atMs: number|null, count: number|null, outcome: string|null, reason: string|null } | null,
 *   resets: Reset[], audit: AuditRow[] }} Device
 * @typedef {{ q: string, state: string, sort: string, dir: string, offset: number, limit: number }} DeviceQuery
 */

export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }

  /** What the operator reads: "403 bad-token: the token is wrong". */
  describe() {
    return `${this.status === 0 ? 'network' : this.status} ${this.code}: ${this.message}`;
  }
}

const TOKEN_KEY = 'dominion-dashboard-token';
let token = sessionStorage.getItem(TOKEN_KEY) ?? '';

export const operatorToken = {
  get() {
    return token;
  },
  /** @param {string} value */
  set(value) {
    token = value.trim();
    if (token === '') sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  },
};

/**
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<unknown>}
 */
async function request(path, init) {
  const early = init === undefined ? takeFirstPage(path) : undefined;
  let response;
  /** @type {unknown} */
  let body;
  try {
    if (early !== undefined) ({ response, body } = await early);
    // GETs in the mode of index.html's preload (crossorigin="anonymous"); the server sets no
    // cookie. Actions send none at all.
    else response = await fetch(path, { ...init, credentials: init?.method === 'POST' ? 'omit' : 'same-origin', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'unreachable', e instanceof Error ? e.message : String(e));
  }
  if (early === undefined) {
    try {
      body = await response.json();
    } catch {
      body = undefined;
    }
  }
  if (!response.ok) {
    const err = /** @type {{ error?: { code?: unknown, message?: unknown } } | undefined} */ (body)?.error;
    throw new ApiError(
      response.status,
      typeof err?.code === 'string' ? err.code : 'http-error',
      typeof err?.message === 'string' ? err.message : response.statusText || 'request failed',
    );
  }
  return body;
}

/** @returns {Promise<Summary>} */
export async function getSummary() {
  return /** @type {Summary} */ (await request('/api/summary'));
}

/**
 * @param {DeviceQuery} q
 * @returns {Promise<DevicePage>}
 */
export async function getDevices(q) {
  const params = new URLSearchParams({
    q: q.q,
    state: q.state,
    sort: q.sort,
    dir: q.dir,
    offset: String(q.offset),
    limit: String(q.limit),
  });
  return /** @type {DevicePage} */ (await request(`/api/devices?${params}`));
}

/**
 * @param {string} id
 * @returns {Promise<Device>}
 */
export async function getDevice(id) {
  return /** @type {Device} */ (await request(`/api/devices/${encodeURIComponent(id)}`));
}

/** @typedef {'quarantine'|'release'|'revoke'|'require-update'} Action */

/**
 * Runs an operator action with the token as a bearer header (no cookies: no cross-site forgery).
 * @param {string} id
 * @param {Action} action
 * @param {Record<string, unknown>} body
 * @returns {Promise<Device>}
 */
export async function act(id, action, body) {
  /** @type {Record<string, string>} */
  const headers = { 'Content-Type': 'application/json' };
  if (token !== '') headers.Authorization = `Bearer ${token}`;
  const result = /** @type {{ device: Device }} */ (
    await request(`/api/devices/${encodeURIComponent(id)}/${action}`, { method: 'POST', headers, body: JSON.stringify(body) })
  );
  return result.device;
}
