/**
 * The middleware every JSON API function starts with: CORS headers on every answer, and one
 * access-log line per request (method and route, status, latency, the caller), written after the
 * route has answered.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { setCorsHeaders } from "./http.ts";
import { logRequest, type LogSink } from "./log.ts";

/** Options for {@linkcode corsAndAccessLog}. */
export interface AccessLogOptions {
  /** The function's name, for the log line. */
  fn: string;
  log: LogSink;
  /** `Access-Control-Allow-Origin`: `*` or one origin. */
  corsOrigin: string;
  /** `Access-Control-Allow-Methods`. */
  methods: string;
  /** Who asked, and a refusal code worth logging, from the context the route left. */
  // deno-lint-ignore no-explicit-any -- each function's context variables are its own
  caller?: (c: Context<any>) => { userId: string | null; code?: string | undefined };
}

/** CORS headers and an access-log line for every request of the function. */
// deno-lint-ignore no-explicit-any -- works with any function's context variables
export function corsAndAccessLog(options: AccessLogOptions): MiddlewareHandler<any> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    setCorsHeaders(c.res.headers, options.corsOrigin, options.methods);
    const caller = options.caller?.(c) ?? { userId: null };
    logRequest(options.log, {
      fn: options.fn,
      event: `${c.req.method} ${routePath(c, c.req.routeIndex)}`,
      outcome: c.res.status < 400 ? "ok" : "error",
      status: c.res.status,
      ...(caller.code ? { code: caller.code } : {}),
      latency_ms: Math.round(performance.now() - started),
      user_id: caller.userId,
    });
  };
}
