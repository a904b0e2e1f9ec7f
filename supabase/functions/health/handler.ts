/**
 * `GET /functions/v1/health`: is the database reachable, and which migration is it at.
 *
 * `200 {"ok":true,"db":"ok","migrations":"<latest applied version>","client_ip":{...}}`, or
 * `503 {"ok":false,"error":"unavailable","message":"...","db":"unreachable","client_ip":{...}}`
 * with `Retry-After` when the database does not answer in time.
 *
 * `client_ip` is `{"rule": "...", "address": "<the caller's address by that rule>" | null}`:
 * how the functions attribute this very request (null: they cannot, and limit it per user
 * only), so an operator can check `MCP_CLIENT_IP_HEADER` / `MCP_TRUSTED_PROXIES` against the
 * platform (docs/auth.md#client-ip-addresses).
 *
 * @module
 */

import { type Env, functionDatabaseUrl } from "../_shared/config.ts";
import { connectDatabase, databaseFailureReason, withTimeout } from "../_shared/db.ts";
import {
  ApiError,
  errorHandler,
  methodNotAllowed,
  pathNotFound,
  UNAVAILABLE_RETRY_AFTER_SECONDS,
} from "../_shared/api_error.ts";
import { createApp, type FunctionHandler, json, remoteAddress } from "../_shared/http.ts";
import { clientIp, describeRule, readClientIpRule } from "../_shared/client_ip.ts";

/** How long the health check waits for the database. */
const DATABASE_TIMEOUT_MS = 3_000;

/**
 * Builds the `health` function from its environment (`MCP_DATABASE_URL` or `SUPABASE_DB_URL`,
 * and the client-IP rule).
 */
export function createHandler(env: Env): FunctionHandler {
  const rule = readClientIpRule(env);
  const sql = connectDatabase(functionDatabaseUrl(env), {
    max: 1,
    applicationName: "mcp-auth/health",
  });
  const app = createApp("health");

  async function latestMigration(): Promise<string | null> {
    try {
      const [row] = await sql<[{ version: string | null }]>`
        select mcp_private.schema_version() as version
      `;
      return row.version;
    } catch (error) {
      // Not migrated yet: the database answers, the function is not there.
      const code = (error as { code?: string }).code;
      if (code === "42883" || code === "3F000") return null;
      throw error;
    }
  }

  app.get("/", async (c) => {
    const clientIpReport = {
      rule: describeRule(rule),
      address: clientIp(c.req.raw, rule, remoteAddress(c.env)),
    };
    try {
      const version = await withTimeout(latestMigration(), DATABASE_TIMEOUT_MS);
      return json({ ok: true, db: "ok", migrations: version, client_ip: clientIpReport });
    } catch (error) {
      // The database's state is this function's answer, so say why, not only "unavailable".
      throw new ApiError(
        "unavailable",
        `The database is unavailable: ${databaseFailureReason(error)}.`,
        {
          headers: { "retry-after": String(UNAVAILABLE_RETRY_AFTER_SECONDS) },
          extra: { db: "unreachable", client_ip: clientIpReport },
        },
      );
    }
  });

  app.all("/", (c) => {
    throw methodNotAllowed(c.req.method, "GET, HEAD");
  });

  app.notFound(() => pathNotFound().toResponse());
  app.onError(errorHandler("health"));

  return (request, info) => app.fetch(request, info);
}
