/**
 * Measuring bytes as they stream past: SHA-256 (node:crypto) and size, with a limit that stops
 * the stream at the crossing byte. The bytes are passed on untouched and never collected, so a
 * 100 MiB upload costs one chunk of memory at a time.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** The stream crossed the limit: thrown into both sides of the {@linkcode Meter}. */
export class LimitExceeded extends Error {
  /** The limit, in bytes. */
  readonly limit: number;

  constructor(limit: number) {
    super(`The content is larger than ${limit} bytes.`);
    this.name = "LimitExceeded";
    this.limit = limit;
  }
}

/** What a finished stream measured. */
export interface Measurement {
  /** Lowercase hex SHA-256 of every byte. */
  sha256: string;
  /** Bytes in all. */
  size: number;
}

/** A pass-through stream that hashes and counts; see {@linkcode meter}. */
export interface Meter {
  readonly stream: TransformStream<Uint8Array, Uint8Array>;
  /** Bytes seen so far (past the limit by the crossing chunk's surplus when it was crossed). */
  readonly size: number;
  /** True once the limit was crossed. */
  readonly exceeded: boolean;
  /** The digest and size; only after the stream has ended without error. */
  result(): Measurement;
}

/** A meter that lets at most `limit` bytes through, erroring the stream when one more arrives. */
export function meter(limit: number): Meter {
  const hash = createHash("sha256");
  let size = 0;
  let exceeded = false;
  let digest: string | undefined;
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      size += chunk.byteLength;
      if (size > limit) {
        exceeded = true;
        controller.error(new LimitExceeded(limit));
        return;
      }
      hash.update(chunk);
      controller.enqueue(chunk);
    },
    flush() {
      digest = hash.digest("hex");
    },
  });
  return {
    stream,
    get size() {
      return size;
    },
    get exceeded() {
      return exceeded;
    },
    result() {
      if (digest === undefined) throw new Error("The stream has not ended.");
      return { sha256: digest, size };
    },
  };
}
