/**
 * What a BootTicket's `images_digest` is the SHA-512 of (boot.proto): the request's images in their
 * order, each as utf8(label) 0x00 decimal(version) 0x00 digest-length-byte digest. Labels and versions
 * hold no NUL and the digest is length-prefixed, so two different lists never give the same bytes.
 * The hash itself is the caller's (proto/ holds no crypto).
 */
export interface BootImageLike {
  readonly label: string;
  readonly version: bigint;
  readonly digest: Uint8Array;
}

export function bootImagesBytes(images: readonly BootImageLike[]): Uint8Array {
  const utf8 = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const image of images) {
    parts.push(utf8.encode(`${image.label}\0${image.version.toString()}\0`), Uint8Array.of(image.digest.byteLength), image.digest);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
