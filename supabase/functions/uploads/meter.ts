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

/** How many bytes the meter gathers before passing them on (see {@linkcode meter}). */
export const BATCH_BYTES = 1024 * 1024;

/**
 * A meter that lets at most `limit` bytes through, erroring the stream when one more arrives.
 * Bytes are passed on in batches of up to {@linkcode BATCH_BYTES}: request bodies arrive in
 * chunks of a few KiB, and every chunk handed to the next stream (an HTTP upload) costs a trip
 * through the event loop, so a 100 MiB body in 16 KiB pieces would spend its time there.
 */
export function meter(limit: number): Meter {
  const hash = createHash("sha256");
  let size = 0;
  let exceeded = false;
  let digest: string | undefined;
  let batch = new Uint8Array(BATCH_BYTES);
  let filled = 0;
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      size += chunk.byteLength;
      if (size > limit) {
        exceeded = true;
        controller.error(new LimitExceeded(limit));
        return;
      }
      hash.update(chunk);
      if (filled + chunk.byteLength > BATCH_BYTES) {
        if (filled > 0) {
          controller.enqueue(batch.subarray(0, filled));
          batch = new Uint8Array(BATCH_BYTES);
          filled = 0;
        }
        if (chunk.byteLength >= BATCH_BYTES) {
          controller.enqueue(chunk);
          return;
        }
      }
      batch.set(chunk, filled);
      filled += chunk.byteLength;
    },
    flush(controller) {
      if (filled > 0) controller.enqueue(batch.subarray(0, filled));
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

/** How far {@linkcode readAhead} reads ahead of its consumer, in bytes. */
export const READ_AHEAD_BYTES = 8 * 1024 * 1024;

/**
 * `body`, read ahead of its consumer by up to `bytes`. Deno's server reads a request body
 * slowly (a few MB/s) when the handler waits for anything but the next chunk between reads;
 * relaying a body to Storage waits on the outbound socket. Reading into a bounded queue keeps the
 * inbound side moving while the outbound one drains, and bounds the memory it costs.
 */
export function readAhead(
  body: ReadableStream<Uint8Array>,
  bytes: number = READ_AHEAD_BYTES,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel(reason) {
      await reader.cancel(reason);
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: bytes }));
}
