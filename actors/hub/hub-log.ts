/**
 * What a hub process says in its log (docs/ARCHITECTURE.md §7.3): its broker connection coming and
 * going, every decision that refused or withheld something — rate-limited per class and device, so
 * a device flooding the hub with requests it cannot attribute (`unknown-signer`) is one line and a
 * count per window, not one line each — failed commits and TLS trouble. Names and reasons only: a
 * decision's reply (a signed ticket) is never handed to the logger.
 */
import type { Logger, LogLevel } from '../log/index.ts';
import type { HubDecision } from './decision.ts';
import type { HubServer } from './hub-server.ts';

/** How loud a decision is, or undefined for one an operator need not hear about at `info`. */
export function decisionLevel(d: HubDecision): LogLevel | undefined {
  if (d.outcome === 'refused') return d.reason === 'internal-error' || d.reason === 'reply-invalid' ? 'error' : 'warn';
  if (d.outcome === 'withheld' || d.outcome === 'boot-withheld' || d.outcome === 'chunk-refused') return 'warn';
  return undefined;
}

/** What the operator reads for each class (README "Reading a hub's log"). */
const CLASS_TEXT: Readonly<Record<string, string>> = {
  refused: 'refused (no reply)',
  withheld: 'withheld',
  'boot-withheld': 'boot withheld',
  'chunk-refused': 'image chunk refused',
};

/** Logs `server`'s connection and decisions to `log`; returns the function that stops it. */
export function logHubServer(server: HubServer, log: Logger, now: () => number = Date.now): () => void {
  let downSinceMs: number | undefined;
  let lastTls: string | undefined;
  const offs = [
    server.on('disconnected', (reason) => {
      downSinceMs = now();
      log.warn('broker connection lost; reconnecting', { reason });
    }),
    server.on('reconnecting', () =>
      log.limited('broker-reconnect', 'warn', 'broker unreachable; still reconnecting', {
        reason: server.connectionError ?? 'no answer yet',
      }),
    ),
    server.on('online', () => {
      lastTls = undefined;
      if (downSinceMs === undefined) return;
      log.info('broker connection restored', { downS: Math.round((now() - downSinceMs) / 100) / 10 });
      downSinceMs = undefined;
    }),
    server.on('refused', (reason) =>
      log.limited('broker-refused', 'error', 'the broker refused the connection; retrying in 30 s', { reason }),
    ),
    // A broker certificate we stop trusting takes the hub offline: said once per distinct failure.
    server.on('tlsFailure', (failure) => {
      if (failure.message === lastTls) return;
      lastTls = failure.message;
      log.error('offline: TLS handshake with the broker failed; retrying', { reason: failure.message });
    }),
    server.on('commitFailure', (err, inRow) =>
      log.error('commit failed: this batch of replies was dropped (the devices retry)', {
        inRow,
        error: err instanceof Error ? err.message : String(err),
      }),
    ),
    server.on('decision', (d, topicDevice) => logDecision(log, d, topicDevice)),
  ];
  return () => offs.forEach((off) => off());
}

function logDecision(log: Logger, d: HubDecision, topicDevice: string | undefined): void {
  const level = decisionLevel(d);
  const device = d.deviceId ?? topicDevice;
  const fields = {
    exchange: d.exchange,
    reason: d.reason,
    ...(device !== undefined ? { device } : {}),
    ...(d.instance !== undefined ? { instance: d.instance } : {}),
  };
  if (level === undefined) {
    if (log.enabled('debug') && d.outcome !== 'chunk') log.debug(`${d.exchange} request: ${d.outcome}`, fields);
    return;
  }
  const cls = d.outcome === 'refused' ? 'refused' : d.outcome;
  const key = `${d.exchange}/${cls}/${d.reason}/${device ?? '?'}/${d.instance ?? '?'}`;
  log.limited(key, level, `${d.exchange} request ${CLASS_TEXT[cls] ?? cls}: ${d.reason}`, { class: cls, ...fields });
}
