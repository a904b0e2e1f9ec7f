/**
 * Reading a JSON request body, the same way in every function: `application/json` only (415),
 * at most `limit` bytes counted as they arrive (413, without reading on), valid UTF-8 JSON (400),
 * and an object at the top (400). The text comes back too, for checks on what the client sent.
 *
 * @module
 */

import { ApiError } from "./api_error.ts";
import { isJson, readLimitedBody } from "./http.ts";

/** One decoder for every body: a one-shot `decode` keeps no state between calls. */
const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** A JSON object body and the text it was parsed from. */
export interface JsonBody {
  value: Record<string, unknown>;
  text: string;
}

/** Reads and parses the body of `request`; throws {@linkcode ApiError} when it is unacceptable. */
export async function readJsonBody(request: Request, limit: number): Promise<JsonBody> {
  if (!isJson(request)) {
    await request.body?.cancel();
    throw new ApiError("unsupported_media_type", "Send the body as application/json.");
  }
  const bytes = await readLimitedBody(request, limit);
  if (bytes === null) {
    throw new ApiError("payload_too_large", `The body is limited to ${limit} bytes.`);
  }
  let text: string;
  let value: unknown;
  try {
    text = UTF8.decode(bytes);
    value = JSON.parse(text);
  } catch {
    throw new ApiError("bad_request", "The body is not valid UTF-8 JSON.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ApiError("bad_request", "The body must be a JSON object.");
  }
  return { value: value as Record<string, unknown>, text };
}
