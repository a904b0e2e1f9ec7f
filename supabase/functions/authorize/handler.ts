/**
 * The `authorize` function (docs/scopes.md): an MCP server on Streamable HTTP (an OAuth resource
 * server, MCP 2025-11-25 / 2026-07-28) verifies the caller's Supabase JWT against the JWKS
 * itself, then asks here, with a server credential, whether to serve the request: revocation,
 * the user's request limit, the tool's scope and the audit event, in one database call.
 *
 *     POST /functions/v1/authorize          {user_id, auth_session_id, scopes, tool, resource, ip}
 *                                           → {allowed, required_scopes, ...} + RateLimit headers
 *     GET  /functions/v1/authorize/scopes   → {tools: [{tool, scope, description}]}
 *
 * A refusal of the MCP request is a 200 answer (`allowed: false`, with the reason); 4xx answers
 * are refusals of this call itself (no server credential, a bad body).
 *
 * Routes and HTTP shapes only: parsing is in request.ts, the one database call of each request
 * in service.ts.
 *
 * @module
 */

import { corsAndAccessLog } from "../_shared/access_log.ts";
import type { Context } from "hono";
import { errorHandler, methodNotAllowed, pathNotFound } from "../_shared/api_error.ts";
import type { Env } from "../_shared/config.ts";
import { requireServerCredential } from "../_shared/caller.ts";
import { connectDatabase } from "../_shared/db.ts";
import { createApp, type FunctionHandler, json } from "../_shared/http.ts";
import { readJsonBody } from "../_shared/json_body.ts";
import type { LogSink } from "../_shared/log.ts";
import { rateLimitHeaders } from "../_shared/rate_limit_headers.ts";
import { readAuthorizeConfig } from "./config.ts";
import { MAX_BODY_BYTES, parseAuthorizeRequest } from "./request.ts";
import { AuthorizeService } from "./service.ts";

/** Options for {@linkcode createHandler}, for tests. */
export interface AuthorizeHandlerOptions {
  log?: LogSink;
}

/** What a request's log line says about whom it authorized, and why not. */
interface AuthorizeVariables {
  userId?: string;
  denial?: string;
}

const METHODS = "GET, POST, OPTIONS";

/** Builds the `authorize` function from its environment; throws `ConfigError` on a bad one. */
export function createHandler(env: Env, options: AuthorizeHandlerOptions = {}): FunctionHandler {
  const config = readAuthorizeConfig(env);
  const sql = connectDatabase(config.databaseUrl, {
    max: config.databasePoolSize,
    applicationName: "mcp-auth/authorize",
  });
  const service = new AuthorizeService({ sql });
  const log = options.log ?? ((line: string) => console.log(line));
  const metadataUrl = `${config.publicUrl}/functions/v1/hello/.well-known/oauth-protected-resource`;
  const app = createApp<{ Variables: AuthorizeVariables }>("authorize");

  const requireCredential = (c: Context, what: string): void =>
    requireServerCredential(c.req.raw, config.serverCredentials, metadataUrl, what);

  app.use(
    "*",
    corsAndAccessLog({
      fn: "authorize",
      log,
      corsOrigin: config.corsOrigin,
      methods: METHODS,
      caller: (c) => ({ userId: c.get("userId") ?? null, code: c.get("denial") }),
    }),
  );

  app.options("*", () => new Response(null, { status: 204 }));

  app.post("/", async (c) => {
    requireCredential(c, "Authorizing MCP requests");
    const { value } = await readJsonBody(c.req.raw, MAX_BODY_BYTES);
    const request = parseAuthorizeRequest(value);
    c.set("userId", request.userId);
    const { body, rate } = await service.authorize(request);
    if (!body.allowed) c.set("denial", body.error);
    return json(body, 200, rateLimitHeaders(rate));
  });
  app.all("/", (c) => {
    throw methodNotAllowed(c.req.method, "POST, OPTIONS");
  });

  app.get("/scopes", async (c) => {
    requireCredential(c, "Listing tool scopes");
    return json({ tools: await service.toolScopes() });
  });
  app.all("/scopes", (c) => {
    throw methodNotAllowed(c.req.method, "GET, OPTIONS");
  });

  app.notFound(() => pathNotFound().toResponse());
  app.onError(errorHandler("authorize"));

  return (request, info) => app.fetch(request, info);
}
