/**
 * The broker options the CLIs share (docs/PROTOCOL.md §6.6): `--broker <url>`, `--broker-ca <file>`
 * and `--insecure-plaintext`. TLS is the default wherever MQTT leaves the machine: a plain
 * `mqtt://` URL to a host that is not loopback is refused unless the operator says
 * `--insecure-plaintext`; a CA is pinned for `mqtts://`, and refused for a plain URL it would not protect.
 */
import { MqttUrlError, parseBrokerUrl, plaintextRefusal } from '../actors/mqtt/broker-url.ts';
import { BrokerCaError, readCaFile } from '../actors/mqtt/ca-pem.ts';
import { UsageError } from './args.ts';

export const BROKER_OPTIONS = {
  'broker-ca': { type: 'string' },
  'insecure-plaintext': { type: 'boolean', default: false },
} as const;

export const BROKER_HELP = `  --broker-ca <file>       the broker's CA certificate (PEM, e.g. ca.crt from "dominion broker-config"):
                           the broker's TLS certificate must chain to it (mqtts:// only)
  --insecure-plaintext     accept a plain mqtt:// URL to a host that is not loopback (no TLS:
                           everything crosses the network in the clear)`;

export interface BrokerChoice {
  readonly url: string;
  /** PEM text of the pinned CA, when one was given (or provisioned). */
  readonly ca?: string;
  /** Something the operator should hear about the choice (e.g. no CA pinned for mqtts://). */
  readonly warning?: string;
}

/**
 * Checks `url` with the CA file `caFile` (or the CA text `caText` already loaded, e.g. from a
 * provisioning file); throws UsageError naming the command for anything refused.
 */
export function chooseBroker(
  command: string,
  url: string,
  o: { readonly caFile?: string | undefined; readonly caText?: string | undefined; readonly insecurePlaintext?: boolean | undefined },
): BrokerChoice {
  let tls: boolean;
  try {
    tls = parseBrokerUrl(url).tls;
    const refusal = plaintextRefusal(url, o.insecurePlaintext === true);
    if (refusal !== undefined) throw new UsageError(`${command}: refusing ${refusal}`);
  } catch (err) {
    if (err instanceof MqttUrlError) throw new UsageError(`${command}: --broker: ${err.message}`);
    throw err;
  }
  const ca = o.caFile !== undefined ? readBrokerCa(command, o.caFile) : o.caText;
  if (ca !== undefined && !tls)
    throw new UsageError(`${command}: a broker CA pins a TLS broker, but ${url} is plain MQTT (use mqtts://host:8883)`);
  const warning =
    tls && ca === undefined
      ? `no broker CA pinned: ${url}'s certificate is checked against the system's CA store (pin yours with --broker-ca)`
      : undefined;
  return { url, ...(ca !== undefined ? { ca } : {}), ...(warning !== undefined ? { warning } : {}) };
}

/**
 * `chooseBroker` for every broker of a failover list (docs/ARCHITECTURE.md §7.4), in order, with the
 * one CA they share; a URL given twice is a UsageError. The choice's `url` is the primary.
 */
export function chooseBrokers(
  command: string,
  urls: readonly string[],
  o: { readonly caFile?: string | undefined; readonly caText?: string | undefined; readonly insecurePlaintext?: boolean | undefined },
): BrokerChoice & { readonly urls: readonly string[] } {
  if (urls.length === 0) throw new UsageError(`${command}: --broker is required`);
  const twice = urls.find((u, i) => urls.indexOf(u) !== i);
  if (twice !== undefined) throw new UsageError(`${command}: --broker ${twice} is given twice`);
  // Read the CA file once; every broker is checked against it.
  const ca = o.caFile !== undefined ? readBrokerCa(command, o.caFile) : o.caText;
  const choices = urls.map((url) => chooseBroker(command, url, { caText: ca, insecurePlaintext: o.insecurePlaintext }));
  const warning = choices.find((c) => c.warning !== undefined)?.warning;
  return { url: urls[0]!, urls, ...(ca !== undefined ? { ca } : {}), ...(warning !== undefined ? { warning } : {}) };
}

/** The CA file given with `--broker-ca`, checked; a bad file is a UsageError naming it. */
export function readBrokerCa(command: string, file: string): string {
  try {
    return readCaFile(file);
  } catch (err) {
    if (err instanceof BrokerCaError) throw new UsageError(`${command}: --broker-ca: ${err.message}`);
    throw err;
  }
}
