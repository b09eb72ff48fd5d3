/**
 * LISTEN for a hub's operator changes on a connection of its own (docs/ARCHITECTURE.md §7.4). When
 * that connection drops, it reconnects every `retryMs` and, once back, asks for a whole reload:
 * NOTIFYs sent while it was away are lost by PostgreSQL's design, the state they announced is not.
 */
import type pg from 'pg';
import { configChannel, decodeChange, type ConfigChange } from './config-channel.ts';
import { openClient, type PgConnectOptions } from './connect.ts';

export class ConfigListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private connected_ = false;

  private constructor(
    private readonly options: PgConnectOptions,
    private readonly onChange: (change: ConfigChange) => void,
    private readonly retryMs: number,
  ) {}

  /** Listens from now on (the first connection must succeed: the caller then loads the snapshot). */
  static async start(options: PgConnectOptions, onChange: (change: ConfigChange) => void, retryMs = 1000): Promise<ConfigListener> {
    const l = new ConfigListener(options, onChange, retryMs);
    await l.connect();
    return l;
  }

  get connected(): boolean {
    return this.connected_;
  }

  private async connect(): Promise<void> {
    const client = await openClient(this.options);
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (n) => this.onChange(decodeChange(n.payload)));
    const channel = await configChannel(client);
    await client.query(`LISTEN "${channel}"`);
    if (this.stopped) return void (await client.end().catch(() => {}));
    this.client = client;
    this.connected_ = true;
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.connected_ = false;
    void client.end().catch(() => {});
    this.retry();
  }

  private retry(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect().then(
        () => this.onChange({ all: true }),
        () => this.retry(),
      );
    }, this.retryMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => {});
  }
}
