/**
 * The sessions API's request parsing, pure: session ids, `If-Match`, the changes a PATCH may
 * make, and list pages (`limit`, `cursor`). Each refusal is an {@linkcode ApiError} with a
 * message that says what to send instead (docs/sessions.md).
 *
 * @module
 */

import { ApiError } from "../_shared/api_error.ts";
import { isExactAsDouble, memberText, nestingDepth, numberLiterals } from "../_shared/json_text.ts";
import { hasLoneSurrogate, isUuid, parseClient } from "../_shared/validate.ts";

/** The largest PATCH or validate body, in bytes. */
export const MAX_BODY_BYTES = 16 * 1024;
/** The largest `metadata`, in bytes of the JSON the client sent. */
export const MAX_METADATA_BYTES = 8 * 1024;
/** The deepest nesting `metadata` may have. */
export const MAX_METADATA_DEPTH = 32;
/** Page sizes of `GET /sessions`. */
export const PAGE_SIZE = { default: 50, max: 100 } as const;

/** A session id from the path, lower-cased; 400 when it is not a UUID. */
export function parseSessionId(value: string | undefined): string {
  if (!isUuid(value)) throw new ApiError("bad_request", "The session id must be a UUID.");
  return value.toLowerCase();
}

/** The ETag of a session at `version`. */
export function etag(version: number | string): string {
  return `"${version}"`;
}

/**
 * What an `If-Match` header (RFC 9110 §13.1.1) asks for: `"*"` (any current version), or the
 * versions whose ETag it names. Comparison is strong and exact: `"01"` or `W/"1"` name no
 * version, so they never match. `undefined` when the header is absent; 400 when it is not a list
 * of entity tags.
 */
export function parseIfMatch(header: string | undefined): "*" | number[] | undefined {
  if (header === undefined || header.trim() === "") return undefined;
  if (header.trim() === "*") return "*";
  const versions: number[] = [];
  let rest = header.trim();
  while (rest !== "") {
    const match = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,\s*|$)/.exec(rest);
    if (!match) {
      throw new ApiError(
        "bad_request",
        'If-Match must be * or a list of entity tags, such as "3" (the ETag of GET /sessions/{id}).',
      );
    }
    if (!match[1] && /^(0|[1-9]\d{0,15})$/.test(match[2]!)) versions.push(Number(match[2]));
    rest = rest.slice(match[0].length);
  }
  return versions;
}

/** What a PATCH changes. `metadata` is the JSON text the client sent, stored as is. */
export interface SessionChanges {
  clientName: string | null;
  clientVersion: string | null;
  metadata: string | null;
}

/**
 * The fields a PATCH may change: `client` ({name, version}) and `metadata` (an object of at most
 * {@linkcode MAX_METADATA_BYTES} bytes as sent). `text` is the body as sent.
 */
export function parseChanges(body: Record<string, unknown>, text: string): SessionChanges {
  const unknown = Object.keys(body).filter((key) => key !== "client" && key !== "metadata");
  if (unknown.length > 0) {
    throw new ApiError(
      "bad_request",
      `Only "client" and "metadata" can be changed; not ${unknown.map((k) => `"${k}"`).join(", ")}.`
        .slice(0, 300),
    );
  }
  if (body.client === undefined && body.metadata === undefined) {
    throw new ApiError("bad_request", 'Send "client" and/or "metadata" to change.');
  }
  const changes: SessionChanges = { clientName: null, clientVersion: null, metadata: null };
  if (body.client !== undefined) {
    const client = parseClient(body.client);
    if ("error" in client) throw new ApiError("bad_request", client.error);
    changes.clientName = client.name;
    changes.clientVersion = client.version;
  }
  if (body.metadata !== undefined) changes.metadata = checkMetadata(body.metadata, text);
  return changes;
}

function checkMetadata(value: unknown, text: string): string {
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

/** A keyset position: the last row's `created_at` (to the microsecond) and id. */
export interface PagePosition {
  createdAt: string;
  id: string;
}

/** What `GET /sessions` asks for. */
export interface PageRequest {
  limit: number;
  after: PagePosition | null;
}

/** `limit` (1 to 100, default 50) and `cursor` from the query string. */
export function parsePageRequest(url: URL): PageRequest {
  const limitText = url.searchParams.get("limit");
  let limit: number = PAGE_SIZE.default;
  if (limitText !== null) {
    if (
      !/^\d{1,3}$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > PAGE_SIZE.max
    ) {
      throw new ApiError(
        "bad_request",
        `"limit" must be a whole number from 1 to ${PAGE_SIZE.max}, got "${
          limitText.slice(0, 20)
        }".`,
      );
    }
    limit = Number(limitText);
  }
  const cursor = url.searchParams.get("cursor");
  return { limit, after: cursor === null ? null : decodeCursor(cursor) };
}

/** The opaque cursor of a page position (base64url, so it needs no escaping in a URL). */
export function encodeCursor(position: PagePosition): string {
  const bytes = new TextEncoder().encode(`${position.createdAt}|${position.id}`);
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** The page position of a cursor; 400 for anything this API did not hand out. */
export function decodeCursor(cursor: string): PagePosition {
  let text = "";
  try {
    if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error("shape");
    text = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    // Refused below.
  }
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\|([0-9a-f-]{36})$/.exec(text);
  if (!match || !isUuid(match[2]) || Number.isNaN(Date.parse(match[1]!))) {
    throw new ApiError(
      "bad_request",
      '"cursor" is not one this API handed out: use the next link of the previous page.',
    );
  }
  return { createdAt: match[1]!, id: match[2]! };
}
