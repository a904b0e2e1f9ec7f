/**
 * The authorize function's database side: one call into Postgres per request.
 * `mcp_private.authorize_mcp_request()` answers with a result row (`ok`, `error`, the scopes, the
 * user's request budget) that maps onto the answer here; `mcp_private.list_tool_scopes()` lists
 * the guarded tools. The SQL is in supabase/migrations/*_mcp_authorization.sql.
 *
 * @module
 */

import type { Sql } from "postgres";
import { bounded } from "../_shared/db.ts";
import type { RateLimitState } from "../_shared/rate_limit_headers.ts";
import type { AuthorizeRequest } from "./request.ts";

/** Why a request is refused. */
export type DenialCode = "token_revoked" | "rate_limited" | "insufficient_scope";

/** The answer to `POST /authorize` (docs/scopes.md). */
export type AuthorizationJson =
  | { allowed: true; required_scopes: string[] }
  | {
    allowed: false;
    error: DenialCode;
    message: string;
    /** Seconds until one more request is admitted, when `error` is `rate_limited`. */
    retry_after: number | null;
    required_scopes: string[];
    missing_scopes: string[];
  };

/** An authorization, and the user's request budget for the `RateLimit` headers. */
export interface Authorization {
  body: AuthorizationJson;
  rate: RateLimitState;
}

/** A guarded tool, as `GET /authorize/scopes` shows it. */
export interface ToolScopeJson {
  tool: string;
  scope: string;
  description: string | null;
}

interface AuthorizationRow {
  ok: boolean;
  error: DenialCode | null;
  retry_after_seconds: number | null;
  required_scopes: string[];
  missing_scopes: string[];
  rate_limit: {
    policy: string;
    limit: number;
    remaining: number;
    reset_seconds: number;
    window_seconds: number;
  };
}

/** The authorize function's calls into Postgres. */
export class AuthorizeService {
  readonly #sql: Sql;

  constructor(options: { sql: Sql }) {
    this.#sql = options.sql;
  }

  /** Revocation, the user's request limit, the tool's scope and the audit event, in one call. */
  async authorize(request: AuthorizeRequest): Promise<Authorization> {
    const [row] = await bounded(this.#sql<[AuthorizationRow]>`
      select * from mcp_private.authorize_mcp_request(
        ${request.userId}, ${request.authSessionId}, ${request.scopes}::text[], ${request.tool},
        ${request.resource}, ${request.ip}::inet
      )
    `);
    const rate: RateLimitState = {
      policy: row.rate_limit.policy,
      quota: row.rate_limit.limit,
      windowSeconds: row.rate_limit.window_seconds,
      remaining: row.rate_limit.remaining,
      resetSeconds: row.rate_limit.reset_seconds,
    };
    if (row.ok) return { body: { allowed: true, required_scopes: row.required_scopes }, rate };
    if (row.error === null) throw new Error("An authorization result without ok or error.");
    return {
      body: {
        allowed: false,
        error: row.error,
        message: denialMessage(row),
        retry_after: row.error === "rate_limited" ? row.retry_after_seconds : null,
        required_scopes: row.required_scopes,
        missing_scopes: row.missing_scopes,
      },
      rate,
    };
  }

  /** Every guarded tool and the scope it requires, by name. */
  async toolScopes(): Promise<ToolScopeJson[]> {
    const [row] = await bounded(this.#sql<[{ tools: ToolScopeJson[] }]>`
      select mcp_private.list_tool_scopes() as tools
    `);
    return row.tools;
  }
}

function denialMessage(row: AuthorizationRow): string {
  switch (row.error) {
    case "token_revoked":
      return "The token's sign-in session has ended (signed out, expired or revoked).";
    case "rate_limited":
      return `The user's request limit is spent; retry in ${row.retry_after_seconds} s.`;
    case "insufficient_scope":
      return `The token lacks the scope this tool requires: ${row.missing_scopes.join(" ")}.`;
    default:
      throw new Error(`Unexpected authorization result error "${row.error}".`);
  }
}
