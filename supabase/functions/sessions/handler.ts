/**
 * The `sessions` function (docs/sessions.md): a signed-in user lists, reads, updates (optimistic
 * locking with `ETag` / `If-Match`) and closes their own MCP sessions; a daemon, with a server
 * credential, validates session tokens.
 *
 *     GET    /functions/v1/sessions            the caller's sessions, newest first, a page at a time
 *     GET    /functions/v1/sessions/{id}       one session, with ETag: "<version>"
 *     PATCH  /functions/v1/sessions/{id}       If-Match required (428), stale → 412
 *     DELETE /functions/v1/sessions/{id}       close it; If-Match honoured when sent
 *     POST   /functions/v1/sessions/validate   {session_token} → {valid, session, user}
 *
 * Routes and HTTP shapes only: parsing is in request.ts, the one database call of each request
 * in service.ts.
 *
 * @module
 */

import { corsAndAccessLog } from "../_shared/access_log.ts";
import {
  ApiError,
  errorHandler,
  methodNotAllowed,
  pathNotFound,
  toApiError,
} from "../_shared/api_error.ts";
import { createVerifier } from "../_shared/auth_config.ts";
import { type CallerVariables, requireServerCredential, requireUser } from "../_shared/caller.ts";
import { clientIp } from "../_shared/client_ip.ts";
import type { Env } from "../_shared/config.ts";
import { connectDatabase } from "../_shared/db.ts";
import {
  bearerChallenge,
  createApp,
  type FunctionHandler,
  json,
  remoteAddress,
} from "../_shared/http.ts";
import { readJsonBody } from "../_shared/json_body.ts";
import type { LogSink } from "../_shared/log.ts";
import { isSessionTokenShaped } from "../_shared/validate.ts";
import { readSessionsConfig } from "./config.ts";
import {
  encodeCursor,
  etag,
  MAX_BODY_BYTES,
  parseChanges,
  parseIfMatch,
  parsePageRequest,
  parseSessionId,
} from "./request.ts";
import { SessionsService } from "./service.ts";

/** Options for {@linkcode createHandler}, for tests. */
export interface SessionsHandlerOptions {
  log?: LogSink;
}

const METHODS = "GET, POST, PATCH, DELETE, OPTIONS";

/** Builds the `sessions` function from its environment; throws `ConfigError` on a bad one. */
export function createHandler(env: Env, options: SessionsHandlerOptions = {}): FunctionHandler {
  const config = readSessionsConfig(env);
  const verifier = createVerifier(config);
  const sql = connectDatabase(config.databaseUrl, {
    max: config.databasePoolSize,
    applicationName: "mcp-auth/sessions",
  });
  const service = new SessionsService({ sql, grace: config.grace });
  const log = options.log ?? ((line: string) => console.log(line));
  const metadataUrl = `${config.publicUrl}/functions/v1/hello/.well-known/oauth-protected-resource`;
  const sessionsUrl = `${config.publicUrl}/functions/v1/sessions`;
  const app = createApp<{ Variables: CallerVariables }>("sessions");
  const ipOf = (request: Request, info: unknown) =>
    clientIp(request, config.clientIp, remoteAddress(info));

  app.use(
    "*",
    corsAndAccessLog({
      fn: "sessions",
      log,
      corsOrigin: config.corsOrigin,
      methods: METHODS,
      caller: (c) => ({ userId: c.get("caller")?.userId ?? null }),
    }),
  );

  app.options("*", () => new Response(null, { status: 204 }));

  app.post("/validate", async (c) => {
    requireServerCredential(
      c.req.raw,
      config.serverCredentials,
      metadataUrl,
      "Validating session tokens",
    );
    const { value } = await readJsonBody(c.req.raw, MAX_BODY_BYTES);
    const token = value.session_token;
    if (typeof token !== "string" || token === "") {
      throw new ApiError("bad_request", '"session_token" must be a non-empty string.');
    }
    // Anything that cannot be a session token is simply not a valid one.
    const validation = isSessionTokenShaped(token)
      ? await service.validate(token)
      : { valid: false, reason: "malformed" };
    return json(validation);
  });
  app.all("/validate", (c) => {
    throw methodNotAllowed(c.req.method, "POST, OPTIONS");
  });

  app.use("/", requireUser(verifier, metadataUrl));
  app.use("/:id", requireUser(verifier, metadataUrl));

  app.get("/", async (c) => {
    const page = parsePageRequest(new URL(c.req.url));
    const { sessions, next } = await service.list(c.var.caller, page);
    const nextCursor = next ? encodeCursor(next) : null;
    const headers: Record<string, string> = nextCursor
      ? { link: `<${sessionsUrl}?limit=${page.limit}&cursor=${nextCursor}>; rel="next"` }
      : {};
    return json({ sessions, next_cursor: nextCursor }, 200, headers);
  });
  app.all("/", (c) => {
    throw methodNotAllowed(c.req.method, "GET, OPTIONS");
  });

  app.get("/:id", async (c) => {
    const session = await service.get(c.var.caller, parseSessionId(c.req.param("id")));
    return json({ session }, 200, { etag: etag(session.version) });
  });

  app.patch("/:id", async (c) => {
    const id = parseSessionId(c.req.param("id"));
    const ifMatch = parseIfMatch(c.req.header("if-match"));
    if (ifMatch === undefined) {
      throw new ApiError(
        "precondition_required",
        'Send If-Match with the session\'s ETag (e.g. If-Match: "3"), from GET /sessions/{id}.',
      );
    }
    const { value, text } = await readJsonBody(c.req.raw, MAX_BODY_BYTES);
    const changes = parseChanges(value, text);
    const session = await service.update(
      c.var.caller,
      id,
      ifMatch,
      changes,
      ipOf(c.req.raw, c.env),
    );
    return json({ session }, 200, { etag: etag(session.version) });
  });

  app.delete("/:id", async (c) => {
    const id = parseSessionId(c.req.param("id"));
    const ifMatch = parseIfMatch(c.req.header("if-match"));
    const session = await service.close(c.var.caller, id, ifMatch, ipOf(c.req.raw, c.env));
    return json({ session }, 200, { etag: etag(session.version) });
  });
  app.all("/:id", (c) => {
    throw methodNotAllowed(c.req.method, "GET, PATCH, DELETE, OPTIONS");
  });

  app.notFound(() => pathNotFound().toResponse());

  const answer = errorHandler("sessions");
  app.onError((error, c) => {
    const refusal = toApiError(error, "sessions");
    // The caller's sign-in ended after its token was issued: a 401 like any refused token.
    if (refusal.code === "token_revoked" && !refusal.headers["www-authenticate"]) {
      refusal.headers["www-authenticate"] = bearerChallenge(true, refusal.message, metadataUrl);
    }
    return answer(refusal, c);
  });

  return (request, info) => app.fetch(request, info);
}
