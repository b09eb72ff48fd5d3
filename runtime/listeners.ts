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

  emit(event: E): void {
    for (const l of [...this.list]) l(event); // a listener may unsubscribe while we iterate
  }
}
