/** What a bench started (brokers, hubs, databases, temporary directories), undone at its end. */
export type Cleanups = Array<() => Promise<void> | void>;

/** Runs `cleanups` newest first; one that fails does not stop the rest (a bench must not hang on cleanup). */
export async function runCleanups(cleanups: Cleanups): Promise<void> {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch {
      // best effort
    }
  }
}
