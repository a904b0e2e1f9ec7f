/**
 * The `sessions` function (DESIGN §5): a signed-in user lists, reads, updates (optimistic
 * locking with `ETag` / `If-Match`) and closes their own MCP sessions; the daemon, with a server
 * credential, validates session tokens.
 *
 *     GET    /functions/v1/sessions            the caller's sessions, newest first
 *     GET    /functions/v1/sessions/{id}       one session, with ETag: "<version>"
 *     PATCH  /functions/v1/sessions/{id}       If-Match required (428), stale → 412
 *     DELETE /functions/v1/sessions/{id}       close it
 *     POST   /functions/v1/sessions/validate   {session_token} → {valid, session, user}
 *
 * Every call is one call into Postgres (plus, on a version conflict, one to audit it).
 *
 * @module
 */

import type { Context } from "hono";
import { createHash, timingSafeEqual } from "node:crypto";
import { createVerifier, readAuthConfig } from "../_shared/auth_config.ts";
import { ConfigError, type Env, optionalVar } from "../_shared/config.ts";
import { bounded, connectDatabase, isUnreachable } from "../_shared/db.ts";
import {
  bearerChallenge,
  bearerToken,
  createApp,
  type FunctionHandler,
  isJson,
  json,
  readLimitedBody,
  setCorsHeaders,
} from "../_shared/http.ts";
import { AuthError, type JwtVerifier, type VerifiedToken } from "../_shared/jwt.ts";
import { logRequest, type LogSink } from "../_shared/log.ts";

/** Options for {@linkcode createHandler}, for tests. */
export interface SessionsHandlerOptions {
  log?: LogSink;
}

const MAX_BODY_BYTES = 16 * 1024;
const MAX_METADATA_BYTES = 8 * 1024;
const RETRY_AFTER_SECONDS = 5;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A request the function refuses: status, stable code, safe message, extra headers. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Builds the `sessions` function from its environment; throws `ConfigError` on a bad one. */
export function createHandler(env: Env, options: SessionsHandlerOptions = {}): FunctionHandler {
  const config = readAuthConfig(env);
  const serverCredentials = readServerCredentials(env);
  const verifier = createVerifier(config);
  const sql = connectDatabase(config.databaseUrl, {
    max: config.databasePoolSize,
    applicationName: "mcp-auth/sessions",
  });
  const log = options.log ?? ((line: string) => console.log(line));
  const metadataUrl = `${config.publicUrl}/functions/v1/hello/.well-known/oauth-protected-resource`;
  const app = createApp("sessions");
  // Who each request turned out to be, for its log line.
  const callers = new WeakMap<Request, string>();

  app.use("*", async (c, next) => {
    const started = performance.now();
    await next();
    setCorsHeaders(c.res.headers, config.corsOrigin, "GET, POST, PATCH, DELETE, OPTIONS");
    logRequest(log, {
      fn: "sessions",
      event: `${c.req.method} ${routeName(c)}`,
      outcome: c.res.status < 400 ? "ok" : "error",
      status: c.res.status,
      latency_ms: Math.round(performance.now() - started),
      user_id: callers.get(c.req.raw) ?? null,
    });
  });

  app.options("*", () => new Response(null, { status: 204 }));

  app.post("/validate", async (c) => {
    requireServerCredential(c.req.raw, serverCredentials);
    const body = await readJsonObject(c.req.raw);
    const token = body.session_token;
    if (typeof token !== "string" || token === "") {
      throw new Refusal(400, "bad_request", '"session_token" must be a non-empty string.');
    }
    // Anything that cannot be a session token is simply not a valid one; a NUL would not even
    // reach the database as text.
    const candidate = /^[\x21-\x7e]{1,200}$/.test(token) ? token : "";
    const [row] = await bounded(
      sql<[ValidationRow]>`
        select v.valid, v.reason, v.user_email, v.user_role, (v.session).*
        from mcp_private.validate_session(${candidate}) v
      `,
    );
    if (!row.valid) return json({ valid: false, reason: row.reason });
    return json({
      valid: true,
      session: sessionJson(row),
      user: {
        id: row.user_id,
        role: row.user_id ? row.user_role ?? "authenticated" : "legacy",
        ...(row.user_email ? { email: row.user_email } : {}),
      },
    });
  });
  app.all("/validate", () => methodNotAllowed("POST, OPTIONS"));

  app.get("/", async (c) => {
    const caller = await authenticate(c, verifier, metadataUrl, callers);
    const rows = await bounded(
      sql<SessionRow[]>`
        select * from mcp_private.list_sessions(${caller.userId}, ${caller.authSessionId})
      `,
    );
    return json({ sessions: rows.map(sessionJson) });
  });
  app.all("/", () => methodNotAllowed("GET, OPTIONS"));

  app.get("/:id", async (c) => {
    const caller = await authenticate(c, verifier, metadataUrl, callers);
    const id = sessionId(c);
    const [row] = await bounded(
      sql<[SessionRow]>`
        select * from mcp_private.get_session(${id}, ${caller.userId}, ${caller.authSessionId})
      `,
    );
    if (!row?.id) throw notFound(id);
    return json({ session: sessionJson(row) }, 200, { etag: etag(row.version) });
  });

  app.patch("/:id", async (c) => {
    const caller = await authenticate(c, verifier, metadataUrl, callers);
    const id = sessionId(c);
    const expected = ifMatchVersion(c.req.header("if-match"));
    const changes = parseChanges(await readJsonObject(c.req.raw));
    try {
      const [row] = await bounded(
        sql<[SessionRow]>`
          select * from mcp_private.update_session(
            ${id}, ${caller.userId}, ${expected}, ${changes.clientName}, ${changes.clientVersion},
            ${changes.metadata === null ? null : sql.json(changes.metadata as JsonParameter)},
            ${caller.authSessionId}
          )
        `,
      );
      return json({ session: sessionJson(row) }, 200, { etag: etag(row.version) });
    } catch (error) {
      if ((error as { code?: string }).code !== "MC409") throw error;
      const current = /current_version=(\d+)/.exec((error as { detail?: string }).detail ?? "")
        ?.[1];
      await bounded(
        sql`
          select mcp_private.record_version_conflict(${id}, ${caller.userId}, ${expected})
        `,
      );
      throw new Refusal(
        412,
        "precondition_failed",
        `The session changed: it is at version ${current}, not ${expected}. Fetch it again.`,
        current ? { etag: etag(current) } : {},
        current ? { current_version: Number(current) } : {},
      );
    }
  });

  app.delete("/:id", async (c) => {
    const caller = await authenticate(c, verifier, metadataUrl, callers);
    const id = sessionId(c);
    const [row] = await bounded(
      sql<[SessionRow]>`
        select * from mcp_private.close_session(${id}, ${caller.userId}, null, ${caller.authSessionId})
      `,
    );
    return json({ session: sessionJson(row) });
  });
  app.all("/:id", () => methodNotAllowed("GET, PATCH, DELETE, OPTIONS"));

  app.notFound(() => json({ ok: false, error: "not_found", message: "Not found." }, 404));

  app.onError((error, c) => {
    const refusal = toRefusal(error, c.req.param("id"), metadataUrl);
    return json(
      { ok: false, error: refusal.code, message: refusal.message, ...refusal.extra },
      refusal.status,
      refusal.headers,
    );
  });

  return (request, info) => app.fetch(request, info);
}

/** Verifies the caller's access token; refuses with 401 and an RFC 6750 challenge otherwise. */
async function authenticate(
  c: Context,
  verifier: JwtVerifier,
  metadataUrl: string,
  callers: WeakMap<Request, string>,
): Promise<VerifiedToken> {
  const token = bearerToken(c.req.header("authorization") ?? null);
  try {
    const verified = await verifier.verify(token);
    callers.set(c.req.raw, verified.userId);
    return verified;
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    throw new Refusal(401, error.code, error.message, {
      "www-authenticate": bearerChallenge(token !== undefined, error.message, metadataUrl),
    });
  }
}

/** Database errors as answers: MC401 revoked, MC404 not found, bad values 400, down 503. */
function toRefusal(error: unknown, id: string | undefined, metadataUrl: string): Refusal {
  if (error instanceof Refusal) return error;
  const code = (error as { code?: unknown })?.code;
  switch (code) {
    case "MC401": {
      const message = "The token's sign-in session has ended (signed out, expired or revoked).";
      return new Refusal(401, "token_revoked", message, {
        "www-authenticate": bearerChallenge(true, message, metadataUrl),
      });
    }
    case "MC404":
      return notFound(id ?? "");
    case "23514":
    case "22P02":
    case "22P05":
    case "22021":
    case "54000":
      return new Refusal(400, "bad_request", "A value is not acceptable (too long or malformed).");
  }
  if (isUnreachable(error)) {
    return new Refusal(
      503,
      "unavailable",
      "The service is temporarily unavailable; try again shortly.",
      { "retry-after": String(RETRY_AFTER_SECONDS) },
    );
  }
  console.error(JSON.stringify({
    level: "error",
    fn: "sessions",
    message: "Unexpected failure",
    error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  }));
  return new Refusal(500, "internal", "Something went wrong on our side.");
}

function notFound(id: string): Refusal {
  return new Refusal(404, "not_found", `Session ${id} not found.`);
}

function methodNotAllowed(allow: string): Response {
  return json(
    { ok: false, error: "method_not_allowed", message: `Use ${allow.replace(", OPTIONS", "")}.` },
    405,
    { allow },
  );
}

function sessionId(c: Context): string {
  const id = c.req.param("id") ?? "";
  if (!UUID.test(id)) throw new Refusal(400, "bad_request", "The session id must be a UUID.");
  return id.toLowerCase();
}

function etag(version: number | string): string {
  return `"${version}"`;
}

/** The version an `If-Match` header asks for: 428 without one, 400 when it is not one ETag. */
export function ifMatchVersion(header: string | undefined): number {
  if (header === undefined || header.trim() === "") {
    throw new Refusal(
      428,
      "precondition_required",
      'Send If-Match with the session\'s ETag (e.g. If-Match: "3"), from GET /sessions/{id}.',
    );
  }
  const match = /^\s*"(\d{1,18})"\s*$/.exec(header);
  if (!match) {
    throw new Refusal(
      400,
      "bad_request",
      'If-Match must be one strong ETag of this session, e.g. "3" (not * or a weak W/ tag).',
    );
  }
  return Number(match[1]);
}

/** What postgres.js accepts as a JSON parameter. */
type JsonParameter = Parameters<ReturnType<typeof connectDatabase>["json"]>[0];

interface Changes {
  clientName: string | null;
  clientVersion: string | null;
  metadata: Record<string, unknown> | null;
}

/** The fields a PATCH may change: `client` {name, version} and `metadata` (an object). */
export function parseChanges(body: Record<string, unknown>): Changes {
  const unknown = Object.keys(body).filter((key) => key !== "client" && key !== "metadata");
  if (unknown.length > 0) {
    throw new Refusal(
      400,
      "bad_request",
      `Only "client" and "metadata" can be changed; not ${unknown.map((k) => `"${k}"`).join(", ")}.`
        .slice(0, 300),
    );
  }
  const changes: Changes = { clientName: null, clientVersion: null, metadata: null };
  if (body.client === undefined && body.metadata === undefined) {
    throw new Refusal(400, "bad_request", 'Send "client" and/or "metadata" to change.');
  }
  if (body.client !== undefined) {
    const client = body.client as Record<string, unknown>;
    if (
      typeof client !== "object" || client === null || Array.isArray(client) ||
      typeof client.name !== "string" || typeof client.version !== "string" ||
      client.name === "" || client.version === "" || client.name.length > 200 ||
      client.version.length > 100 ||
      // deno-lint-ignore no-control-regex -- control characters are what is refused here
      /[\u0000-\u001f\u007f]/.test(client.name + client.version)
    ) {
      throw new Refusal(
        400,
        "bad_request",
        '"client" must be {"name": ≤ 200 characters, "version": ≤ 100 characters}, without control characters.',
      );
    }
    changes.clientName = client.name;
    changes.clientVersion = client.version;
  }
  if (body.metadata !== undefined) {
    const metadata = body.metadata;
    if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
      throw new Refusal(400, "bad_request", '"metadata" must be a JSON object.');
    }
    const text = JSON.stringify(metadata);
    if (new TextEncoder().encode(text).length > MAX_METADATA_BYTES || text.includes("\\u0000")) {
      throw new Refusal(
        400,
        "bad_request",
        `"metadata" is limited to ${MAX_METADATA_BYTES} bytes of JSON, without NUL characters.`,
      );
    }
    changes.metadata = metadata as Record<string, unknown>;
  }
  return changes;
}

async function readJsonObject(request: Request): Promise<Record<string, unknown>> {
  if (!isJson(request)) {
    await request.body?.cancel();
    throw new Refusal(415, "unsupported_media_type", "Send the body as application/json.");
  }
  const bytes = await readLimitedBody(request, MAX_BODY_BYTES);
  if (bytes === null) {
    throw new Refusal(413, "payload_too_large", `The body is limited to ${MAX_BODY_BYTES} bytes.`);
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new Refusal(400, "bad_request", "The body is not valid UTF-8 JSON.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Refusal(400, "bad_request", "The body must be a JSON object.");
  }
  return value as Record<string, unknown>;
}

/**
 * Server credentials for `/validate`: `SUPABASE_SERVICE_ROLE_KEY` and the keys of
 * `SUPABASE_SECRET_KEYS` (a JSON object or array, or a comma-separated list). At least one.
 */
function readServerCredentials(env: Env): Buffer[] {
  const keys: string[] = [];
  const serviceRole = optionalVar(env, "SUPABASE_SERVICE_ROLE_KEY");
  if (serviceRole) keys.push(serviceRole);
  const secretKeys = optionalVar(env, "SUPABASE_SECRET_KEYS");
  if (secretKeys) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(secretKeys);
    } catch {
      parsed = secretKeys.split(",").map((key) => key.trim()).filter(Boolean);
    }
    const values = Array.isArray(parsed)
      ? parsed
      : typeof parsed === "object" && parsed !== null
      ? Object.values(parsed)
      : [parsed];
    for (const value of values) {
      if (typeof value !== "string" || value.length < 16) {
        throw new ConfigError(
          "SUPABASE_SECRET_KEYS",
          'Cannot parse "SUPABASE_SECRET_KEYS": expected keys of at least 16 characters.',
        );
      }
      keys.push(value);
    }
  }
  if (keys.length === 0) {
    throw new ConfigError(
      "SUPABASE_SERVICE_ROLE_KEY",
      'Missing "SUPABASE_SERVICE_ROLE_KEY" (or "SUPABASE_SECRET_KEYS"): /sessions/validate needs a server credential.',
    );
  }
  return keys.map(digest);
}

/** Refuses unless `Authorization: Bearer` or `apikey` carries a server credential. */
function requireServerCredential(request: Request, credentials: Buffer[]): void {
  const presented = bearerToken(request.headers.get("authorization")) ??
    request.headers.get("apikey") ?? undefined;
  if (presented !== undefined) {
    const candidate = digest(presented);
    // Compare with every credential, in constant time each, whatever matches.
    let ok = false;
    for (const credential of credentials) ok = timingSafeEqual(candidate, credential) || ok;
    if (ok) return;
  }
  throw new Refusal(
    401,
    "server_credential_required",
    "Validating session tokens needs the project's service-role or secret key.",
    { "www-authenticate": 'Bearer realm="server"' },
  );
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

function routeName(c: Context): string {
  const path = new URL(c.req.url).pathname;
  if (path.endsWith("/validate")) return "/sessions/validate";
  return /\/sessions\/[^/]+$/.test(path) ? "/sessions/{id}" : "/sessions";
}

interface SessionRow {
  id: string;
  user_id: string | null;
  auth_method: string;
  client_name: string | null;
  client_version: string | null;
  metadata: Record<string, unknown>;
  ip: string | null;
  connection_status: string;
  created_at: Date;
  last_active: Date;
  expires_at: Date;
  absolute_expires_at: Date;
  closed_at: Date | null;
  version: string | number;
}

interface ValidationRow extends SessionRow {
  valid: boolean;
  reason: string | null;
  user_email: string | null;
  user_role: string | null;
}

/** A session as the API shows it. */
function sessionJson(row: SessionRow) {
  return {
    id: row.id,
    user_id: row.user_id,
    auth_method: row.auth_method,
    client: row.client_name ? { name: row.client_name, version: row.client_version } : null,
    metadata: row.metadata,
    ip: row.ip,
    connection_status: row.connection_status,
    created_at: row.created_at.toISOString(),
    last_active: row.last_active.toISOString(),
    expires_at: row.expires_at.toISOString(),
    absolute_expires_at: row.absolute_expires_at.toISOString(),
    closed_at: row.closed_at ? row.closed_at.toISOString() : null,
    version: Number(row.version),
  };
}
