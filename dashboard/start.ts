/**
 * Starting a dashboard from the operator's words (`dominion dashboard`, `dominion up`): the listen
 * address — loopback unless `public` says otherwise, since the page shows the whole fleet and the
 * API answers anyone who can reach it — the databases, and the token.
 */
import { isIP } from 'node:net';
import { openSources } from './open.ts';
import { Dashboard, loopbackHosts } from './server.ts';
import type { Log } from './watcher.ts';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `host:port` or `[v6]:port`; throws a RangeError naming what is wrong. */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (m === null) throw new RangeError(`--listen must be host:port (e.g. 127.0.0.1:8080 or [::1]:8080), got "${text.slice(0, 80)}"`);
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (port > 65535) throw new RangeError(`--listen port must be 0-65535, got ${port}`);
  if (m[1] !== undefined && isIP(host) !== 6) throw new RangeError(`--listen: "${host}" is not an IPv6 address`);
  return { host, port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export interface StartDashboardOptions {
  readonly dbs: readonly string[];
  readonly listen: ListenAddress;
  /** Allow a non-loopback address (and any Host header). */
  readonly public?: boolean;
  readonly token?: string;
  readonly log?: Log;
}

export interface DashboardHandle {
  readonly dashboard: Dashboard;
  readonly url: string;
  close(): Promise<void>;
}

/** Opens the databases (failing loudly on a bad one), reads the fleet, binds. */
export async function startDashboard(o: StartDashboardOptions): Promise<DashboardHandle> {
  if (!isLoopback(o.listen.host) && o.public !== true)
    throw new RangeError(
      `--listen ${o.listen.host} is not a loopback address: the dashboard shows the whole fleet to whoever reaches it; add --public if you mean it`,
    );
  const log = o.log ?? (() => {});
  const sources = await openSources(o.dbs, (err) => log('warn', 'idle PostgreSQL connection failed', { error: err.message }));
  let dashboard: Dashboard;
  try {
    dashboard = await Dashboard.start({ sources, ...(o.token !== undefined ? { token: o.token } : {}), log });
  } catch (err) {
    for (const s of sources) await s.close();
    throw err;
  }
  try {
    const address = await dashboard.listen(o.listen.host, o.listen.port, o.public === true ? undefined : loopbackHosts);
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return { dashboard, url: `http://${host}:${address.port}/`, close: () => dashboard.close() };
  } catch (err) {
    await dashboard.close();
    throw err;
  }
}
