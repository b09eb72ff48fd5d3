// @ts-check
/**
 * The fleet view's first page, asked for as soon as this module arrives: index.html loads it
 * `async` (it runs before the page is parsed or styled and imports nothing), so the JSON is read
 * while the other modules still load, and the table is in the page's first frame. index.html's
 * preload of the same URL has the request on its way even earlier. api.js takes it, once.
 */

/** What api.js asks for the default query (q, state, sort, dir, offset, limit in its order). */
export const FIRST_PAGE_PATH = '/api/devices?q=&state=&sort=id&dir=asc&offset=0&limit=50';

/** @typedef {{ response: Response, body: unknown }} Answer */

/** @type {Promise<Answer> | undefined} */
let pending;
if (/^(#\/?)?$/.test(location.hash)) {
  // GET in the preload's mode (crossorigin="anonymous": same-origin credentials; the server sets no cookie).
  pending = fetch(FIRST_PAGE_PATH, { credentials: 'same-origin', cache: 'no-store' }).then(async (response) => ({
    response,
    body: await response.json().catch(() => undefined),
  }));
  pending.catch(() => {}); // a failure is the taker's to report (or nobody's, if the view changed)
} else {
  // Another view first: take the preload's answer and drop it (it would be stale by the time the
  // fleet view opens; unused, Chromium warns about it in the console).
  fetch(FIRST_PAGE_PATH, { credentials: 'same-origin', cache: 'no-store' })
    .then((r) => r.body?.cancel())
    .catch(() => {});
}

/**
 * The answer already on its way for `path`, once; undefined for any other path or the second time.
 * @param {string} path
 * @returns {Promise<Answer> | undefined}
 */
export function takeFirstPage(path) {
  if (path !== FIRST_PAGE_PATH || pending === undefined) return undefined;
  const p = pending;
  pending = undefined;
  return p;
}
