/**
 * The sessions API's database side: one call into Postgres per request, each answering with a
 * result row (`ok`, `error`, the session as the API shows it) that maps onto an answer here.
 * The SQL functions are in supabase/migrations/*_sessions.sql.
 *
 * @module
 */

import type { Sql } from "postgres";
import { ApiError } from "../_shared/api_error.ts";
import { bounded } from "../_shared/db.ts";
import type { VerifiedToken } from "../_shared/jwt.ts";
import { graceEnd, type GraceSettings } from "../_shared/legacy.ts";
import { etag, type PagePosition, type PageRequest, type SessionChanges } from "./request.ts";

/** A session as the API shows it (docs/sessions.md). */
export interface SessionJson {
  id: string;
  user_id: string | null;
  auth_method: "jwt" | "legacy";
  client: { name: string; version: string } | null;
  metadata: Record<string, unknown>;
  ip: string | null;
  connection_status: "connected" | "disconnected" | "closed" | "expired" | "revoked";
  created_at: string;
  last_active: string;
  expires_at: string;
  absolute_expires_at: string;
  closed_at: string | null;
  version: number;
}

/** One page of sessions, and where the next starts. */
export interface SessionPage {
  sessions: SessionJson[];
  next: PagePosition | null;
}

/** The answer to `POST /sessions/validate`. */
export type Validation =
  | { valid: true; session: SessionJson; user: { id: string | null; role: string; email?: string } }
  | { valid: false; reason: string };

/** Options for {@linkcode SessionsService}. */
export interface SessionsServiceOptions {
  sql: Sql;
  /** The legacy token's grace period: a legacy session stops validating when it ends. */
  grace: GraceSettings;
  now?: () => number;
}

interface SessionResultRow {
  ok: boolean;
  error: string | null;
  current_version: string | null;
  session: SessionJson | null;
}

/** The sessions API's calls into Postgres. */
export class SessionsService {
  readonly #sql: Sql;
  readonly #grace: GraceSettings;
  readonly #now: () => number;

  constructor(options: SessionsServiceOptions) {
    this.#sql = options.sql;
    this.#grace = options.grace;
    this.#now = options.now ?? Date.now;
  }

  /** A page of the caller's sessions, newest first. */
  async list(caller: VerifiedToken, page: PageRequest): Promise<SessionPage> {
    const [row] = await bounded(this.#sql<[{
      ok: boolean;
      error: string | null;
      sessions: SessionJson[] | null;
      next_created_at: string | null;
      next_id: string | null;
    }]>`
      select * from mcp_private.list_sessions(
        ${caller.userId}, ${caller.authSessionId}, ${page.limit},
        ${page.after?.createdAt ?? null}::timestamptz, ${page.after?.id ?? null}::uuid
      )
    `);
    if (!row.ok) throw sessionError(row.error, "");
    return {
      sessions: row.sessions ?? [],
      next: row.next_created_at && row.next_id
        ? { createdAt: row.next_created_at, id: row.next_id }
        : null,
    };
  }

  /** One of the caller's sessions. */
  async get(caller: VerifiedToken, id: string): Promise<SessionJson> {
    const [row] = await bounded(this.#sql<[SessionResultRow]>`
      select * from mcp_private.get_session(${id}, ${caller.userId}, ${caller.authSessionId})
    `);
    return sessionOf(row, id);
  }

  /** Applies `changes` if the session's version is one `ifMatch` names (`*`: any). */
  async update(
    caller: VerifiedToken,
    id: string,
    ifMatch: "*" | number[],
    changes: SessionChanges,
    ip: string | null,
  ): Promise<SessionJson> {
    const [row] = await bounded(this.#sql<[SessionResultRow]>`
      select * from mcp_private.update_session(
        ${id}, ${caller.userId}, ${caller.authSessionId},
        ${ifMatch === "*" ? null : ifMatch}::bigint[],
        -- The metadata as the client sent it (text, so postgres.js does not encode it again).
        ${changes.clientName}, ${changes.clientVersion}, ${changes.metadata}::text::jsonb, ${ip}::inet
      )
    `);
    return sessionOf(row, id);
  }

  /** Closes the session, if its version is one `ifMatch` names (absent or `*`: any). */
  async close(
    caller: VerifiedToken,
    id: string,
    ifMatch: "*" | number[] | undefined,
    ip: string | null,
  ): Promise<SessionJson> {
    const versions = ifMatch === undefined || ifMatch === "*" ? null : ifMatch;
    const [row] = await bounded(this.#sql<[SessionResultRow]>`
      select * from mcp_private.close_session(
        ${id}, ${caller.userId}, ${caller.authSessionId}, ${versions}::bigint[], ${ip}::inet
      )
    `);
    return sessionOf(row, id);
  }

  /** Is `token` a session token honoured right now, and whose. */
  async validate(token: string): Promise<Validation> {
    const [row] = await bounded(this.#sql<[{
      valid: boolean;
      reason: string | null;
      session: SessionJson | null;
      user_email: string | null;
      user_role: string | null;
      grace_period_started_at: Date | null;
    }]>`
      select * from mcp_private.validate_session(${token})
    `);
    if (!row.valid || !row.session) return { valid: false, reason: row.reason ?? "not_found" };
    const session = row.session;
    if (session.auth_method === "legacy") {
      const end = graceEnd(this.#grace, row.grace_period_started_at);
      if (end === null || this.#now() >= end.getTime()) {
        return { valid: false, reason: "grace_period_ended" };
      }
    }
    return {
      valid: true,
      session,
      user: {
        id: session.user_id,
        role: session.user_id ? row.user_role ?? "authenticated" : "legacy",
        ...(row.user_email ? { email: row.user_email } : {}),
      },
    };
  }
}

/** The session of a result row, or the answer its error calls for. */
function sessionOf(row: SessionResultRow, id: string): SessionJson {
  if (row.ok && row.session) return row.session;
  throw sessionError(row.error, id, row.current_version);
}

function sessionError(
  code: string | null,
  id: string,
  currentVersion: string | null = null,
): ApiError {
  const current = currentVersion === null ? {} : {
    headers: { etag: etag(currentVersion) },
    extra: { current_version: Number(currentVersion) },
  };
  switch (code) {
    case "token_revoked":
      // The caller's own sign-in has ended: requireUser's challenge is added by the handler.
      return new ApiError(
        "token_revoked",
        "The token's sign-in session has ended (signed out, expired or revoked).",
      );
    case "not_found":
      return new ApiError("not_found", `Session ${id} not found.`);
    case "session_closed":
      return new ApiError("session_closed", `Session ${id} is closed.`, current);
    case "session_expired":
      return new ApiError("session_expired", `Session ${id} has expired.`, current);
    case "session_revoked":
      return new ApiError(
        "session_revoked",
        `Session ${id} is revoked: the sign-in it was opened with has ended.`,
        current,
      );
    case "version_mismatch":
      return new ApiError(
        "precondition_failed",
        `The session changed: it is at version ${currentVersion}, which If-Match does not name. Fetch it again.`,
        current,
      );
    default:
      throw new Error(`Unexpected session result error "${code}".`);
  }
}
