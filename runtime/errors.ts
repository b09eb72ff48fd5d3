/** Typed faults the runtime reports to supervisors and to its event listener. */

/** A `tell` found the receiver's mailbox full: the receiver is not keeping up, a fault by contract. */
export class MailboxOverflow extends Error {
  override readonly name = 'MailboxOverflow';
  constructor(
    readonly actor: string,
    readonly capacity: number,
  ) {
    super(`mailbox of ${actor} is full (capacity ${capacity})`);
  }
}

/** A supervisor exceeded its restart intensity and handed the failure to its parent. */
export class Escalation extends Error {
  override readonly name = 'Escalation';
  constructor(
    readonly supervisor: string,
    readonly restarts: number,
    readonly withinMs: number,
    override readonly cause: unknown,
  ) {
    super(`${supervisor} exceeded ${restarts} restarts within ${withinMs} ms`);
  }
}

/** An actor's factory threw while starting; the actor is stopped, never restarted in a loop. */
export class StartFailure extends Error {
  override readonly name = 'StartFailure';
  constructor(
    readonly actor: string,
    override readonly cause: unknown,
  ) {
    super(`${actor} failed while starting: ${describe(cause)}`);
  }
}

export function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
