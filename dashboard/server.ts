/**
 * `dominion dashboard`'s server (docs/ARCHITECTURE.md, "The dashboard"): node:http on the routes,
 * the watcher polling the hub databases, the event streams. Built from opened sources; `start`
 * reads them whole (a failure there fails the start) and `listen` binds.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../runtime/index.ts';
import { wallClock } from '../actors/log/index.ts';
import { route, type RequestCounts, type RouteContext } from './routes.ts';
import { ChangeFeed } from './sse.ts';
import type { HubSource } from './source.ts';
import { Watcher, type Log } from './watcher.ts';

export interface DashboardOptions {
  readonly sources: readonly HubSource[];
  /** The operator token; absent: read-only. */
  readonly token?: string;
  /** Wall-clock (epoch ms); default the host's. Tests pass a ManualClock started at an epoch instant. */
  readonly clock?: Clock;
  readonly log?: Log;
  /** Where the page's files are (default dashboard/page/). */
  readonly pageDir?: string;
  /** Poll on the clock by itself (default true); tests call `poll()` instead. */
  readonly autoPoll?: boolean;
}

export class Dashboard {
  readonly watcher: Watcher;
  readonly feed: ChangeFeed;
  readonly counts: RequestCounts = { total: 0, bad: 0, errors: 0 };
  private server: Server | undefined;
  private readonly clock: Clock;
  private readonly log: Log;

  private constructor(private readonly options: DashboardOptions) {
    this.clock = options.clock ?? wallClock;
    this.log = options.log ?? (() => {});
    this.feed = new ChangeFeed(this.clock);
    this.watcher = new Watcher(options.sources, this.feed, this.clock, this.log);
  }

  /** Reads the hubs (throws what a source throws: the command exits 1) and starts watching. */
  static async start(options: DashboardOptions): Promise<Dashboard> {
    const d = new Dashboard(options);
    await d.watcher.load();
    if (options.autoPoll !== false) d.watcher.run();
    return d;
  }

  get readOnly(): boolean {
    return this.options.token === undefined || this.options.token === '';
  }

  /** Polls the databases once now (tests; the watcher does it every 250 ms by itself). */
  poll(): Promise<boolean> {
    return this.watcher.poll();
  }

  /** Binds; `hosts`: Host headers accepted (undefined: any). Resolves with the bound address. */
  async listen(host: string, port: number, hosts?: (port: number) => ReadonlySet<string> | undefined): Promise<AddressInfo> {
    let ctx: RouteContext | undefined;
    const server = createServer((req, res) => void route(ctx!, req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    ctx = {
      watcher: this.watcher,
      feed: this.feed,
      sources: this.options.sources,
      token: this.readOnly ? undefined : Buffer.from(this.options.token!, 'utf8'),
      now: () => this.clock.now(),
      log: this.log,
      ...(this.options.pageDir !== undefined ? { pageDir: this.options.pageDir } : {}),
      hosts: hosts?.(address.port),
      counts: this.counts,
    };
    return address;
  }

  async close(): Promise<void> {
    this.feed.close();
    await this.watcher.stop();
    const server = this.server;
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    for (const s of this.options.sources) await s.close();
  }
}

/** The Host headers a loopback dashboard answers to (DNS rebinding: a page elsewhere naming our port). */
export function loopbackHosts(port: number): ReadonlySet<string> {
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]);
}
