/**
 * The database client of the functions. Safe behind a transaction-mode pooler (Supavisor,
 * PgBouncer): no named prepared statements, no session state kept between statements.
 *
 * @module
 */

import postgres, { type Sql } from "postgres";

/** Options for {@linkcode connectDatabase}. */
export interface DatabaseOptions {
  /** Connections this worker may hold; defaults to 4. */
  max?: number;
  /** Seconds to wait for a connection; defaults to 3. */
  connectTimeout?: number;
  /** Shown in `pg_stat_activity.application_name`. */
  applicationName?: string;
}

/** A lazily connecting pool for `url`. Connections open on first use and reopen after a failure. */
export function connectDatabase(url: string, options: DatabaseOptions = {}): Sql {
  const settings = {
    prepare: false,
    // No pipelining: one statement in flight per connection. A transaction-mode pooler hands
    // the server connection back at the first ReadyForQuery, so a second statement already sent
    // behind it would be answered to nobody ("got packet from server when not linked") and its
    // caller would wait for ever. postgres.js pipelines a statement without parameters (the
    // hello's, _shared/sql_literal.ts) unless told not to; concurrency comes from `max`. (A
    // real option of postgres.js 3.4, src/index.js, missing from its type declarations.)
    max_pipeline: 0,
    max: options.max ?? 4,
    connect_timeout: options.connectTimeout ?? 3,
    idle_timeout: 30,
    // Reconnect attempts after a failure wait 50 ms, 100 ms, ... at most 1 s (postgres.js would
    // back off up to 20 s): a database that comes back is used again within a second.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1),
    onnotice: () => {},
    connection: { application_name: options.applicationName ?? "mcp-auth" },
  };
  return postgres(url, settings);
}

/**
 * A short, secret-free description of why a database call failed, for responses and logs.
 * Never includes the connection URL or anything the server echoed about the credentials.
 */
export function databaseFailureReason(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
    case "CONNECTION_CLOSED":
    case "CONNECTION_ENDED":
    case "CONNECTION_DESTROYED":
      return "connection lost";
    case "CONNECT_TIMEOUT":
    case "ETIMEDOUT":
      return "connection timed out";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host not found";
    case "28P01":
    case "28000":
      return "authentication failed";
    case "57P03":
      return "database is starting up";
    case "53300":
      return "too many connections";
    default:
      return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)
        ? `query failed (SQLSTATE ${code})`
        : "database unreachable";
  }
}

/** Rejects with a `{ code: "ETIMEDOUT" }` error when `promise` does not settle within `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new Error(`No answer within ${ms} ms`), { code: "ETIMEDOUT" })),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * How long one database call may take. A database that keeps its connections open but stops
 * answering (a partition, a frozen host) is unavailable after this, not a hung request.
 */
export const QUERY_TIMEOUT_MS = 5_000;

/** Awaits `query`, cancelling it and failing with `ETIMEDOUT` after `ms`. */
export async function bounded<T>(
  query: Promise<T> & { cancel?: () => unknown },
  ms: number = QUERY_TIMEOUT_MS,
): Promise<T> {
  try {
    return await withTimeout(query, ms);
  } catch (error) {
    if ((error as { code?: string }).code === "ETIMEDOUT") {
      try {
        query.cancel?.();
      } catch {
        // Best effort: the connection may be gone already.
      }
    }
    throw error;
  }
}

/**
 * True when `error` means the database could not be reached or asked us to come back later
 * (network errors, connection failures, class 08, 57P shutdown/cannot-connect-now, too many
 * connections, our own time limit), as opposed to a query that failed.
 */
export function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" &&
    (/^E[A-Z]+$/.test(code) || code.startsWith("CONNECT") || code.startsWith("08") ||
      code.startsWith("57P") || code === "53300");
}
