/**
 * What a hub worker (SqliteHub, PgHub) passes on to its HubServer: the same broker, batching and
 * clock options whatever its store.
 */
import type { MqttProtocolVersion, MqttTlsOptions } from '../mqtt/index.ts';
import type { HubCore } from './hub-core.ts';
import type { HubServerOptions } from './hub-server.ts';

export interface WorkerServerOptions {
  readonly hubId: string;
  readonly brokerUrl?: string;
  readonly brokers?: readonly string[];
  readonly brokerTls?: MqttTlsOptions;
  readonly maxBatch?: number;
  readonly shareGroup?: string | 'auto' | null;
  readonly protocolVersion?: MqttProtocolVersion | 'auto';
  readonly clock?: () => number;
  readonly reconnectPeriodMs?: number;
  readonly startTimeoutMs?: number;
  readonly credential?: { readonly username: string; readonly password: string };
}

export function workerServerOptions(o: WorkerServerOptions, core: HubCore): HubServerOptions {
  return {
    core,
    hubId: o.hubId,
    ...(o.brokerUrl !== undefined ? { brokerUrl: o.brokerUrl } : {}),
    ...(o.brokers !== undefined ? { brokers: o.brokers } : {}),
    ...(o.brokerTls !== undefined ? { tls: o.brokerTls } : {}),
    ...(o.maxBatch !== undefined ? { maxBatch: o.maxBatch } : {}),
    ...(o.shareGroup !== undefined ? { shareGroup: o.shareGroup } : {}),
    ...(o.protocolVersion !== undefined ? { protocolVersion: o.protocolVersion } : {}),
    ...(o.clock !== undefined ? { clock: o.clock } : {}),
    ...(o.reconnectPeriodMs !== undefined ? { reconnectPeriodMs: o.reconnectPeriodMs } : {}),
    ...(o.startTimeoutMs !== undefined ? { startTimeoutMs: o.startTimeoutMs } : {}),
    ...(o.credential !== undefined ? { credential: o.credential } : {}),
  };
}
