/**
 * The `hello` function: `POST /functions/v1/hello` (HTTP handshake), `GET` with
 * `Upgrade: websocket` (WebSocket handshake), and the RFC 9728 protected-resource metadata at
 * `/functions/v1/hello/.well-known/oauth-protected-resource`.
 *
 * @module
 */

import { createVerifier } from "../_shared/auth_config.ts";
import { clientIp, describeRule } from "../_shared/client_ip.ts";
import type { Env } from "../_shared/config.ts";
import { connectDatabase } from "../_shared/db.ts";
import { ApiError, errorHandler, methodNotAllowed, pathNotFound } from "../_shared/api_error.ts";
import {
  bearerChallenge,
  bearerToken,
  corsHeaders,
  createApp,
  type FunctionHandler,
  json,
  remoteAddress,
  setCorsHeaders,
} from "../_shared/http.ts";
import { readJsonBody } from "../_shared/json_body.ts";
import { httpDate } from "../_shared/legacy.ts";
import { logRequest, type LogSink, stdoutLog } from "../_shared/log.ts";
import { rateLimitHeaders } from "../_shared/rate_limit_headers.ts";
import { readHelloConfig } from "./config.ts";
import {
  HELLO_ERRORS,
  isHelloErrorCode,
  isProtocolError,
  MAX_MESSAGE_BYTES,
  parseHello,
} from "./protocol.ts";
import { type HelloResult, HelloService } from "./service.ts";
import { acceptWebSocket } from "./websocket.ts";

/** Options for {@linkcode createHandler}, for tests. */
export interface HelloHandlerOptions {
  log?: LogSink;
  /** How long a WebSocket client has to say hello; defaults to 10 s. */
  helloTimeoutMs?: number;
  /** How long one database call may take; defaults to 5 s. */
  queryTimeoutMs?: number;
  /**
   * Open the first database connection now, not at the first hello (a cold start's first hello
   * then finds it open or opening). Off by default: building a handler opens nothing.
   */
  connectEarly?: boolean;
}

/** Builds the `hello` function from its environment; throws `ConfigError` on a bad one. */
export function createHandler(env: Env, options: HelloHandlerOptions = {}): FunctionHandler {
  const config = readHelloConfig(env);
  const log = options.log ?? stdoutLog();
  const verifier = createVerifier(config);
  const sql = connectDatabase(config.databaseUrl, {
    max: config.databasePoolSize,
    applicationName: "mcp-auth/hello",
  });
  const service = new HelloService({
    config,
    verifier,
    sql,
    ...(options.queryTimeoutMs ? { queryTimeoutMs: options.queryTimeoutMs } : {}),
  });
  if (options.connectEarly) service.connect();
  const metadataUrl = `${config.publicUrl}/functions/v1/hello/.well-known/oauth-protected-resource`;
  const app = createApp("hello");

  // The first request without a trusted client address is worth one log line: either the
  // client-IP rule does not match the platform (docs/auth.md#client-ip-addresses) or a client
  // reached the function around its proxies.
  let warnedUnattributed = false;
  const ipOf = (request: Request, info: unknown): string | null => {
    const ip = clientIp(request, config.clientIp, remoteAddress(info));
    if (ip === null && !warnedUnattributed) {
      warnedUnattributed = true;
      log(JSON.stringify({
        time: new Date().toISOString(),
        level: "warn",
        fn: "hello",
        message: `A request had no trusted client address (rule: ${
          describeRule(config.clientIp)
        }). Such requests are limited per user, and their failed authentications share one budget; see docs/auth.md#client-ip-addresses. Said once per instance.`,
      }));
    }
    return ip;
  };

  // The POST hello builds its answer with these in one go; every other answer gets them here.
  const cors = corsHeaders(config.corsOrigin, "GET, POST, OPTIONS");
  app.use("*", async (c, next) => {
    await next();
    if (c.res.status !== 101 && !c.res.headers.has("access-control-allow-origin")) {
      setCorsHeaders(c.res.headers, config.corsOrigin, "GET, POST, OPTIONS");
    }
  });

  app.options("*", () => new Response(null, { status: 204 }));

  app.get("/.well-known/oauth-protected-resource", () =>
    json(
      {
        resource: `${config.publicUrl}/functions/v1/hello`,
        authorization_servers: [config.issuer],
        jwks_uri: config.jwksUrl.href,
        bearer_methods_supported: ["header", "body"],
        resource_name: "MCP server access control",
      },
      200,
      { "cache-control": "public, max-age=3600" },
    ));

  app.get("/", (c) => {
    const ip = ipOf(c.req.raw, c.env);
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new ApiError(
        "upgrade_required",
        "Use POST with a JSON hello, or GET with Upgrade: websocket.",
        { headers: { upgrade: "websocket" } },
      );
    }
    return acceptWebSocket(c.req.raw, {
      service,
      ip,
      log,
      ...(options.helloTimeoutMs ? { helloTimeoutMs: options.helloTimeoutMs } : {}),
    });
  });

  app.post("/", async (c) => {
    const started = performance.now();
    const request = c.req.raw;
    const ip = ipOf(request, c.env);
    const bearer = bearerToken(request.headers.get("authorization"));
    const result = await httpHello(request, bearer, ip, service);
    logRequest(log, {
      fn: "hello",
      event: "hello_http",
      outcome: result.ok ? "ok" : "error",
      status: result.ok ? 200 : HELLO_ERRORS[result.code].status,
      ...(result.ok
        ? { auth: result.ack.auth, session_id: result.ack.session.id }
        : { code: result.code }),
      latency_ms: Math.round(performance.now() - started),
      user_id: result.ok ? result.ack.user.id : result.userId ?? null,
    });
    return helloResponse(result, metadataUrl, cors);
  });

  app.all("/", (c) => {
    throw methodNotAllowed(c.req.method, "GET, POST, OPTIONS");
  });

  // Every answer of this function is a hello_ack, errors included (docs/auth.md).
  app.notFound(() => pathNotFound().toResponse(ACK));
  app.onError(errorHandler("hello", ACK));

  return (request, info) => app.fetch(request, info);
}

/** The first field of every answer. */
const ACK = { op: "hello_ack" } as const;

/** Reads, checks and runs one HTTP hello. A refused body counts as a failure of its address. */
async function httpHello(
  request: Request,
  bearer: string | undefined,
  ip: string | null,
  service: HelloService,
): Promise<HelloResult> {
  const tokenSent = bearer !== undefined;
  let value: unknown;
  try {
    ({ value } = await readJsonBody(request, MAX_MESSAGE_BYTES));
  } catch (error) {
    if (!(error instanceof ApiError) || !isHelloErrorCode(error.code)) throw error;
    return await service.recordFailure(ip, error.code, error.message, tokenSent);
  }
  const message = parseHello(value, bearer);
  if (isProtocolError(message)) {
    return await service.recordFailure(ip, message.code, message.message, tokenSent);
  }
  return await service.hello(message, ip);
}

/** The HTTP response for a hello result (docs/auth.md), with the CORS headers `cors`. */
function helloResponse(
  result: HelloResult,
  metadataUrl: string,
  cors: Record<string, string>,
): Response {
  const headers: Record<string, string> = result.rate
    ? { ...cors, ...rateLimitHeaders(result.rate) }
    : { ...cors };
  if (result.ok) {
    if (result.sunset) headers["sunset"] = httpDate(result.sunset);
    return json(result.ack, 200, headers);
  }
  const { status } = HELLO_ERRORS[result.code];
  if (result.retryAfterSeconds !== undefined && (status === 429 || status === 503)) {
    headers["retry-after"] = String(result.retryAfterSeconds);
  }
  if (status === 401) {
    headers["www-authenticate"] = bearerChallenge(result.tokenSent, result.message, metadataUrl);
  }
  return json(
    {
      op: "hello_ack",
      ok: false,
      error: result.code,
      message: result.message,
      ...(result.scope ? { scope: result.scope } : {}),
    },
    status,
    headers,
  );
}
