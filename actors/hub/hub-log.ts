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
  // Per broker: a hub process may serve several (docs/ARCHITECTURE.md §7, "Several brokers").
  const downSinceMs = new Map<string, number>();
  const lastTls = new Map<string, string>();
  const several = server.brokers().length > 1;
  for (const { url, problem } of server.startProblems)
    log.warn('broker unreachable at start; serving on the others, reconnecting', { broker: url, reason: problem });
  for (const { url } of server.startProblems) downSinceMs.set(url, now());
  const offs = [
    server.on('disconnected', (reason, broker) => {
      downSinceMs.set(broker, now());
      log.warn('broker connection lost; reconnecting', { broker, reason });
    }),
    server.on('reconnecting', (reason, broker) =>
      log.limited(`broker-reconnect/${broker}`, 'warn', 'broker unreachable; still reconnecting', { broker, reason }),
    ),
    server.on('connected', (broker) => {
      lastTls.delete(broker);
      const since = downSinceMs.get(broker);
      if (since === undefined) return;
      log.info('broker connection restored', { broker, downS: Math.round((now() - since) / 100) / 10 });
      downSinceMs.delete(broker);
    }),
    // With several brokers, losing one is a warning; losing the last means nothing is answered.
    server.on('offline', () => {
      if (several && !server.stopping) log.error('offline: no broker connection is up; reconnecting to all');
    }),
    server.on('refused', (reason, broker) =>
      log.limited(`broker-refused/${broker}`, 'error', 'the broker refused the connection; retrying in 30 s', { broker, reason }),
    ),
    // A broker certificate we stop trusting takes the hub offline there: said once per distinct failure.
    server.on('tlsFailure', (failure, broker) => {
      if (failure.message === lastTls.get(broker)) return;
      lastTls.set(broker, failure.message);
      log.error('offline: TLS handshake with the broker failed; retrying', { broker, reason: failure.message });
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
  // Every decision comes here: an ordinary one logs nothing unless debug is on, and builds nothing.
  if (level === undefined && (d.outcome === 'chunk' || !log.enabled('debug'))) return;
  const device = d.deviceId ?? topicDevice;
  const fields = {
    exchange: d.exchange,
    reason: d.reason,
    ...(device !== undefined ? { device } : {}),
    ...(d.instance !== undefined ? { instance: d.instance } : {}),
  };
  if (level === undefined) {
    log.debug(`${d.exchange} request: ${d.outcome}`, fields);
    return;
  }
  const cls = d.outcome === 'refused' ? 'refused' : d.outcome;
  const key = `${d.exchange}/${cls}/${d.reason}/${device ?? '?'}/${d.instance ?? '?'}`;
  log.limited(key, level, `${d.exchange} request ${CLASS_TEXT[cls] ?? cls}: ${d.reason}`, { class: cls, ...fields });
}
