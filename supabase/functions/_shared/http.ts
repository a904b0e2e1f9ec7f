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
  const { pathname } = new URL(request.url);
  const path = pathname === GATEWAY_PREFIX || pathname.startsWith(GATEWAY_PREFIX + "/")
    ? pathname.slice(GATEWAY_PREFIX.length) || "/"
    : pathname;
  // `/hello/` is `/hello`.
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
}

/** A Hono app rooted at `/<name>`, routing on {@linkcode functionPath}. */
export function createApp<E extends HonoEnv = BlankEnv>(name: string): Hono<E> {
  return new Hono<E>({ getPath: functionPath }).basePath(`/${name}`);
}

/** A JSON response with `Cache-Control: no-store`. */
export function json(body: unknown, status = 200, headers: HeadersInit = {}): Response {
  const response = new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
  for (const [name, value] of new Headers(headers)) response.headers.set(name, value);
  return response;
}

/**
 * Sets the CORS headers of every response: `origin` (`*` or one origin), the methods, the
 * request headers clients send, and the response headers scripts may read.
 */
export function setCorsHeaders(headers: Headers, origin: string, methods: string): void {
  headers.set("access-control-allow-origin", origin);
  if (origin !== "*") headers.append("vary", "Origin");
  headers.set("access-control-allow-methods", methods);
  headers.set(
    "access-control-allow-headers",
    "authorization, content-type, x-client-info, apikey, if-match",
  );
  headers.set(
    "access-control-expose-headers",
    "ratelimit, ratelimit-policy, retry-after, www-authenticate, sunset, etag, link",
  );
  headers.set("access-control-max-age", "86400");
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
  const declared = Number(request.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > limit) {
    await request.body?.cancel();
    return null;
  }
  if (!request.body) return new Uint8Array();
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
