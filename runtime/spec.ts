/** The same actor spec with another mailbox capacity (a board's budget, chosen where it is spawned). */
export function withCapacity<S extends { readonly capacity: number }>(spec: S, capacity: number): S {
  return { ...spec, capacity };
}
