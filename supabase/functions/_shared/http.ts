/**
 * What every function shares on the HTTP side: the handler type, the path seen by the router,
 * and JSON responses.
 *
 * @module
 */

import { Hono } from "hono";
import type { BlankEnv, Env as HonoEnv } from "hono/types";

/** A function's request handler, as `Deno.serve` calls it. */
export type FunctionHandler = (
  request: Request,
  info?: Deno.ServeHandlerInfo,
) => Response | Promise<Response>;

const GATEWAY_PREFIX = "/functions/v1";

/**
 * The request path as the function sees it when deployed: `/<function-name>/...`. The hosted
 * gateway strips `/functions/v1`; the local server passes requests through untouched (so that
 * WebSocket upgrades keep working), and this strips the prefix there.
 */
export function functionPath(request: Request): string {
  const pathname = pathOf(request.url);
  const path = pathname === GATEWAY_PREFIX || pathname.startsWith(GATEWAY_PREFIX + "/")
    ? pathname.slice(GATEWAY_PREFIX.length) || "/"
    : pathname;
  // `/hello/` is `/hello`.
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

/**
 * The path of an absolute URL, exactly as `new URL(url).pathname` gives it. Paths of plain
 * characters (what clients send) are cut out of the string; any other path (percent escapes,
 * dot segments, characters the URL parser would escape) goes through the parser. This runs on
 * every request, twice.
 */
export function pathOf(url: string): string {
  const authority = url.indexOf("://");
  const start = authority === -1 ? -1 : AUTHORITY_END.exec(url.slice(authority + 3))?.index;
  if (start !== undefined && start !== -1 && url[authority + 3 + start] === "/") {
    const from = authority + 3 + start;
    const rest = PATH_END.exec(url.slice(from));
    const path = rest ? url.slice(from, from + rest.index) : url.slice(from);
    if (PLAIN_PATH.test(path) && !path.includes("/.") && !path.includes("//")) return path;
  }
  return new URL(url).pathname;
}

const PLAIN_PATH = /^[A-Za-z0-9/_~!$&'()*+,;=:@-]*$/;
const AUTHORITY_END = /[/?#]/;
const PATH_END = /[?#]/;

/** A Hono app rooted at `/<name>`, routing on {@linkcode functionPath}. */
export function createApp<E extends HonoEnv = BlankEnv>(name: string): Hono<E> {
  return new Hono<E>({ getPath: functionPath }).basePath(`/${name}`);
}

const JSON_HEADERS = {
  "content-type": "application/json; charset=utf-8",
  "cache-control": "no-store",
} as const;

/** A JSON response with `Cache-Control: no-store`; `headers` are added or replace those. */
export function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  if (isLowerCaseRecord(headers)) {
    // The common case, built in one go: one Headers object, no second pass over it.
    return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } });
  }
  const response = new Response(JSON.stringify(body), { status, headers: JSON_HEADERS });
  for (const [name, value] of new Headers(headers)) response.headers.set(name, value);
  return response;
}

/** True for a plain `{name: value}` object whose names are all lower case (so none repeats). */
function isLowerCaseRecord(headers: HeadersInit): headers is Record<string, string> {
  if (Array.isArray(headers) || headers instanceof Headers) return false;
  for (const name in headers) if (name !== name.toLowerCase()) return false;
  return true;
}

/**
 * The CORS headers of every response: `origin` (`*` or one origin), the methods, the request
 * headers clients send, and the response headers scripts may read.
 */
export function corsHeaders(origin: string, methods: string): Record<string, string> {
  return {
    "access-control-allow-origin": origin,
    ...(origin !== "*" ? { vary: "Origin" } : {}),
    "access-control-allow-methods": methods,
    "access-control-allow-headers": "authorization, content-type, x-client-info, apikey, if-match",
    "access-control-expose-headers":
      "ratelimit, ratelimit-policy, retry-after, www-authenticate, sunset, etag, link",
    "access-control-max-age": "86400",
  };
}

/** Sets the {@linkcode corsHeaders} on `headers` (`Vary: Origin` is appended, not replaced). */
export function setCorsHeaders(headers: Headers, origin: string, methods: string): void {
  for (const [name, value] of Object.entries(corsHeaders(origin, methods))) {
    if (name === "vary") headers.append(name, value);
    else headers.set(name, value);
  }
}

/**
 * An RFC 6750 `WWW-Authenticate` challenge: `error="invalid_token"` (with a description) only
 * when a token was sent, and the RFC 9728 `resource_metadata` URL always.
 */
export function bearerChallenge(tokenSent: boolean, message: string, metadataUrl: string): string {
  const parts: string[] = [];
  if (tokenSent) {
    parts.push(`error="invalid_token"`);
    parts.push(
      `error_description="${message.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, "")}"`,
    );
  }
  parts.push(`resource_metadata="${metadataUrl}"`);
  return `Bearer ${parts.join(", ")}`;
}

/** The token of an `Authorization: Bearer <token>` header, else `undefined`. */
export function bearerToken(header: string | null): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return match?.[1];
}

/** The body, or `null` when it is longer than `limit` bytes (then it is not read on). */
export async function readLimitedBody(request: Request, limit: number): Promise<Uint8Array | null> {
  const length = request.headers.get("content-length");
  const declared = Number(length);
  if (Number.isFinite(declared) && declared > limit) {
    await request.body?.cancel();
    return null;
  }
  if (!request.body) return new Uint8Array();
  if (length !== null && Number.isFinite(declared)) {
    // A declared length within the limit: the server holds the body to it, so read it at once
    // (no reader and chunk list per request). Counted anyway, for a Request built in code.
    const bytes = new Uint8Array(await request.arrayBuffer());
    return bytes.byteLength > limit ? null : bytes;
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** True when the request's media type is `application/json` (parameters allowed). */
export function isJson(request: Request): boolean {
  const type = request.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
  return type === "application/json";
}

/** The client's socket address as Deno reports it, when the handler was given it. */
export function remoteAddress(info: unknown): string | undefined {
  const addr = (info as Deno.ServeHandlerInfo | undefined)?.remoteAddr as Deno.NetAddr | undefined;
  return addr?.hostname;
}
