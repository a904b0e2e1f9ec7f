/**
 * Where the SQL hello's time goes: pg_stat_statements over a pgbench run of the hello and of a
 * plain one-row insert, with `pg_stat_statements.track = all` so the statements inside the
 * PL/pgSQL functions are counted one by one, and an `EXPLAIN (ANALYZE, BUFFERS, WAL)` of each
 * (auto_explain, in a transaction that is rolled back).
 *
 * The cluster must preload pg_stat_statements (scripts/lib/postgres.ts does, as hosted Supabase
 * does). The profile creates the extension and switches tracking to `all` for its own run, as the
 * superuser, and switches it back afterwards: it is for a benchmark's own stack only.
 *
 * @module
 */

import postgres from "postgres";
import { join } from "node:path";
import { runPgbench } from "./bench.ts";
import type { SqlProfile, SqlStatement } from "./bench_results.ts";

/** Options of {@linkcode profileSqlHello}. */
export interface SqlProfileOptions {
  /** The cluster's superuser URL (adminDatabaseUrl). */
  adminUrl: string;
  /** Where pgbench connects, as postgres: PostgreSQL itself or PgBouncer. */
  pgbenchPort: number;
  /** A folder for pgbench's scripts and logs. */
  logDir: string;
  /** Length of each pgbench run. */
  seconds: number;
  /** The pgbench script of one hello (`\set` lines and `:name` variables allowed). */
  helloSql: string;
  /** The pgbench script of the baseline, a one-row insert. */
  insertSql: string;
  /** pgbench clients and threads (default 8 and 2, as the throughput runs). */
  clients?: number;
  threads?: number;
}

/** One row of pg_stat_statements, as read here. */
interface StatementRow {
  query: string;
  toplevel: boolean;
  calls: number;
  totalMs: number;
  meanMs: number;
  sharedHit: number;
  sharedRead: number;
  sharedDirtied: number;
  walBytes: number;
  walRecords: number;
  walFpi: number;
}

/** Short names of the statements the hello runs (this and earlier versions of it). */
const PIECES: [RegExp, string][] = [
  [/\bfrom\s+mcp_private\.hello\s*\(|\bmcp_private\.hello\s*\(/i, "hello (whole call)"],
  [/with\s+ip_take\s+as/i, "rate-limit takes: IP, failures, user (one statement)"],
  [/with\s+new_session\s+as/i, "session insert + audit insert (one statement)"],
  [/rate_limit_policies[\s\S]*auth\.sessions/i, "policies, settings and revocation (one read)"],
  [/FOR KEY SHARE/, "foreign key check of mcp_sessions.user_id (inside the session insert)"],
  [/^\s*insert\s+into\s+mcp_private\.rate_limit_counters/i, "rate-limit take (upsert)"],
  [/^\s*select\s+greatest\(c\.tat/i, "rate-limit state read (dry run)"],
  [/^\s*select\s+\*\s+from\s+mcp_private\.rate_limit_policies/i, "rate-limit policy lookup"],
  [/^\s*insert\s+into\s+public\.mcp_sessions/i, "session insert"],
  [/^\s*insert\s+into\s+mcp_private\.audit_events/i, "audit insert"],
  [/^\s*select\s+mcp_private\.audit\s*\(/i, "audit() call (wraps the audit insert)"],
  [/auth\.sessions\s+s\s+join\s+auth\.users/i, "revocation check (auth.sessions join auth.users)"],
  [/^\s*select\s+\*\s+from\s+mcp_private\.settings/i, "settings read"],
];

/** The piece name of a statement. */
export function pieceOf(query: string): string {
  for (const [pattern, piece] of PIECES) if (pattern.test(query)) return piece;
  return "other";
}

/**
 * Resets pg_stat_statements, runs pgbench on the hello and then on the insert (each for
 * `seconds`), and returns each statement of the hello with its mean time, share of the hello's
 * time, buffers and WAL per call, and notes on what the figures mean.
 */
export async function profileSqlHello(options: SqlProfileOptions): Promise<SqlProfile> {
  const admin = postgres(options.adminUrl, {
    max: 1,
    prepare: false,
    onnotice: () => {},
    connect_timeout: 5,
  });
  try {
    const [{ preload }] = await admin<[{ preload: string }]>`
      select current_setting('shared_preload_libraries') as preload
    `;
    if (!preload.split(",").map((name) => name.trim()).includes("pg_stat_statements")) {
      throw new Error(
        `Cannot profile the SQL hello: pg_stat_statements is not in shared_preload_libraries ` +
          `("${preload}"). Clusters created by scripts/lib/postgres.ts preload it; an older ` +
          `cluster needs to be created again.`,
      );
    }
    await admin`create extension if not exists pg_stat_statements with schema extensions`;
    // track = all counts the statements inside functions. ALTER SYSTEM plus a reload reaches
    // every backend, also PgBouncer's pooled server connections opened before.
    await admin`alter system set pg_stat_statements.track = 'all'`;
    await admin`select pg_reload_conf()`;
    await new Promise((resolve) => setTimeout(resolve, 300));
    try {
      const pgbench = {
        seconds: options.seconds,
        clients: options.clients ?? 8,
        threads: options.threads ?? 2,
        port: options.pgbenchPort,
      };
      await admin`select extensions.pg_stat_statements_reset()`;
      const hello = await runPgbench({
        ...pgbench,
        name: "profile_hello",
        sql: options.helloSql,
        logDir: join(options.logDir, "hello"),
      });
      const helloRows = await readStatements(admin);
      await admin`select extensions.pg_stat_statements_reset()`;
      const insert = await runPgbench({
        ...pgbench,
        name: "profile_insert",
        sql: options.insertSql,
        logDir: join(options.logDir, "insert"),
      });
      const insertRows = await readStatements(admin);
      const plans = await explainHello(options.adminUrl, options.helloSql);
      return summarise(helloRows, insertRows, plans, hello.tps, insert.tps);
    } finally {
      await admin`alter system reset pg_stat_statements.track`;
      await admin`select pg_reload_conf()`;
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/** pg_stat_statements rows, busiest first. */
async function readStatements(admin: postgres.Sql): Promise<StatementRow[]> {
  const rows = await admin<
    {
      query: string;
      toplevel: boolean;
      calls: string;
      total_ms: number;
      mean_ms: number;
      shared_hit: string;
      shared_read: string;
      shared_dirtied: string;
      wal_bytes: string;
      wal_records: string;
      wal_fpi: string;
    }[]
  >`
    select s.query, s.toplevel, s.calls, s.total_exec_time as total_ms,
      s.mean_exec_time as mean_ms, s.shared_blks_hit as shared_hit,
      s.shared_blks_read as shared_read, s.shared_blks_dirtied as shared_dirtied,
      s.wal_bytes, s.wal_records, s.wal_fpi
    from extensions.pg_stat_statements s
    -- Every role: the foreign-key check of the session insert runs as the owner of auth.users.
    where s.calls > 0 and s.query not ilike '%pg_stat_statements%'
    order by s.total_exec_time desc
  `;
  return rows.map((row) => ({
    query: row.query.replace(/\s+/g, " ").trim(),
    toplevel: row.toplevel,
    calls: Number(row.calls),
    totalMs: row.total_ms,
    meanMs: row.mean_ms,
    sharedHit: Number(row.shared_hit),
    sharedRead: Number(row.shared_read),
    sharedDirtied: Number(row.shared_dirtied),
    walBytes: Number(row.wal_bytes),
    walRecords: Number(row.wal_records),
    walFpi: Number(row.wal_fpi),
  }));
}

/**
 * EXPLAIN (ANALYZE, BUFFERS, WAL) of every statement of one hello, nested ones included, by
 * auto_explain at NOTICE level, in a transaction that is rolled back. The pgbench variables of
 * `helloSql` (`\set n random(a, b)`) become their lower bound. Keyed by piece name; the last
 * plan of a piece wins (the third call's, once the plans are cached as in the pgbench run).
 */
async function explainHello(adminUrl: string, helloSql: string): Promise<Map<string, string>> {
  const plans = new Map<string, string>();
  const notices: string[] = [];
  const sql = postgres(adminUrl, {
    max: 1,
    prepare: false,
    connect_timeout: 5,
    onnotice: (notice) => notices.push(String(notice.message ?? "")),
  });
  const variables = new Map<string, string>();
  const statements: string[] = [];
  for (const line of helloSql.split("\n")) {
    const set = /^\\set\s+(\w+)\s+random\(\s*(-?\d+)\s*,/.exec(line);
    if (set) variables.set(set[1]!, set[2]!);
    else if (line.trim() !== "" && !line.startsWith("\\")) statements.push(line);
  }
  const statement = statements.join("\n").replace(
    /:(\w+)/g,
    (match, name: string) => variables.get(name) ?? match,
  );
  try {
    await sql.begin(async (tx) => {
      await tx.unsafe("load 'auto_explain'");
      for (
        const setting of [
          "log_min_duration = 0",
          "log_analyze = on",
          "log_buffers = on",
          "log_wal = on",
          "log_timing = on",
          "log_nested_statements = on",
          "log_level = notice",
        ]
      ) {
        await tx.unsafe(`set local auto_explain.${setting}`);
      }
      for (let call = 0; call < 3; call++) {
        notices.length = 0;
        await tx.unsafe(statement);
      }
      throw new RollBack();
    }).catch((error) => {
      if (!(error instanceof RollBack)) throw error;
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
  for (const notice of notices) {
    const plan = notice.replace(/^duration: [\d.]+ ms\s+plan:\s*/, "").replace(/^Query Text: /, "");
    plans.set(pieceOf(plan), plan);
  }
  return plans;
}

/** Thrown to roll a transaction back. */
class RollBack extends Error {}

function summarise(
  helloRows: StatementRow[],
  insertRows: StatementRow[],
  plans: Map<string, string>,
  helloTps: number,
  insertTps: number,
): SqlProfile {
  const hello = helloRows.find((row) =>
    row.toplevel && pieceOf(row.query) === "hello (whole call)"
  );
  if (!hello) throw new Error("pg_stat_statements has no top-level hello call: did pgbench run?");
  const insert = insertRows.filter((row) => row.toplevel).sort((a, b) => b.calls - a.calls)[0];
  if (!insert) throw new Error("pg_stat_statements has no top-level insert: did pgbench run?");
  const perHello = (row: StatementRow) => row.calls / hello.calls;
  const statement = (row: StatementRow): SqlStatement => {
    const piece = pieceOf(row.query);
    const plan = plans.get(piece);
    return {
      piece,
      query: row.query.length > 300 ? `${row.query.slice(0, 297)}...` : row.query,
      calls: row.calls,
      meanMs: row.meanMs,
      share: row.totalMs / hello.totalMs,
      sharedHitPerCall: row.sharedHit / row.calls,
      sharedReadPerCall: row.sharedRead / row.calls,
      walBytesPerCall: row.walBytes / row.calls,
      ...(plan === undefined ? {} : { plan }),
    };
  };
  // Nested statements that ran at least once per hundred hellos: the success path and, if any,
  // the refusals that happened.
  const nested = helloRows.filter((row) => !row.toplevel && perHello(row) >= 0.01);
  // The foreign-key check runs inside the session insert, and the audit insert inside audit():
  // their time is already part of the statement around them.
  const inside = (row: StatementRow) =>
    /FOR KEY SHARE/.test(row.query) ||
    (pieceOf(row.query) === "audit insert" &&
      nested.some((other) => pieceOf(other.query).startsWith("audit() call")));
  const statementsMs = nested.filter((row) => !inside(row))
    .reduce((sum, row) => sum + row.totalMs, 0) / hello.calls;
  const outsideMs = hello.meanMs - statementsMs;
  const count = nested.filter((row) => !inside(row))
    .reduce((sum, row) => sum + perHello(row), 0);
  const notes = [
    `pgbench on the hello ran at ${helloTps.toFixed(0)} TPS and on the insert at ` +
    `${insertTps.toFixed(0)} TPS in this profile (pg_stat_statements.track = all adds a ` +
    `little to every nested statement; the throughput runs are the figures to compare).`,
    `One hello runs ${count.toFixed(1)} SQL statements inside the function; together they take ` +
    `${statementsMs.toFixed(3)} ms of its ${hello.meanMs.toFixed(3)} ms. The other ` +
    `${outsideMs.toFixed(3)} ms (${
      (outsideMs / hello.meanMs * 100).toFixed(0)
    }%) is PL/pgSQL itself and what pg_stat_statements does not time: executor start-up and ` +
    `plan-cache checks of each statement, expression evaluation, function calls (each with ` +
    `its own search_path save and restore).`,
    `WAL per hello: ${(hello.walBytes / hello.calls).toFixed(0)} bytes in ` +
    `${(hello.walRecords / hello.calls).toFixed(1)} records ` +
    `(${(hello.walFpi / hello.calls).toFixed(2)} full-page images), against ` +
    `${(insert.walBytes / insert.calls).toFixed(0)} bytes for the insert; the commit record and ` +
    `its flush (synchronous_commit = on) come on top of both and are not counted here. The ` +
    `rate-limit counters are unlogged and write no WAL.`,
    `Times are means per call inside the server, including waits for locks and for the CPU: ` +
    `with 8 clients on a 2-core machine they are inflated alike for every statement, so the ` +
    `shares are the figure to read.`,
    `The foreign-key check of mcp_sessions.user_id locks the user's auth.users row (FOR KEY ` +
    `SHARE), which writes WAL and dirties a page of auth.users on every hello.`,
  ];
  return {
    helloMeanMs: hello.meanMs,
    insertMeanMs: insert.meanMs,
    statements: [statement(hello), ...nested.map(statement)],
    notes,
  };
}
