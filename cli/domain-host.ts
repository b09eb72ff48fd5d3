/**
 * `dominion domain-host` (internal): runs this process as one domain of a `process`-placement
 * device. Its parent domain starts it with the bootstrap on stdin and the channel on fd 3; it keeps
 * running until that socket closes.
 */
import { runDomainHost } from '../actors/device/index.ts';

export async function domainHostCommand(): Promise<number> {
  try {
    await runDomainHost();
  } catch (error) {
    // Never the bootstrap itself in the message: it holds keys.
    console.error(`dominion domain-host: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
  await new Promise<never>(() => {}); // runs until the parent's socket closes (host.ts exits then)
  return 0;
}
