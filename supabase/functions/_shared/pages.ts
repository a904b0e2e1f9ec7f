/**
 * Keyset pagination of the list endpoints (sessions, uploads): `limit` and an opaque `cursor`
 * naming the last row of the previous page by `created_at` (to the microsecond) and id, newest
 * first, so rows inserted meanwhile never shift a page.
 *
 * @module
 */

import { ApiError } from "./api_error.ts";
import { isUuid } from "./validate.ts";

/** Page sizes of the list endpoints. */
export const PAGE_SIZE = { default: 50, max: 100 } as const;

/** A keyset position: the last row's `created_at` (to the microsecond) and id. */
export interface PagePosition {
  createdAt: string;
  id: string;
}

/** What a list request asks for. */
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
      !/^\d{1,3}$/.test(limitText) || Number(limitText) < 1 ||
      Number(limitText) > PAGE_SIZE.max
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
  const bytes = new TextEncoder().encode(
    `${position.createdAt}|${position.id}`,
  );
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(
    /\//g,
    "_",
  )
    .replace(/=+$/, "");
}

/** The page position of a cursor; 400 for anything this API did not hand out. */
export function decodeCursor(cursor: string): PagePosition {
  let text = "";
  try {
    if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
      throw new Error("shape");
    }
    text = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    // Refused below.
  }
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\|([0-9a-f-]{36})$/.exec(
    text,
  );
  if (!match || !isUuid(match[2]) || Number.isNaN(Date.parse(match[1]!))) {
    throw new ApiError(
      "bad_request",
      '"cursor" is not one this API handed out: use the next link of the previous page.',
    );
  }
  return { createdAt: match[1]!, id: match[2]! };
}
