/**
 * Numbered assertions, after QP/C's Q_ASSERT_ID: an invariant that does not hold is a bug in the
 * runtime or its caller, and the number finds the exact line in a field report without a stack trace.
 */
export class RuntimeAssertion extends Error {
  override readonly name = 'RuntimeAssertion';
  constructor(
    readonly id: number,
    what: string,
  ) {
    super(`runtime assertion #${id} failed: ${what}`);
  }
}

export function assert(id: number, condition: boolean, what: string): asserts condition {
  if (!condition) throw new RuntimeAssertion(id, what);
}
