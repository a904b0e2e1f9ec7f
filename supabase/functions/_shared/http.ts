/**
 * What every function shares on the HTTP side: the handler type, the path seen by the router,
 * and JSON responses.
 *
 * @module
 */

import { Hono } from "hono";

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
export function createApp(name: string): Hono {
  return new Hono({ getPath: functionPath }).basePath(`/${name}`);
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
