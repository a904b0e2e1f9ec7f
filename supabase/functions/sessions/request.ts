/**
 * The sessions API's request parsing, pure: session ids, `If-Match`, the changes a PATCH may
 * make, and list pages (`limit`, `cursor`). Each refusal is an {@linkcode ApiError} with a
 * message that says what to send instead (docs/sessions.md).
 *
 * @module
 */

import { ApiError } from "../_shared/api_error.ts";
import { checkMetadata } from "../_shared/metadata.ts";
import { isUuid, parseClient } from "../_shared/validate.ts";

export { MAX_METADATA_BYTES, MAX_METADATA_DEPTH } from "../_shared/metadata.ts";
export {
  decodeCursor,
  encodeCursor,
  PAGE_SIZE,
  type PagePosition,
  type PageRequest,
  parsePageRequest,
} from "../_shared/pages.ts";

/** The largest PATCH or validate body, in bytes. */
export const MAX_BODY_BYTES = 16 * 1024;

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
