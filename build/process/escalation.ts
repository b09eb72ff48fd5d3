/**
 * What a domain process does when its domain exceeds its restart intensity: it ends. The
 * hypervisor boots a VM process again from its image; a hypervisor that ends stops getting `sw`
 * tickets, and the device AWDT resets the device.
 */
export const GAVE_UP_EXIT_CODE = 70;

export function endOnEscalation(system: { onEscalation(handler: (domain: { readonly path: string }) => void): void }): void {
  system.onEscalation((domain) => {
    process.stderr.write(`dominion domain-host: ${domain.path} gave up after repeated failures\n`);
    process.exit(GAVE_UP_EXIT_CODE);
  });
}
