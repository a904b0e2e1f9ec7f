/**
 * The authorize function's request parsing, pure: the body of `POST /authorize`, in which an MCP
 * server (a resource server) describes one request it received and the verified token it came
 * with. Each refusal is an {@linkcode ApiError} `bad_request` with a message that says what to
 * send instead (docs/scopes.md).
 *
 * @module
 */

import { isIP } from "node:net";
import { ApiError } from "../_shared/api_error.ts";
import {
  characterCount,
  hasControlCharacters,
  hasLoneSurrogate,
  isUuid,
} from "../_shared/validate.ts";

/** The largest body, in bytes. */
export const MAX_BODY_BYTES = 16 * 1024;
/** The most scopes one token may present. */
export const MAX_SCOPES = 64;
/** One OAuth scope, as `mcp_private.tool_scopes` stores them. */
export const SCOPE = /^[A-Za-z0-9:._-]{1,64}$/;
/** An MCP tool name (spec 2025-11-25: letters, digits, `_`, `-`, `.`; and `/` for namespaces). */
export const TOOL = /^[A-Za-z0-9_./-]{1,128}$/;
/** The longest resource URL, in characters. */
export const MAX_RESOURCE_LENGTH = 2048;

/** One MCP request to authorize, as the MCP server describes it. */
export interface AuthorizeRequest {
  /** The verified token's `sub`, lower-cased. */
  userId: string;
  /** The verified token's `session_id`, lower-cased. */
  authSessionId: string;
  /** The token's scopes (its `scope` claim, split on spaces). */
  scopes: string[];
  /** The tool a `tools/call` calls; null for a request that calls none. */
  tool: string | null;
  /** The MCP server's URL (the resource the token is used at). */
  resource: string;
  /** The end client's IP address as the MCP server saw it, or null. */
  ip: string | null;
}

const FIELDS = ["user_id", "auth_session_id", "scopes", "tool", "resource", "ip"];

/**
 * Checks the body of `POST /authorize`: `user_id` and `auth_session_id` (UUIDs), `scopes` (at most
 * {@linkcode MAX_SCOPES} strings like {@linkcode SCOPE}; absent means none), `tool` (a name like
 * {@linkcode TOOL}, or null or absent for a request that calls no tool), `resource` (an http(s)
 * URL of at most {@linkcode MAX_RESOURCE_LENGTH} characters, without a fragment) and `ip` (an IPv4
 * or IPv6 address, or null or absent). Any other field is refused.
 */
export function parseAuthorizeRequest(body: Record<string, unknown>): AuthorizeRequest {
  const unknown = Object.keys(body).filter((key) => !FIELDS.includes(key));
  if (unknown.length > 0) {
    throw new ApiError(
      "bad_request",
      `Unknown field ${unknown.map((key) => `"${key}"`).join(", ")}: send only ${
        FIELDS.map((key) => `"${key}"`).join(", ")
      }.`.slice(0, 300),
    );
  }
  return {
    userId: uuid(body.user_id, "user_id", "the token's sub"),
    authSessionId: uuid(body.auth_session_id, "auth_session_id", "the token's session_id"),
    scopes: scopes(body.scopes),
    tool: tool(body.tool),
    resource: resource(body.resource),
    ip: ip(body.ip),
  };
}

function uuid(value: unknown, field: string, what: string): string {
  if (!isUuid(value)) throw new ApiError("bad_request", `"${field}" must be a UUID (${what}).`);
  return value.toLowerCase();
}

function scopes(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new ApiError(
      "bad_request",
      '"scopes" must be an array of strings (the token\'s scope claim, split on spaces).',
    );
  }
  if (value.length > MAX_SCOPES) {
    throw new ApiError("bad_request", `"scopes" is limited to ${MAX_SCOPES} entries.`);
  }
  for (const scope of value) {
    if (typeof scope !== "string" || !SCOPE.test(scope)) {
      throw new ApiError(
        "bad_request",
        '"scopes" entries must be 1 to 64 characters of A-Z a-z 0-9 : . _ -.',
      );
    }
  }
  return value as string[];
}

function tool(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string" || !TOOL.test(value)) {
    throw new ApiError(
      "bad_request",
      '"tool" must be null or a tool name of 1 to 128 characters A-Z a-z 0-9 _ - . /.',
    );
  }
  return value;
}

function resource(value: unknown): string {
  const refusal = new ApiError(
    "bad_request",
    `"resource" must be the MCP server's http(s) URL, at most ${MAX_RESOURCE_LENGTH} characters, without a fragment.`,
  );
  if (
    typeof value !== "string" || value === "" || characterCount(value) > MAX_RESOURCE_LENGTH ||
    hasControlCharacters(value) || hasLoneSurrogate(value) || value.includes("#")
  ) {
    throw refusal;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw refusal;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw refusal;
  return value;
}

function ip(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  // A bare address: no port, brackets, prefix length or zone (PostgreSQL's inet has no zones).
  if (typeof value !== "string" || isIP(value) === 0 || value.includes("%")) {
    throw new ApiError(
      "bad_request",
      '"ip" must be null or the client\'s IPv4 or IPv6 address (no port, prefix or zone).',
    );
  }
  return value.toLowerCase();
}
