/**
 * The dashboard's routes (docs/DASHBOARD.md): static files, the JSON API, the event stream and the
 * actions. Every answer carries the security headers; every error is JSON `{ error: { code,
 * message } }` — a 400 names the bad parameter, a 500 says only "internal error" (the details go to
 * the server log), and no stack trace ever reaches a client.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ACTIONS, authorize, parseAction, readJsonBody, runAction, type ActionName } from './actions.ts';
import { foldRows } from './fleet-index.ts';
import { HttpError, SECURITY_HEADERS, sendError, sendJson } from './http.ts';
import { BadParameter, deviceQuery } from './params.ts';
import type { ChangeFeed } from './sse.ts';
import type { HubSource } from './source.ts';
import { etagMatches, STATIC_CACHE_CONTROL, staticFile } from './static.ts';
import { instanceJson, type AuditJson, type DeviceDetail, type ResetJson } from './types.ts';
import { messageOf, type Log, type Watcher } from './watcher.ts';

export interface RouteContext {
  readonly watcher: Watcher;
  readonly feed: ChangeFeed;
  readonly sources: readonly HubSource[];
  readonly token: Buffer | undefined;
  readonly now: () => number;
  readonly log: Log;
  readonly pageDir?: string;
  /** Host headers accepted (DNS rebinding); undefined: any. */
  readonly hosts: ReadonlySet<string> | undefined;
  readonly counts: RequestCounts;
}

export interface RequestCounts {
  total: number;
  /** 4xx answers: bad parameters, unknown routes, refused tokens. */
  bad: number;
  /** 5xx answers. */
  errors: number;
}

const DEVICE_PATH = /^\/api\/devices\/([^/]+)(?:\/([a-z-]+))?$/;

export async function route(ctx: RouteContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const counts = ctx.counts;
  counts.total++;
  try {
    await dispatch(ctx, req, res);
  } catch (err) {
    const e = err instanceof HttpError ? err : err instanceof BadParameter ? new HttpError(400, 'bad-parameter', err.message) : undefined;
    if (e === undefined) {
      counts.errors++;
      ctx.log('error', 'request failed', {
        method: req.method,
        path: pathOf(req),
        error: messageOf(err),
        stack: err instanceof Error ? err.stack : undefined,
      });
      if (!res.headersSent) sendError(res, new HttpError(500, 'internal', 'internal error'));
      else res.destroy();
      return;
    }
    if (e.status >= 500) counts.errors++;
    else counts.bad++;
    if (e.status === 400 || e.status >= 500) ctx.log('warn', 'bad request', { method: req.method, path: pathOf(req), code: e.code });
    // A body we did not read must not be taken as the next request: close the connection after this answer.
    const unread = req.method === 'POST' && !req.complete;
    if (!res.headersSent) sendError(res, e, unread ? { Connection: 'close' } : {});
  }
}

async function dispatch(ctx: RouteContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (ctx.hosts !== undefined && !ctx.hosts.has((req.headers.host ?? '').toLowerCase()))
    throw new HttpError(421, 'bad-host', 'this dashboard answers only to its own address');
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://dashboard.invalid');
  } catch {
    throw new HttpError(400, 'bad-parameter', 'the request target is not a URL');
  }
  const path = url.pathname;
  const method = req.method ?? 'GET';
  if (!path.startsWith('/api/')) {
    if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'method-not-allowed', 'only GET here');
    const file = await staticFile(path, ctx.pageDir);
    if (file === undefined) throw new HttpError(404, 'not-found', 'no such page');
    const cache = { 'Cache-Control': STATIC_CACHE_CONTROL, ETag: file.etag };
    if (etagMatches(headerText(req.headers['if-none-match']), file.etag)) {
      res.writeHead(304, { ...SECURITY_HEADERS, ...cache });
      res.end();
      return;
    }
    res.writeHead(200, { ...SECURITY_HEADERS, ...cache, 'Content-Type': file.type, 'Content-Length': file.body.length });
    res.end(method === 'HEAD' ? undefined : file.body);
    return;
  }
  const m = DEVICE_PATH.exec(path);
  if (m !== null && m[2] !== undefined) {
    if (!(ACTIONS as readonly string[]).includes(m[2])) throw new HttpError(404, 'not-found', 'no such action');
    if (method !== 'POST') throw new HttpError(405, 'method-not-allowed', 'actions are POST only', { Allow: 'POST' });
    return action(ctx, req, res, deviceIdOf(m[1]!), m[2] as ActionName);
  }
  if (method !== 'GET') throw new HttpError(405, 'method-not-allowed', 'only GET here', { Allow: 'GET' });
  if (m !== null) {
    const detail = await deviceDetail(ctx, deviceIdOf(m[1]!));
    if (detail === undefined) throw new HttpError(404, 'unknown-device', 'no such device is enrolled with these hubs');
    return sendJson(res, 200, detail);
  }
  switch (path) {
    case '/api/summary':
      return sendJson(res, 200, summary(ctx));
    case '/api/devices':
      return sendJson(res, 200, ctx.watcher.index.page(deviceQuery(url.searchParams)));
    case '/api/health': {
      const hubs = ctx.watcher.health.map((h) => ({ label: h.label, ok: h.ok, ...(h.error !== undefined ? { error: h.error } : {}) }));
      return sendJson(res, 200, { ok: hubs.every((h) => h.ok), hubs, requests: ctx.counts, streams: ctx.feed.connections });
    }
    case '/api/events':
      ctx.feed.attach(res, headerText(req.headers['last-event-id']), SECURITY_HEADERS);
      return;
    default:
      throw new HttpError(404, 'not-found', 'no such API route');
  }
}

function summary(ctx: RouteContext): unknown {
  const now = ctx.now();
  const { index, rates } = ctx.watcher;
  return {
    now,
    hubs: ctx.sources.map((s) => ({ label: s.label, store: s.store })),
    devices: index.size,
    counts: index.counts(),
    rates: rates.rates(now),
    resets: rates.resetsByReason(now),
    readOnly: ctx.token === undefined,
  };
}

async function action(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, deviceId: string, name: ActionName): Promise<void> {
  authorize(req, ctx.token);
  const parsed = parseAction(name, await readJsonBody(req));
  const hubs = await runAction(ctx.sources, deviceId, parsed);
  ctx.log('info', 'operator action', { action: name, device: deviceId, hubs: hubs.join(', ') });
  await ctx.watcher.poll(); // the change is in the index and on the event streams before we answer
  const detail = await deviceDetail(ctx, deviceId);
  sendJson(res, 200, { ok: true, device: detail ?? null });
}

/** One device as every hub sees it (docs/DASHBOARD.md); undefined when no hub has it. */
export async function deviceDetail(ctx: RouteContext, deviceId: string): Promise<DeviceDetail | undefined> {
  const now = ctx.now();
  const parts = await Promise.all(ctx.sources.map(async (s) => ({ source: s, detail: await s.detail(deviceId, now) })));
  const rows = parts.flatMap((p) => p.detail.rows);
  if (rows.length === 0) return undefined;
  const fold = foldRows(rows, now).get(deviceId)!;
  const device = rows.find((r) => r.instance === 'device')?.boot;
  const resets: ResetJson[] = parts.flatMap((p) => p.detail.resets).sort((a, b) => b.atMs - a.atMs);
  const audit: AuditJson[] = parts
    .flatMap((p) => p.detail.audit)
    .sort((a, b) => b.atMs - a.atMs || b.id - a.id)
    .slice(0, 100);
  return {
    deviceId,
    state: fold.state(),
    deviceState: fold.deviceState,
    stateReason: fold.stateReason,
    instances: parts
      .flatMap((p) => p.detail.rows.map((r) => instanceJson(r, p.source.label)))
      .sort(
        (a, b) => instanceOrder(a.instance) - instanceOrder(b.instance) || (a.instance < b.instance ? -1 : a.instance > b.instance ? 1 : 0),
      ),
    boot: device === undefined ? null : { atMs: device.atMs, count: device.count ?? null, outcome: device.outcome, reason: device.reason },
    resets,
    audit,
  };
}

function instanceOrder(instance: string): number {
  return instance === 'device' ? 0 : instance === 'mm' ? 1 : 2;
}

/** The path's device id, decoded; device ids are 1-64 of [A-Za-z0-9._-], anything else is enrolled nowhere. */
function deviceIdOf(encoded: string): string {
  let id: string;
  try {
    id = decodeURIComponent(encoded);
  } catch {
    throw new HttpError(400, 'bad-parameter', 'the device id is not valid URL encoding');
  }
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) throw new HttpError(404, 'unknown-device', 'no such device is enrolled with these hubs');
  return id;
}

function headerText(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '').split('?')[0]!.slice(0, 200);
}
