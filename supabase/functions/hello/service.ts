/**
 * The hello flow, whatever the transport: verify the credential (no I/O for a JWT), then one
 * call into Postgres (`mcp_private.hello`) that checks both rate limits and revocation, opens
 * or resumes the session and writes the audit event. A credential that fails before the
 * database costs one call too (`mcp_private.record_auth_failure`).
 *
 * @module
 */

import type { Sql } from "postgres";
import { toApiError, UNAVAILABLE_RETRY_AFTER_SECONDS } from "../_shared/api_error.ts";
import { bounded, QUERY_TIMEOUT_MS } from "../_shared/db.ts";
import { AuthError, type JwtVerifier, type VerifiedToken } from "../_shared/jwt.ts";
import { graceEnd, isLegacyToken, needsRecordedStart } from "../_shared/legacy.ts";
import type { RateLimitState } from "../_shared/rate_limit_headers.ts";
import { sqlText, sqlTyped } from "../_shared/sql_literal.ts";
import type { HelloConfig } from "./config.ts";
import type { HelloErrorCode, HelloMessage } from "./protocol.ts";

/** The `hello_ack` of a successful hello (docs/auth.md). */
export interface HelloAck {
  op: "hello_ack";
  ok: true;
  session: { id: string; token: string; expires_at: string; version: number };
  user: { id: string | null; role: string; email?: string };
  auth: "jwt" | "legacy";
  resumed: boolean;
  grace_period_ends_at: string | null;
}

/** A successful hello. */
export interface HelloSuccess {
  ok: true;
  ack: HelloAck;
  rate: RateLimitState;
  /** While the legacy token is accepted: when it stops being accepted (`Sunset`). */
  sunset?: Date;
}

/** A failed hello. `message` never contains a token. */
export interface HelloFailure {
  ok: false;
  code: HelloErrorCode;
  message: string;
  rate?: RateLimitState;
  retryAfterSeconds?: number;
  scope?: "ip" | "user";
  /** Whether the client sent a credential (decides the RFC 6750 `error` of a 401). */
  tokenSent: boolean;
  userId?: string;
}

/** Either. */
export type HelloResult = HelloSuccess | HelloFailure;

/** A ping writes the session's activity at most this often; pings in between only check it. */
export const TOUCH_WRITE_INTERVAL_SECONDS = 1;

/** What the service needs. */
export interface HelloServiceDeps {
  config: HelloConfig;
  verifier: JwtVerifier;
  sql: Sql;
  now?: () => Date;
  /** How long one database call may take; defaults to `QUERY_TIMEOUT_MS` (5 s). */
  queryTimeoutMs?: number;
}

/** Runs hellos and the session calls of an open WebSocket. */
export class HelloService {
  readonly #config: HelloConfig;
  readonly #verifier: JwtVerifier;
  readonly #sql: Sql;
  readonly #now: () => Date;
  readonly #timeoutMs: number;
  /** The recorded grace-period start; it never moves once recorded, so it is kept. */
  #graceStart: Date | null | undefined;
  /** While the connection {@linkcode HelloService.connect} opens is not open yet. */
  #connecting: Promise<void> | undefined;

  constructor(deps: HelloServiceDeps) {
    this.#config = deps.config;
    this.#verifier = deps.verifier;
    this.#sql = deps.sql;
    this.#now = deps.now ?? (() => new Date());
    this.#timeoutMs = deps.queryTimeoutMs ?? QUERY_TIMEOUT_MS;
  }

  /**
   * Opens the pool's first connection now. A hello that comes while it is opening waits for it
   * rather than open a second one; a failure is left to that hello to meet (and reconnect).
   */
  connect(): void {
    const connecting = bounded(this.#sql`select 1`, this.#timeoutMs).then(() => {}, () => {});
    this.#connecting = connecting;
    connecting.then(() => {
      if (this.#connecting === connecting) this.#connecting = undefined;
    });
  }

  /** One hello. `ip` is the client address by the trusted-header rule. */
  async hello(message: HelloMessage, ip: string | null): Promise<HelloResult> {
    const token = message.token;
    const tokenSent = token !== undefined && token !== "";
    try {
      if (
        tokenSent && message.tokenInBody && this.#config.legacyToken !== undefined &&
        isLegacyToken(token, this.#config.legacyToken)
      ) {
        return await this.#legacyHello(message, ip);
      }
      let verified: VerifiedToken;
      try {
        verified = await this.#verifier.verify(token);
      } catch (error) {
        if (!(error instanceof AuthError)) throw error;
        return await this.recordFailure(ip, error.code, error.message, tokenSent);
      }
      return await this.#callHello(message, ip, verified);
    } catch (error) {
      return databaseFailure(error, tokenSent);
    }
  }

  /**
   * Records a hello that failed before the database (malformed, wrong credential): it counts
   * against the client IP. Over the IP's limit, the answer becomes `rate_limited`.
   */
  async recordFailure(
    ip: string | null,
    code: HelloErrorCode,
    message: string,
    tokenSent: boolean,
  ): Promise<HelloFailure> {
    try {
      // One round trip: values inlined as quoted literals (_shared/sql_literal.ts says why).
      const [row] = await bounded(
        this.#sql<[RateRow & { allowed: boolean; retry_after_seconds: number }]>`${
          this.#sql.unsafe(failureCall(ip, code))
        }`,
        this.#timeoutMs,
      );
      const rate = rateState(row);
      if (!row.allowed) {
        return {
          ok: false,
          code: "rate_limited",
          message: "Too many hellos from this address; try again later.",
          rate,
          retryAfterSeconds: row.retry_after_seconds,
          scope: "ip",
          tokenSent,
        };
      }
      return { ok: false, code, message, rate, tokenSent };
    } catch (error) {
      return databaseFailure(error, tokenSent);
    }
  }

  /**
   * A WebSocket ping: checks the session and slides its expiry (written at most once per
   * {@linkcode TOUCH_WRITE_INTERVAL_SECONDS}, however often the client pings). Null when it is no
   * longer honoured: closed, expired, revoked, or a legacy session past the grace period.
   */
  async touch(sessionId: string, userId: string | null): Promise<Date | null> {
    if (userId === null && this.#graceOver()) return null;
    const [row] = await bounded(
      this.#sql<[{ expires_at: Date | null }]>`
      select mcp_private.touch_session(
        ${sessionId}, ${userId}, ${TOUCH_WRITE_INTERVAL_SECONDS} * interval '1 second'
      ) as expires_at
    `,
      this.#timeoutMs,
    );
    return row.expires_at;
  }

  /** `bye`: closes the session; one that is already closed or expired stays so. */
  async close(sessionId: string, userId: string | null, ip: string | null): Promise<void> {
    await bounded(
      this.#sql`
        select ok from mcp_private.close_session(${sessionId}, ${userId}, null, null, ${ip}::inet)
      `,
      this.#timeoutMs,
    );
  }

  /** True when the legacy token's grace period is over (or never began). */
  #graceOver(): boolean {
    const end = graceEnd(this.#config.grace, this.#graceStart ?? null);
    return end === null || this.#now() >= end;
  }

  /** The socket dropped without `bye`: the session stays resumable until it expires. */
  async disconnect(sessionId: string, userId: string | null): Promise<void> {
    await bounded(
      this.#sql`select mcp_private.disconnect_session(${sessionId}, ${userId})`,
      this.#timeoutMs,
    );
  }

  async #legacyHello(message: HelloMessage, ip: string | null): Promise<HelloResult> {
    const grace = this.#config.grace;
    if (needsRecordedStart(grace) && this.#graceStart === undefined) {
      const [row] = await bounded(
        this.#sql<[{ start: Date }]>`
        select mcp_private.grace_period_start() as start
      `,
        this.#timeoutMs,
      );
      this.#graceStart = row.start;
    }
    const end = graceEnd(grace, this.#graceStart ?? null);
    if (end === null || this.#now() >= end) {
      return await this.recordFailure(
        ip,
        "jwt_required",
        "The shared legacy token is no longer accepted: sign in and send a Supabase access token.",
        true,
      );
    }
    const result = await this.#callHello(message, ip, null);
    if (result.ok) {
      result.ack.grace_period_ends_at = end.toISOString();
      result.sunset = end;
    }
    return result;
  }

  async #callHello(
    message: HelloMessage,
    ip: string | null,
    verified: VerifiedToken | null,
  ): Promise<HelloResult> {
    if (this.#connecting) await this.#connecting;
    // One round trip: the values are inlined as quoted literals (_shared/sql_literal.ts says
    // why), and the statement is one fragment of a tagged call, which has no parameters.
    const [row] = await bounded(
      this.#sql<[HelloRow]>`${this.#sql.unsafe(helloCall(message, ip, verified))}`,
      this.#timeoutMs,
    );
    const rate = rateState(row);
    const userId = verified?.userId;
    if (!row.ok) {
      const failure: HelloFailure = {
        ok: false,
        code: "internal",
        message: "",
        rate,
        tokenSent: true,
        ...(userId ? { userId } : {}),
      };
      switch (row.error) {
        case "rate_limited":
          return {
            ...failure,
            code: "rate_limited",
            message: row.scope === "user"
              ? "Too many hellos for this user; try again later."
              : "Too many hellos from this address; try again later.",
            retryAfterSeconds: row.retry_after_seconds ?? 1,
            scope: row.scope === "user" ? "user" : "ip",
          };
        case "token_revoked":
          return {
            ...failure,
            code: "token_revoked",
            message: "The token's sign-in session has ended (signed out, expired or revoked).",
          };
        case "invalid_session":
          return {
            ...failure,
            code: "invalid_token",
            message:
              "The session token cannot be resumed: it is unknown, closed, expired, or not yours.",
          };
        default:
          return { ...failure, message: "The hello could not be completed." };
      }
    }
    const ack: HelloAck = {
      op: "hello_ack",
      ok: true,
      session: {
        id: row.session_id!,
        token: row.session_token!,
        expires_at: row.expires_at!.toISOString(),
        version: Number(row.version),
      },
      user: {
        id: row.user_id,
        role: verified ? row.user_role ?? verified.role : "legacy",
        ...(verified && (row.user_email ?? verified.email)
          ? { email: (row.user_email ?? verified.email)! }
          : {}),
      },
      auth: verified ? "jwt" : "legacy",
      resumed: row.resumed === true,
      grace_period_ends_at: null,
    };
    return { ok: true, ack, rate };
  }
}

/** The one statement of a hello: `mcp_private.hello(...)` with its values as literals. */
export function helloCall(
  message: HelloMessage,
  ip: string | null,
  verified: VerifiedToken | null,
): string {
  return `select * from mcp_private.hello(${sqlTyped(verified?.userId, "uuid")}, ${
    sqlTyped(verified?.authSessionId, "uuid")
  }, ${sqlTyped(ip, "inet")}, ${sqlText(verified ? "jwt" : "legacy")}, ${
    sqlText(message.client?.name)
  }, ${sqlText(message.client?.version)}, ${sqlText(message.sessionToken)})`;
}

/** The one statement of a failed authentication: `mcp_private.record_auth_failure(...)`. */
export function failureCall(ip: string | null, code: HelloErrorCode): string {
  return `select * from mcp_private.record_auth_failure(${sqlTyped(ip, "inet")}, ${sqlText(code)})`;
}

/** The rate-limit columns of `hello_result` (rate_*) or of `rate_limit_result`. */
interface RateRow {
  rate_policy?: string | null;
  rate_limit?: number | null;
  rate_window_seconds?: number | null;
  rate_remaining?: number | null;
  rate_reset_seconds?: number | null;
  policy?: string;
  limit?: number;
  window_seconds?: number;
  remaining?: number;
  reset_seconds?: number;
}

interface HelloRow extends RateRow {
  ok: boolean;
  error: string | null;
  scope: string | null;
  retry_after_seconds: number | null;
  session_id: string | null;
  session_token: string | null;
  expires_at: Date | null;
  version: string | number | null;
  resumed: boolean | null;
  user_id: string | null;
  user_email: string | null;
  user_role: string | null;
}

function rateState(row: RateRow): RateLimitState {
  return {
    policy: row.rate_policy ?? row.policy ?? "hello_ip",
    quota: row.rate_limit ?? row.limit ?? 0,
    windowSeconds: row.rate_window_seconds ?? row.window_seconds ?? 0,
    remaining: row.rate_remaining ?? row.remaining ?? 0,
    resetSeconds: row.rate_reset_seconds ?? row.reset_seconds ?? 0,
  };
}

/** Database trouble: `unavailable` when it cannot be reached, `internal` otherwise. */
export function databaseFailure(error: unknown, tokenSent: boolean): HelloFailure {
  const refusal = toApiError(error, "hello");
  return refusal.code === "unavailable"
    ? {
      ok: false,
      code: "unavailable",
      message: refusal.message,
      retryAfterSeconds: UNAVAILABLE_RETRY_AFTER_SECONDS,
      tokenSent,
    }
    : { ok: false, code: "internal", message: refusal.message, tokenSent };
}
