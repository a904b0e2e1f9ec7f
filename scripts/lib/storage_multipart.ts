/**
 * Streaming `multipart/form-data` uploads for the local Storage service: the form fields before
 * the first file part (storage-js sends `cacheControl` and `metadata` there), then the file's
 * bytes as they arrive, so a 100 MiB `Blob` upload is never held in memory. Mirrors what the
 * real server reads with `@fastify/multipart`'s `request.file()` (supabase/storage
 * `src/storage/uploader.ts`): at most 10 fields, the first file only.
 *
 * @module
 */

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();
const CRLF_CRLF = ENCODER.encode("\r\n\r\n");
const MAX_HEADER_BYTES = 16 * 1024;
const MAX_FIELDS = 10;
const MAX_FIELD_BYTES = 1024 * 1024;
// What may follow the file part (closing delimiter, late fields) is read and dropped up to this.
const MAX_EPILOGUE_BYTES = 64 * 1024;

/** A form that does not parse. */
export class MultipartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MultipartError";
  }
}

/** The boundary of a `multipart/form-data` content type, or `null` for any other type. */
export function multipartBoundary(contentType: string | null): string | null {
  if (!contentType || !/^multipart\/form-data\b/i.test(contentType)) return null;
  const match = /;\s*boundary=(?:"([^"]+)"|([^\s;]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  return boundary && boundary.length <= 70 ? boundary : null;
}

/** The file part's headers and the fields that came before it. */
export interface MultipartHead {
  fields: Map<string, string>;
  /** The part's `Content-Type`, `application/octet-stream` when it has none. */
  mimeType: string;
  filename: string;
}

/** A multipart body read once: {@linkcode readHead}, then {@linkcode fileChunks}. */
export class MultipartUpload {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #delimiter: Uint8Array;
  #buffer: Uint8Array = new Uint8Array(0);
  #ended = false;

  constructor(body: ReadableStream<Uint8Array>, boundary: string) {
    this.#reader = body.getReader();
    this.#delimiter = ENCODER.encode(`\r\n--${boundary}`);
  }

  /** Reads up to the first file part. Throws {@linkcode MultipartError} when there is none. */
  async readHead(): Promise<MultipartHead> {
    // The first delimiter may open the body without the CRLF that precedes the others.
    this.#buffer = concat(ENCODER.encode("\r\n"), this.#buffer);
    const fields = new Map<string, string>();
    let index = await this.#find(this.#delimiter, MAX_HEADER_BYTES);
    while (true) {
      if (index < 0) throw new MultipartError("Multipart body has no file part");
      this.#buffer = this.#buffer.subarray(index + this.#delimiter.length);
      while (this.#buffer.length < 2 && await this.#more());
      if (this.#buffer[0] === 0x2d && this.#buffer[1] === 0x2d) {
        throw new MultipartError("Multipart body has no file part");
      }
      const end = await this.#find(CRLF_CRLF, MAX_HEADER_BYTES);
      if (end < 0) throw new MultipartError("Multipart part headers are malformed");
      const headers = parseHeaders(DECODER.decode(this.#buffer.subarray(0, end)));
      this.#buffer = this.#buffer.subarray(end + CRLF_CRLF.length);
      const disposition = headers.get("content-disposition") ?? "";
      const name = parameter(disposition, "name") ?? "";
      const filename = parameter(disposition, "filename");
      if (filename !== undefined) {
        return {
          fields,
          mimeType: headers.get("content-type")?.trim() || "application/octet-stream",
          filename,
        };
      }
      index = await this.#find(this.#delimiter, MAX_FIELD_BYTES);
      if (index < 0) throw new MultipartError("Multipart field is too long or unterminated");
      if (fields.size >= MAX_FIELDS) throw new MultipartError("Too many multipart fields");
      fields.set(name, DECODER.decode(this.#buffer.subarray(0, index)));
    }
  }

  /**
   * The file part's bytes, chunk by chunk, as they arrive. Throws {@linkcode MultipartError}
   * when the body ends before the part does.
   */
  async *fileChunks(): AsyncGenerator<Uint8Array> {
    const delimiter = this.#delimiter;
    const keep = delimiter.length - 1;
    // Bytes that might be the start of a delimiter split across two chunks.
    let carry = this.#buffer;
    this.#buffer = new Uint8Array(0);
    while (true) {
      const within = indexOf(carry, delimiter);
      if (within >= 0) {
        if (within > 0) yield carry.subarray(0, within);
        await this.#drain(carry.length - within - delimiter.length);
        return;
      }
      const { done, value } = await this.#reader.read();
      if (done) {
        this.#ended = true;
        throw new MultipartError("Unexpected end of form");
      }
      if (value.length < delimiter.length || carry.length > keep) {
        // Short chunks (or a large head left by readHead) are merged; the common path is not.
        carry = concat(carry, value);
        const found = indexOf(carry, delimiter);
        if (found >= 0) continue;
        if (carry.length > keep) {
          yield carry.subarray(0, carry.length - keep);
          carry = carry.slice(carry.length - keep);
        }
        continue;
      }
      // A delimiter that starts in `carry` ends within the first `keep` bytes of `value`.
      const junction = concat(carry, value.subarray(0, keep));
      const across = indexOf(junction, delimiter);
      if (across >= 0 && across < carry.length) {
        if (across > 0) yield carry.subarray(0, across);
        await this.#drain(junction.length - across - delimiter.length + value.length - keep);
        return;
      }
      if (carry.length > 0) yield carry;
      const found = indexOf(value, delimiter);
      if (found >= 0) {
        if (found > 0) yield value.subarray(0, found);
        await this.#drain(value.length - found - delimiter.length);
        return;
      }
      yield value.subarray(0, value.length - keep);
      carry = value.slice(value.length - keep);
    }
  }

  /** Stops reading the body (after an error, or a refusal before the file was read). */
  async cancel(): Promise<void> {
    if (!this.#ended) await this.#reader.cancel().catch(() => {});
    this.#ended = true;
  }

  /** Reads what follows the file part, up to a bound, so the client sees the answer. */
  async #drain(alreadyRead: number): Promise<void> {
    let total = alreadyRead;
    while (total <= MAX_EPILOGUE_BYTES) {
      const { done, value } = await this.#reader.read();
      if (done) {
        this.#ended = true;
        return;
      }
      total += value.length;
    }
    await this.cancel();
  }

  /** Appends the next chunk to the buffer; false at the end of the body. */
  async #more(): Promise<boolean> {
    if (this.#ended) return false;
    const { done, value } = await this.#reader.read();
    if (done) {
      this.#ended = true;
      return false;
    }
    this.#buffer = concat(this.#buffer, value);
    return true;
  }

  /** Index of `needle` in the buffer, reading on until found or `limit` bytes were searched. */
  async #find(needle: Uint8Array, limit: number): Promise<number> {
    let from = 0;
    while (true) {
      const index = indexOf(this.#buffer, needle, from);
      if (index >= 0) return index;
      from = Math.max(0, this.#buffer.length - needle.length + 1);
      if (this.#buffer.length > limit + needle.length || !await this.#more()) return -1;
    }
  }
}

/** Index of `needle` in `haystack` from `from`, or -1. */
export function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0]!;
  const last = haystack.length - needle.length;
  let index = haystack.indexOf(first, from);
  search: while (index !== -1 && index <= last) {
    for (let k = 1; k < needle.length; k++) {
      if (haystack[index + k] !== needle[k]) {
        index = haystack.indexOf(first, index + 1);
        continue search;
      }
    }
    return index;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const joined = new Uint8Array(a.length + b.length);
  joined.set(a);
  joined.set(b, a.length);
  return joined;
}

function parseHeaders(block: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const line of block.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1));
  }
  return headers;
}

/** A `name="value"` parameter of a Content-Disposition header (browsers escape `"` as %22). */
function parameter(header: string, name: string): string | undefined {
  const match = new RegExp(`;\\s*${name}="((?:[^"\\\\]|\\\\.)*)"`, "i").exec(header) ??
    new RegExp(`;\\s*${name}=([^;\\s]*)`, "i").exec(header);
  return match ? match[1]!.replace(/\\(.)/g, "$1") : undefined;
}
