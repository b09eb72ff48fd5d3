/**
 * The dashboard of `dominion up` (docs/DASHBOARD.md): on the scenario's hub databases, loopback only,
 * with a one-time operator token printed once at start. The scenario is a local demo: printing the
 * token is what lets its operator (or a browser test) try the actions; it is random per run, dies
 * with the process, and the server still never logs it. `dominion dashboard` takes a token file.
 */
import { randomBytes } from 'node:crypto';
import { isLoopback, parseListen, startDashboard, type DashboardHandle } from '../dashboard/index.ts';
import { UsageError } from './args.ts';

/** Starts it (or not: `off`); a taken default port falls back to any free one. */
export async function startUpDashboard(listen: string, dbs: readonly string[]): Promise<DashboardHandle | undefined> {
  if (listen === 'off') return undefined;
  let address;
  try {
    address = parseListen(listen);
  } catch (err) {
    throw new UsageError(`up: --dashboard: ${(err as Error).message.replace(/^--listen /, '')}`);
  }
  if (!isLoopback(address.host))
    throw new UsageError('up: --dashboard must be a loopback address (use dominion dashboard --public to serve beyond this host)');
  const token = randomBytes(24).toString('base64url');
  const log = (level: string, message: string): void => {
    if (level === 'error') console.error(`dominion up: dashboard: ${message}`);
  };
  let handle: DashboardHandle;
  try {
    handle = await startDashboard({ dbs, listen: address, token, log });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    handle = await startDashboard({ dbs, listen: { host: address.host, port: 0 }, token, log });
  }
  console.log(`dominion up: dashboard ${handle.url} (operator token for its actions, this run only: ${token})`);
  return handle;
}
