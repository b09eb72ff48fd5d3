/**
 * The door to `actors/transfer/`: fetching a domain image from its hub in bounded, signed chunks
 * (image.proto). Used by `sw` for its own and the hypervisor's images (K_I) and by the hypervisor for
 * each VM's (K_MM, K_SM_k). Verifying and installing what arrives is the slots' business.
 */
export { ImageFetchCore, type FetchCoreConfig, type FetchedImage, type FetchStep, type FetchTarget } from './fetch-core.ts';
export { imageFetcher, type FetcherEvent, type FetcherMsg, type FetcherOptions, type FetchOutcome } from './fetcher.ts';
