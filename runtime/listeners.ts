/** A list of event listeners: subscribe (returns the unsubscribe function) and emit, in order. */
export class Listeners<E> {
  private readonly list: Array<(event: E) => void> = [];

  add(listener: (event: E) => void): () => void {
    this.list.push(listener);
    return () => {
      const i = this.list.indexOf(listener);
      if (i >= 0) this.list.splice(i, 1);
    };
  }

  /**
   * The next event that satisfies `pred`, or undefined after `timeoutMs` of real time — for scenarios
   * and tests that await what happens rather than sleep.
   */
  next(pred: (event: E) => boolean, timeoutMs: number): Promise<E | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off();
        resolve(undefined);
      }, timeoutMs);
      const off = this.add((e) => {
        if (!pred(e)) return;
        clearTimeout(timer);
        off();
        resolve(e);
      });
    });
  }

  emit(event: E): void {
    for (const l of [...this.list]) l(event); // a listener may unsubscribe while we iterate
  }
}
