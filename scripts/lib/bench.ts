/**
 * Shared pieces of the benchmarks: pgbench runs with per-transaction latencies, and the
 * statistics and tables of the reports.
 *
 * @module
 */

import { join } from "node:path";
import { PASSWORD, PG_BINDIR, POSTGRES_USER } from "./postgres.ts";

/** One pgbench run. */
export interface PgbenchOptions {
  /** Used for the script and log file names. */
  name: string;
  /** The pgbench script. */
  sql: string;
  seconds: number;
  clients: number;
  threads: number;
  /** The port to connect to: PostgreSQL directly, or PgBouncer. */
  port: number;
  /** A new folder for the script and the per-transaction logs. */
  logDir: string;
  /**
   * Transactions per second in all (`--rate`): open loop, each latency counted from its
   * scheduled start. Unset: as fast as the clients go.
   */
  rate?: number;
}

/** What one pgbench run measured. */
export interface PgbenchResult {
  tps: number;
  /** Latency of every transaction, in milliseconds. */
  latenciesMs: number[];
  /** Transactions pgbench reported as failed. */
  failed: number;
}

/** Runs pgbench (extended protocol, unnamed statements, as the functions send them). */
export async function runPgbench(options: PgbenchOptions): Promise<PgbenchResult> {
  await Deno.mkdir(options.logDir, { recursive: true });
  const script = join(options.logDir, `${options.name}.sql`);
  await Deno.writeTextFile(script, options.sql);
  const output = await new Deno.Command(join(PG_BINDIR, "pgbench"), {
    args: [
      "--host=127.0.0.1",
      `--port=${options.port}`,
      `--username=${POSTGRES_USER}`,
      "--no-vacuum",
      "--protocol=extended",
      `--client=${options.clients}`,
      `--jobs=${options.threads}`,
      `--time=${options.seconds}`,
      ...(options.rate === undefined ? [] : [`--rate=${options.rate}`]),
      "--log",
      `--log-prefix=${join(options.logDir, options.name)}`,
      `--file=${script}`,
      "postgres",
    ],
    cwd: options.logDir,
    env: { PGPASSWORD: PASSWORD },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(
      `pgbench ${options.name} failed:\n${text}\n${new TextDecoder().decode(output.stderr)}`,
    );
  }
  const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(text)?.[1]);
  const failed = Number(/number of failed transactions: (\d+)/.exec(text)?.[1] ?? 0);
  const latenciesMs: number[] = [];
  for await (const entry of Deno.readDir(options.logDir)) {
    if (!entry.name.startsWith(`${options.name}.`) || entry.name.endsWith(".sql")) continue;
    for (const line of (await Deno.readTextFile(join(options.logDir, entry.name))).split("\n")) {
      // client_id transaction_no time_us script_no time_epoch time_us_part
      const micros = Number(line.split(" ")[2]);
      if (Number.isFinite(micros) && line !== "") latenciesMs.push(micros / 1000);
    }
  }
  return { tps, latenciesMs, failed };
}

/** The median of `numbers`. */
export function median(numbers: number[]): number {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The `p` quantile (0..1) of an ascending array, nearest rank. */
export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank]!;
}

/** A Markdown table. */
export function table(header: string[], rows: string[][]): string {
  const lines = [header, header.map(() => "---"), ...rows];
  return lines.map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

/** A positive integer command-line value; throws naming the flag otherwise. */
export function positiveInteger(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new TypeError(`Cannot parse "${flag}": expected a positive integer, got "${value}".`);
  }
  return Number(value);
}

/** The deterministic user id of bench user `n` (a SQL integer expression). */
export function benchUserIdSql(n: string): string {
  return `('00000000-0000-4000-8000-' || lpad(to_hex(${n}), 12, '0'))::uuid`;
}

/** The deterministic auth.sessions id of bench user `n`. */
export function benchAuthSessionIdSql(n: string): string {
  return `('00000000-0000-4000-9000-' || lpad(to_hex(${n}), 12, '0'))::uuid`;
}

/** What {@linkcode cleanupDataSql} builds. */
export interface CleanupDataSet {
  /** Rows in all. */
  total: number;
  /** Every `liveEvery`-th row is live; the others are expired. */
  liveEvery: number;
  /** The bench users 1..users the rows belong to, in turn. */
  users: number;
  /** The client address of bench user `n` (a SQL expression of type inet). */
  clientIp: (n: string) => string;
}

/**
 * The SQL that builds the cleanup data set: expired and live sessions of the bench users,
 * interleaved. Expiry times are scattered (n * 7919 mod …) so that the order of expiry is not
 * the order of the heap, as with real sessions. Live rows stay live for an hour at least: on a
 * busy machine loading and vacuuming the data set can take minutes.
 */
export function cleanupDataSql(set: CleanupDataSet): string {
  return `
    insert into public.mcp_sessions (
      token_hash, user_id, auth_method, auth_session_id, ip, connection_status,
      created_at, last_active, expires_at, absolute_expires_at
    )
    select sha256(n::text::bytea), ${benchUserIdSql("u")}, 'jwt', ${benchAuthSessionIdSql("u")},
      ${set.clientIp("u")},
      'disconnected', e - interval '1 hour', e - interval '1 hour', e, e + interval '23 hours'
    from generate_series(1, ${set.total}) n
    cross join lateral (select n % ${set.users} + 1 as u) u
    cross join lateral (
      select case when n % ${set.liveEvery} = 0
        then now() + interval '1 hour' + (n::bigint * 7919 % 3000) * interval '1 second'
        else now() - interval '1 minute' - (n::bigint * 7919 % 86400) * interval '1 second'
      end as e
    ) e
  `;
}
