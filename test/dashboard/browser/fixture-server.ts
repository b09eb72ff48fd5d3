/**
 * A tiny stand-in for `dominion dashboard`, for the page's fast, deterministic browser tests: it
 * serves dashboard/page/ with the contract's headers (the strict CSP among them) and
 * contract-shaped JSON from an in-memory fleet the test writes, with the same token rules. The
 * end-to-end tests run the real server; this one lets a test put any string where a device's data goes.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const TYPES: Record<string, string> = { js: 'text/javascript', css: 'text/css', svg: 'image/svg+xml', png: 'image/png' };

export interface FixtureDevice {
  deviceId: string;
  state: string;
  deviceState: 'active' | 'quarantined' | 'revoked';
  stateReason: string | null;
  instances: Array<{
    instance: string;
    hub: string;
    state: string;
    reason: string | null;
    lastRequestAtMs: number | null;
    lastTicketAtMs: number | null;
    lastDeferralMs: number | null;
    deadlineMs: number | null;
    images: Array<{ label: string; version: string | null; slot: string | null; update: string | null; updateVersion: string | null }>;
    recovery: boolean;
  }>;
  boot: { atMs: number | null; count: number | null; outcome: string | null; reason: string | null } | null;
  resets: Array<{ atMs: number; bootCount: number | null; reason: string | null; firmware: string | null }>;
  audit: Array<{
    id: number;
    atMs: number;
    hub: string;
    instance: string | null;
    outcome: string;
    reason: string | null;
    detail: string | null;
    deferralMs: number | null;
  }>;
}

export interface FixtureServer {
  readonly url: string;
  readonly devices: Map<string, FixtureDevice>;
  /** Actions that reached the point of changing something (none when refused). */
  readonly actions: Array<{ device: string; action: string; body: unknown }>;
  /** Sends a `change` event naming these devices to every open page. */
  change(devices: readonly string[]): void;
  /** Ends every open event stream, as a restarting server would. */
  dropStreams(): void;
  /** The Last-Event-ID header of each event-stream request, in order (undefined: a first connect). */
  readonly resumedFrom: Array<string | undefined>;
  close(): Promise<void>;
}

export function fixtureDevice(deviceId: string, nowMs: number): FixtureDevice {
  return {
    deviceId,
    state: 'OK',
    deviceState: 'active',
    stateReason: null,
    instances: ['device', 'mm', 'sm:sensor'].map((instance) => ({
      instance,
      hub: instance.startsWith('sm:') ? 'sh-sensor' : 'ih-1',
      state: 'OK',
      reason: 'granted',
      lastRequestAtMs: nowMs - 1000,
      lastTicketAtMs: nowMs - 1000,
      lastDeferralMs: 5000,
      deadlineMs: nowMs + 4000,
      images: [{ label: instance === 'device' ? 'sw' : instance, version: '1', slot: 'a', update: null, updateVersion: null }],
      recovery: false,
    })),
    boot: { atMs: nowMs - 60_000, count: 1, outcome: 'boot-granted', reason: 'power-on' },
    resets: [],
    audit: [
      { id: 1, atMs: nowMs - 1000, hub: 'ih-1', instance: 'device', outcome: 'ticket', reason: 'granted', detail: null, deferralMs: 5000 },
    ],
  };
}

export async function startFixtureServer(o: { token?: string } = {}): Promise<FixtureServer> {
  const devices = new Map<string, FixtureDevice>();
  const actions: FixtureServer['actions'] = [];
  const streams = new Set<ServerResponse>();
  const resumedFrom: Array<string | undefined> = [];
  let seq = 0;

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
    res.end(JSON.stringify(body));
  };
  const fail = (res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void =>
    send(res, status, { error: { code, message } }, headers);
  const rowOf = (d: FixtureDevice) => ({
    deviceId: d.deviceId,
    state: d.state,
    reason: d.stateReason ?? d.instances[0]?.reason ?? null,
    instances: d.instances.length,
    lastRequestAtMs: d.instances[0]?.lastRequestAtMs ?? null,
    nextDeadlineMs: d.instances[0]?.deadlineMs ?? null,
    bootCount: d.boot?.count ?? null,
    firmware: '0.1.0',
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    if (req.method === 'GET' && path === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(readFileSync(join(ROOT, 'dashboard/page/index.html')));
      return;
    }
    if (req.method === 'GET' && (path === '/assets/vendor/uplot.js' || path === '/assets/vendor/uplot.css')) {
      const file = path.endsWith('.js') ? 'uPlot.esm.js' : 'uPlot.min.css';
      res.writeHead(200, { 'Content-Type': path.endsWith('.js') ? TYPES.js! : TYPES.css! });
      res.end(readFileSync(join(ROOT, 'node_modules/uplot/dist', file)));
      return;
    }
    const asset = /^\/assets\/([a-z0-9-]+\.(js|css|svg|png))$/.exec(path);
    if (req.method === 'GET' && asset !== null) {
      res.writeHead(200, { 'Content-Type': TYPES[asset[2]!]! });
      res.end(readFileSync(join(ROOT, 'dashboard/page', asset[1]!)));
      return;
    }
    if (req.method === 'GET' && path === '/api/summary') {
      const now = Date.now();
      const counts: Record<string, number> = { OK: 0, WITHHELD: 0, UPDATE: 0, TIMEOUT: 0, FAIL: 0, QUARANTINED: 0, REVOKED: 0, NEVER: 0 };
      for (const d of devices.values()) counts[d.state] = (counts[d.state] ?? 0) + 1;
      const hourStart = now - 60 * 60_000;
      send(res, 200, {
        now,
        hubs: [{ label: 'ih-1', store: 'sqlite' }],
        devices: devices.size,
        counts,
        rates: {
          bucketMs: 60_000,
          start: hourStart,
          tickets: Array.from({ length: 60 }, (_, i) => 60 + (i % 7)),
          refusals: Array(60).fill(0),
        },
        resets: {
          bucketMs: 3_600_000,
          start: now - 24 * 3_600_000,
          byReason: { 'ticket-timeout': Array(24).fill(0), operator: Array(24).fill(0) },
        },
        readOnly: o.token === undefined,
      });
      return;
    }
    if (req.method === 'GET' && path === '/api/devices') {
      const q = url.searchParams.get('q') ?? '';
      const state = url.searchParams.get('state') ?? '';
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const limit = Number(url.searchParams.get('limit') ?? 50);
      const all = [...devices.values()].filter((d) => d.deviceId.includes(q) && (state === '' || d.state === state));
      all.sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1));
      if (url.searchParams.get('dir') === 'desc') all.reverse();
      send(res, 200, { total: all.length, offset, limit, rows: all.slice(offset, offset + limit).map(rowOf) });
      return;
    }
    if (req.method === 'GET' && path === '/api/events') {
      const last = req.headers['last-event-id'];
      resumedFrom.push(typeof last === 'string' ? last : undefined);
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' });
      res.write(`retry: 2000\nevent: hello\ndata: ${JSON.stringify({ seq, now: Date.now() })}\n\n`);
      streams.add(res);
      req.on('close', () => streams.delete(res));
      return;
    }
    const one = /^\/api\/devices\/([^/]+)(?:\/(quarantine|release|revoke|require-update))?$/.exec(path);
    if (one !== null) {
      const id = decodeURIComponent(one[1]!);
      const d = devices.get(id);
      if (one[2] === undefined && req.method === 'GET') {
        if (d === undefined) return fail(res, 404, 'unknown-device', `no device "${id}" is enrolled`);
        return send(res, 200, d);
      }
      if (one[2] !== undefined && req.method === 'POST') {
        let raw = '';
        for await (const chunk of req) raw += String(chunk);
        if (o.token === undefined) return fail(res, 403, 'read-only', 'this dashboard was started without an operator token: read-only');
        const auth = req.headers.authorization;
        if (auth === undefined)
          return fail(res, 401, 'token-required', 'actions need the operator token (Authorization: Bearer)', {
            'WWW-Authenticate': 'Bearer',
          });
        if (auth !== `Bearer ${o.token}`) return fail(res, 403, 'bad-token', 'the operator token is wrong');
        if (d === undefined) return fail(res, 404, 'unknown-device', `no device "${id}" is enrolled`);
        actions.push({ device: id, action: one[2], body: JSON.parse(raw) as unknown });
        if (one[2] === 'quarantine') Object.assign(d, { state: 'QUARANTINED', deviceState: 'quarantined' });
        if (one[2] === 'release') Object.assign(d, { state: 'OK', deviceState: 'active' });
        if (one[2] === 'revoke') Object.assign(d, { state: 'REVOKED', deviceState: 'revoked' });
        return send(res, 200, { ok: true, device: d });
      }
    }
    fail(res, 404, 'not-found', 'no such page');
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => fail(res, 500, 'internal', 'fixture failed'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    devices,
    actions,
    resumedFrom,
    dropStreams() {
      for (const s of streams) s.end();
      streams.clear();
    },
    change(ids) {
      seq++;
      for (const s of streams) s.write(`id: ${seq}\nevent: change\ndata: ${JSON.stringify({ seq, devices: ids, summary: true })}\n\n`);
    },
    close: async () => {
      for (const s of streams) s.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
