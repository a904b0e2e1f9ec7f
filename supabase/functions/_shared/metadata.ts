/**
 * The `metadata` objects clients attach (sessions, uploads), checked the same way everywhere:
 * a JSON object of at most {@linkcode MAX_METADATA_BYTES} bytes as sent, at most
 * {@linkcode MAX_METADATA_DEPTH} levels deep, storable by PostgreSQL (no NUL, no lone
 * surrogate) and with numbers a double keeps exactly.
 *
 * @module
 */

import { ApiError } from "./api_error.ts";
import { isExactAsDouble, memberText, nestingDepth, numberLiterals } from "./json_text.ts";
import { hasLoneSurrogate } from "./validate.ts";

/** The largest `metadata`, in bytes of the JSON the client sent. */
export const MAX_METADATA_BYTES = 8 * 1024;
/** The deepest nesting `metadata` may have. */
export const MAX_METADATA_DEPTH = 32;

/**
 * The JSON text of the body's `metadata` member, as sent (stored as is), after the checks above;
 * `value` is its parsed form and `text` the whole body as sent.
 */
export function checkMetadata(value: unknown, text: string): string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ApiError("bad_request", '"metadata" must be a JSON object.');
  }
  const raw = memberText(text, "metadata")!;
  const bytes = new TextEncoder().encode(raw).length;
  if (bytes > MAX_METADATA_BYTES) {
    throw new ApiError(
      "bad_request",
      `"metadata" is limited to ${MAX_METADATA_BYTES} bytes of JSON as sent; this one has ${bytes}.`,
    );
  }
  if (nestingDepth(raw) > MAX_METADATA_DEPTH) {
    throw new ApiError(
      "bad_request",
      `"metadata" may nest objects and arrays ${MAX_METADATA_DEPTH} levels deep at most.`,
    );
  }
  if (someText(value, (text) => text.includes("\u0000"))) {
    throw new ApiError(
      "bad_request",
      '"metadata" must not contain the NUL character (\\u0000): PostgreSQL cannot store it.',
    );
  }
  if (someText(value, hasLoneSurrogate)) {
    throw new ApiError(
      "bad_request",
      '"metadata" must be Unicode text: it has a lone surrogate (such as \\ud800).',
    );
  }
  const inexact = numberLiterals(raw).find((literal) => !isExactAsDouble(literal));
  if (inexact !== undefined) {
    throw new ApiError(
      "bad_request",
      `"metadata" has a number that cannot be kept exactly (${
        inexact.slice(0, 40)
      }): numbers must fit a double without rounding; send it as a string.`,
    );
  }
  return raw;
}

/** True when `test` holds for a key or string anywhere in `value`. */
function someText(value: unknown, test: (text: string) => boolean): boolean {
  if (typeof value === "string") return test(value);
  if (Array.isArray(value)) return value.some((item) => someText(item, test));
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).some(([key, item]) => test(key) || someText(item, test));
  }
  return false;
}
