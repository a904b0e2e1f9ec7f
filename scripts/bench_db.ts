/**
 * `deno task bench:db`: database benchmarks on a private, durable stack (fsync on, as a real
 * database), started in a temporary folder on free ports and always torn down.
 *
 * (a) pgbench against PostgreSQL directly, extended protocol with unnamed statements (as the
 *     functions send them): mcp_private.hello() on its success path, a plain single-row insert
 *     and `select 1`, each run several times, interleaved. Reports the median TPS, p50/p99
 *     latency and the goal hello ≥ 50% of the plain insert's TPS.
 * (b) mcp_private.cleanup_expired_sessions() on 1,000,000 expired and 100,000 live sessions: in
 *     one call (goal ≤ 15 s), then batch by batch (p_max_batches => 1) on the same data set.
 *
 * Options: --seconds <n> (length of each pgbench run, default 15), --runs <n> (runs per script,
 * default 3), --clients <n> (default 8), --threads <n> (default 2), --breakdown (also run
 * pgbench once on each piece of hello, to see which costs most), --profile (pg_stat_statements
 * and EXPLAIN of every statement inside hello, scripts/lib/sql_profile.ts), --help.
 *
 * Exits 0 whether or not the goals are met; non-zero only on errors.
 */

import { join } from "node:path";
import type { Sql } from "postgres";
import {
  benchAuthSessionIdSql,
  benchUserIdSql,
  cleanupDataSql,
  median,
  percentile,
} from "./lib/bench.ts";
import { parseCommandLine, usageError } from "./lib/cli.ts";
import { adminClient } from "./lib/database.ts";
import { freePort } from "./lib/ports.ts";
import { adminDatabaseUrl, PASSWORD, PG_BINDIR, POSTGRES_USER } from "./lib/postgres.ts";
import { profileSqlHello } from "./lib/sql_profile.ts";
import type { SqlProfile } from "./lib/bench_results.ts";
import { type Stack, startStack } from "./lib/stack.ts";

const USAGE =
  `Usage: deno task bench:db [--seconds 15] [--runs 3] [--clients 8] [--threads 2] [--breakdown]
                         [--profile]

Database benchmarks on a private, durable stack (a temporary folder on free ports, always torn
down): pgbench on mcp_private.hello(), a plain insert and select 1, then the session cleanup on
1,000,000 expired sessions. See docs/benchmarks.md.

Options:
  --seconds <n>   length of each pgbench run (default 15)
  --runs <n>      runs per script, interleaved (default 3)
  --clients <n>   pgbench clients (default 8)
  --threads <n>   pgbench threads (default 2)
  --breakdown     also run pgbench once on each piece of hello
  --profile       also profile hello's statements (pg_stat_statements, EXPLAIN ANALYZE)
  -h, --help      print this help and exit`;

const { values } = parseCommandLine(USAGE, {
  options: {
    seconds: { type: "string", default: "15" },
    runs: { type: "string", default: "3" },
    clients: { type: "string", default: "8" },
    threads: { type: "string", default: "2" },
    breakdown: { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
  },
});
const options = {
  seconds: positiveInteger("--seconds", values.seconds),
  runs: positiveInteger("--runs", values.runs),
  clients: positiveInteger("--clients", values.clients),
  threads: positiveInteger("--threads", values.threads),
  breakdown: values.breakdown,
  profile: values.profile,
};

/** Bench users: their ids, auth session ids and client IPs are derived from n in 1..USERS. */
const USERS = 1000;
/** Expired and live sessions of the cleanup benchmark. */
const EXPIRED_SESSIONS = 1_000_000;
const LIVE_SESSIONS = 100_000;
/** Goals. */
const HELLO_TO_INSERT_GOAL = 0.5;
const CLEANUP_GOAL_SECONDS = 15;

/** The client IP of bench user `n`: 10.0.0.0/16, one address per user. */
function clientIp(n: string): string {
  return `('10.0.' || (${n}) / 256 || '.' || (${n}) % 256)::inet`;
}

/** A pgbench script: a name for the report and its text. */
interface BenchScript {
  name: string;
  description: string;
  sql: string;
}

const N = ":n::int";
const RANDOM_USER = `\\set n random(1, ${USERS})\n`;

/** The scripts of the main comparison, in the order their runs interleave. */
const MAIN_SCRIPTS: BenchScript[] = [
  {
    name: "hello",
    description: "select * from mcp_private.hello(user, auth session, ip): new JWT session",
    sql: `${RANDOM_USER}select * from mcp_private.hello(${benchUserIdSql(N)}, ${
      benchAuthSessionIdSql(N)
    }, ${clientIp(N)});\n`,
  },
  {
    name: "insert",
    description: "insert into bench.events (name, amount) values (...): bigserial primary key",
    sql: `${RANDOM_USER}insert into bench.events (name, amount) values ('event', :n);\n`,
  },
  {
    name: "select1",
    description: "select 1",
    sql: "select 1;\n",
  },
];

/** hello's pieces, each alone in its own transaction (--breakdown). */
const PIECE_SCRIPTS: BenchScript[] = [
  {
    name: "now",
    description: "mcp_private.now() alone (hello calls it 5 times, directly or through callees)",
    sql: "select mcp_private.now();\n",
  },
  {
    name: "rate_limit_take",
    description: "one GCRA take on the unlogged counters (hello does two, plus a dry run)",
    sql: `${RANDOM_USER}select * from mcp_private.rate_limit_take('hello_user', (${
      benchUserIdSql(N)
    })::text);\n`,
  },
  {
    name: "auth_session_user",
    description: "the revocation check (auth.sessions join auth.users)",
    sql: `${RANDOM_USER}select (mcp_private.auth_session_user(${benchUserIdSql(N)}, ${
      benchAuthSessionIdSql(N)
    }, now())).live;\n`,
  },
  {
    name: "session_insert",
    description: "the mcp_sessions insert alone (4 indexes, FK to auth.users, new token)",
    sql: `${RANDOM_USER}insert into public.mcp_sessions (
  token_hash, user_id, auth_method, auth_session_id, ip, created_at, last_active, expires_at,
  absolute_expires_at
) values (
  mcp_private.hash_session_token(mcp_private.new_session_token()), ${benchUserIdSql(N)}, 'jwt',
  ${benchAuthSessionIdSql(N)}, ${clientIp(N)}, now(), now(), now() + interval '1 hour',
  now() + interval '24 hours'
);\n`,
  },
  {
    name: "audit",
    description: "the audit insert alone",
    sql: `${RANDOM_USER}select mcp_private.audit('hello_succeeded', ${benchUserIdSql(N)}, null, ${
      clientIp(N)
    }, 'jwt');\n`,
  },
];

/** Outcome of one pgbench run. */
interface RunResult {
  tps: number;
  transactions: number;
  /** Per-transaction latencies, microseconds. */
  latencies: Float64Array;
}

/** Summary of all runs of one script. */
interface ScriptSummary {
  script: BenchScript;
  runs: RunResult[];
  medianTps: number;
  p50Ms: number;
  p99Ms: number;
}

/** Summary of the cleanup benchmark. */
interface CleanupSummary {
  oneCallSeconds: number;
  batches: number;
  longestBatchMs: number;
  medianBatchMs: number;
  batchTotalSeconds: number;
  batchSize: number;
}

const dir = await Deno.makeTempDir({ prefix: "mcp-auth-bench-" });
// The postgres OS user (when we are root) must be able to enter the folder.
await Deno.chmod(dir, 0o755);
const logDir = join(dir, "pgbench");
await Deno.mkdir(logDir);

let stack: Stack | undefined;
let pgbench: Deno.ChildProcess | undefined;
let interrupted = false;
let tornDown: Promise<void> | undefined;

/** Stops the stack and removes the folder, once, whoever asks first. */
function teardown(): Promise<void> {
  tornDown ??= (async () => {
    try {
      pgbench?.kill("SIGTERM");
    } catch {
      // already exited
    }
    await stack?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  })();
  return tornDown;
}

const onSignal = () => {
  if (interrupted) return;
  interrupted = true;
  console.error("\nInterrupted: tearing the benchmark stack down...");
  // During start-up the stack is not ours yet: the main flow tears down once startStack returns.
  if (stack) teardown().finally(() => Deno.exit(130));
};
Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);

let exitCode = 1;
try {
  const started = performance.now();
  stack = await startStack({
    dir,
    ports: { api: freePort(), database: freePort(), pooler: freePort() },
    ephemeral: false,
    envFile: null,
    log: (message) => console.log(`[stack] ${message}`),
  });
  if (interrupted) throw new Error("Interrupted during start-up.");
  console.log(`[stack] Ready in ${((performance.now() - started) / 1000).toFixed(1)} s.\n`);

  const machine = await describeMachine(stack);
  await setUp(stack);
  const main = await runScripts(stack, MAIN_SCRIPTS, options.runs);
  const pieces = options.breakdown ? await runScripts(stack, PIECE_SCRIPTS, 1) : [];
  const profile = options.profile ? await profileHello(stack) : undefined;
  const cleanup = await benchCleanup(stack);
  printReport(machine, main, pieces, cleanup);
  if (profile) printProfile(profile);
  exitCode = 0;
} catch (error) {
  console.error(interrupted ? "Interrupted." : error instanceof Error ? error.stack : error);
  exitCode = interrupted ? 130 : 1;
} finally {
  await teardown();
}
Deno.exit(exitCode);

// ------------------------------------------------------------------------------------------------

/** The bench users, their auth sessions, the insert table, and limits that never bind. */
async function setUp(stack: Stack): Promise<void> {
  const sql = adminClient(stack.state.databaseUrl);
  try {
    console.log(`Setting up: ${USERS} users with one auth session each, bench.events...`);
    // The cron jobs (cleanup every 5 minutes) would race the measurements. postgres may only
    // read cron.job (as on hosted Supabase); pg_cron's own function changes it.
    await sql`select cron.alter_job(jobid, active := false) from cron.job`;
    await sql.unsafe(`
      create schema bench;
      create table bench.events (
        id bigserial primary key,
        name text not null,
        amount integer not null,
        created_at timestamptz not null default now()
      );
      insert into auth.users (id, email, aud, role, created_at)
      select ${
      benchUserIdSql("n")
    }, 'bench-' || n || '@example.test', 'authenticated', 'authenticated',
        now()
      from generate_series(1, ${USERS}) n;
      insert into auth.sessions (id, user_id, created_at, aal)
      select ${benchAuthSessionIdSql("n")}, ${benchUserIdSql("n")}, now(), 'aal1'
      from generate_series(1, ${USERS}) n;
      -- The benchmark measures the success path: no limit may bind. 100,000 per second
      -- (rate_limit_take refuses more than one per microsecond), per key, is far beyond reach.
      update mcp_private.rate_limit_policies
      set max_requests = least(2000000000, floor(extract(epoch from per) * 100000))::integer;
    `);
    await sql`vacuum analyze auth.users`;
    await sql`vacuum analyze auth.sessions`;
    const [{ ok }] = await sql<[{ ok: boolean }]>`
      select ok from mcp_private.hello(
        '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-9000-000000000001',
        '10.0.0.1'
      )
    `;
    if (!ok) throw new Error("A bench hello did not succeed: the set-up is wrong.");
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Runs every script `runs` times, interleaved, and summarises each. */
async function runScripts(
  stack: Stack,
  scripts: BenchScript[],
  runs: number,
): Promise<ScriptSummary[]> {
  const results = new Map<string, RunResult[]>(scripts.map((script) => [script.name, []]));
  for (let run = 1; run <= runs; run++) {
    for (const script of scripts) {
      const result = await runPgbench(stack, script, run);
      results.get(script.name)!.push(result);
      console.log(
        `  ${script.name} run ${run}/${runs}: ${result.tps.toFixed(0)} tps, ` +
          `${result.transactions} transactions`,
      );
    }
  }
  return scripts.map((script) => {
    const scriptRuns = results.get(script.name)!;
    const all = concat(scriptRuns.map((run) => run.latencies)).sort();
    return {
      script,
      runs: scriptRuns,
      medianTps: median(scriptRuns.map((run) => run.tps)),
      p50Ms: percentile(all, 0.5) / 1000,
      p99Ms: percentile(all, 0.99) / 1000,
    };
  });
}

/** The pgbench arguments of one run, without the log prefix (shown in the report). */
function pgbenchArgs(stack: Stack, scriptFile: string): string[] {
  return [
    "-h",
    "127.0.0.1",
    "-p",
    String(stack.state.ports.database),
    "-U",
    POSTGRES_USER,
    "-n",
    "-M",
    "extended",
    "-c",
    String(options.clients),
    "-j",
    String(options.threads),
    "-T",
    String(options.seconds),
    "-f",
    scriptFile,
  ];
}

/** One pgbench run of `script` with per-transaction logging. */
async function runPgbench(stack: Stack, script: BenchScript, run: number): Promise<RunResult> {
  const scriptFile = join(logDir, `${script.name}.sql`);
  await Deno.writeTextFile(scriptFile, script.sql);
  const prefix = `${script.name}_${run}`;
  pgbench = new Deno.Command(join(PG_BINDIR, "pgbench"), {
    args: [
      ...pgbenchArgs(stack, scriptFile),
      "-l",
      `--log-prefix=${join(logDir, prefix)}`,
      "postgres",
    ],
    env: { PGPASSWORD: PASSWORD },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = await pgbench.output();
  pgbench = undefined;
  const text = new TextDecoder().decode(output.stdout);
  const errors = new TextDecoder().decode(output.stderr);
  if (!output.success) {
    throw new Error(`pgbench ${script.name} failed (${output.code}):\n${errors}\n${text}`);
  }
  const failed = /number of failed transactions: (\d+)/.exec(text);
  if (failed && Number(failed[1]) > 0) {
    throw new Error(`pgbench ${script.name}: ${failed[1]} transactions failed:\n${errors}`);
  }
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(text);
  const processed = /number of transactions actually processed: (\d+)/.exec(text);
  if (!tps || !processed) throw new Error(`Unexpected pgbench output:\n${text}`);

  const latencies: number[] = [];
  for await (const entry of Deno.readDir(logDir)) {
    if (!entry.name.startsWith(`${prefix}.`)) continue;
    const file = join(logDir, entry.name);
    // client_id transaction_no time script_no time_epoch time_us: time is the latency in µs.
    for (const line of (await Deno.readTextFile(file)).split("\n")) {
      if (line === "") continue;
      const latency = Number(line.split(" ")[2]);
      if (!Number.isFinite(latency)) throw new Error(`Unexpected pgbench log line: ${line}`);
      latencies.push(latency);
    }
    await Deno.remove(file);
  }
  if (latencies.length !== Number(processed[1])) {
    throw new Error(
      `pgbench ${script.name} logged ${latencies.length} transactions, reported ${processed[1]}.`,
    );
  }
  return {
    tps: Number(tps[1]),
    transactions: Number(processed[1]),
    latencies: Float64Array.from(latencies),
  };
}

/** Empties mcp_sessions, loads the cleanup data set and vacuums it. */
async function loadCleanupData(sql: Sql): Promise<void> {
  const started = performance.now();
  await sql`truncate public.mcp_sessions`;
  await sql.unsafe(cleanupDataSql({
    total: EXPIRED_SESSIONS + LIVE_SESSIONS,
    liveEvery: (EXPIRED_SESSIONS + LIVE_SESSIONS) / LIVE_SESSIONS,
    users: USERS,
    clientIp,
  }));
  await sql`vacuum analyze public.mcp_sessions`;
  const [{ expired, live }] = await sql<[{ expired: number; live: number }]>`
    select count(*) filter (where expires_at <= now())::int as expired,
      count(*) filter (where expires_at > now())::int as live
    from public.mcp_sessions
  `;
  if (expired !== EXPIRED_SESSIONS || live !== LIVE_SESSIONS) {
    throw new Error(`Cleanup data set: ${expired} expired and ${live} live sessions.`);
  }
  console.log(
    `  Loaded ${expired} expired + ${live} live sessions in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s (vacuum analyze included).`,
  );
}

/** Sessions left in the table; throws unless exactly the live ones remain. */
async function assertOnlyLiveRemain(sql: Sql): Promise<void> {
  const [{ remaining }] = await sql<[{ remaining: number }]>`
    select count(*)::int as remaining from public.mcp_sessions
  `;
  if (remaining !== LIVE_SESSIONS) {
    throw new Error(`${remaining} sessions remain after the cleanup, not ${LIVE_SESSIONS}.`);
  }
}

/** (b): cleanup_expired_sessions() in one call, then batch by batch on the same data set. */
async function benchCleanup(stack: Stack): Promise<CleanupSummary> {
  const sql = adminClient(stack.state.databaseUrl);
  try {
    console.log("\nCleanup, one call:");
    await loadCleanupData(sql);
    let started = performance.now();
    const [{ deleted }] = await sql<[{ deleted: string }]>`
      select mcp_private.cleanup_expired_sessions() as deleted
    `;
    const oneCallSeconds = (performance.now() - started) / 1000;
    if (Number(deleted) !== EXPIRED_SESSIONS) {
      throw new Error(`cleanup_expired_sessions() returned ${deleted}, not ${EXPIRED_SESSIONS}.`);
    }
    await assertOnlyLiveRemain(sql);
    console.log(`  Deleted ${deleted} in ${oneCallSeconds.toFixed(2)} s.`);

    console.log("Cleanup, batch by batch:");
    await loadCleanupData(sql);
    const [{ batchSize }] = await sql<[{ batchSize: number }]>`
      select cleanup_batch_size as "batchSize" from mcp_private.settings
    `;
    const times: number[] = [];
    let total = 0;
    while (true) {
      started = performance.now();
      const [{ deleted }] = await sql<[{ deleted: string }]>`
        select mcp_private.cleanup_expired_sessions(p_max_batches => 1) as deleted
      `;
      times.push(performance.now() - started);
      total += Number(deleted);
      if (Number(deleted) < batchSize) break;
    }
    if (total !== EXPIRED_SESSIONS) {
      throw new Error(`The batches deleted ${total} sessions, not ${EXPIRED_SESSIONS}.`);
    }
    await assertOnlyLiveRemain(sql);
    const summary: CleanupSummary = {
      oneCallSeconds,
      batches: times.length,
      longestBatchMs: Math.max(...times),
      medianBatchMs: median(times),
      batchTotalSeconds: times.reduce((sum, time) => sum + time, 0) / 1000,
      batchSize,
    };
    console.log(`  ${summary.batches} calls in ${summary.batchTotalSeconds.toFixed(2)} s.`);
    return summary;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Machine and server facts for the report. */
async function describeMachine(stack: Stack): Promise<string[]> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? "unknown CPU";
  const memory = Deno.systemMemoryInfo().total / 2 ** 30;
  const sql = adminClient(stack.state.databaseUrl);
  try {
    const [{ version, fsync, synchronousCommit }] = await sql<
      [{ version: string; fsync: string; synchronousCommit: string }]
    >`
      select version(), current_setting('fsync') as fsync,
        current_setting('synchronous_commit') as "synchronousCommit"
    `;
    return [
      `CPU: ${navigator.hardwareConcurrency} × ${cpu}; memory ${memory.toFixed(1)} GiB; ` +
      `${Deno.build.os} ${Deno.osRelease()}; load average at the start ${loadAverage()}`,
      `${version.split(" on ")[0]}; fsync=${fsync}, synchronous_commit=${synchronousCommit}`,
    ];
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The 1, 5 and 15 minute load averages. */
function loadAverage(): string {
  return Deno.loadavg().map((load) => load.toFixed(2)).join(" / ");
}

/** (a'): where hello's time goes, statement by statement (--profile). */
async function profileHello(stack: Stack): Promise<SqlProfile> {
  console.log("\nProfile: pg_stat_statements (track = all) over hello, then over the insert...");
  const script = (name: string) => MAIN_SCRIPTS.find((script) => script.name === name)!.sql;
  return await profileSqlHello({
    adminUrl: adminDatabaseUrl(stack.state.ports.database),
    pgbenchPort: stack.state.ports.database,
    logDir: join(logDir, "profile"),
    seconds: options.seconds,
    helloSql: script("hello"),
    insertSql: script("insert"),
    clients: options.clients,
    threads: options.threads,
  });
}

/** Prints the profile: one row per statement, then the notes and the plans. */
function printProfile(profile: SqlProfile): void {
  const lines = [
    "",
    "Where hello's time goes (pg_stat_statements, pg_stat_statements.track = all, one run of " +
    `${options.seconds} s each):`,
    `hello ${profile.helloMeanMs.toFixed(3)} ms per call inside the server; the insert ` +
    `${profile.insertMeanMs.toFixed(3)} ms.`,
    "",
    table(
      ["piece", "calls", "mean ms", "share", "hit/call", "read/call", "WAL B/call"],
      profile.statements.map((statement) => [
        statement.piece,
        String(statement.calls),
        statement.meanMs.toFixed(4),
        percent(statement.share),
        statement.sharedHitPerCall.toFixed(1),
        statement.sharedReadPerCall.toFixed(2),
        statement.walBytesPerCall.toFixed(0),
      ]),
    ),
    "",
    ...profile.notes.map((note) => `- ${note}`),
    "",
    "Statements and their plans (EXPLAIN ANALYZE, BUFFERS, WAL of one hello, rolled back):",
  ];
  for (const statement of profile.statements) {
    lines.push("", `[${statement.piece}] ${statement.query}`);
    if (statement.plan) lines.push(statement.plan.replace(/^/gm, "    "));
  }
  console.log(lines.join("\n"));
}

/** Prints the report. */
function printReport(
  machine: string[],
  main: ScriptSummary[],
  pieces: ScriptSummary[],
  cleanup: CleanupSummary,
): void {
  const byName = new Map(main.map((summary) => [summary.script.name, summary]));
  const hello = byName.get("hello")!;
  const insert = byName.get("insert")!;
  const select1 = byName.get("select1")!;
  const toInsert = hello.medianTps / insert.medianTps;
  const toSelect1 = hello.medianTps / select1.medianTps;
  const args = Deno.args.length > 0 ? ` ${Deno.args.join(" ")}` : "";
  const lines = [
    "",
    "=".repeat(100),
    "Database benchmark report",
    "=".repeat(100),
    `Command: deno task bench:db${args}`,
    ...machine,
    `Load average (1/5/15 min) at the end: ${loadAverage()} — other work on the machine skews the figures.`,
    `pgbench ${pgbenchArgs(stack!, "<script>.sql").join(" ")} -l postgres ` +
    `(${options.runs} runs per script, interleaved)`,
    "",
    "(a) Throughput, direct to PostgreSQL, extended protocol (unnamed statements)",
    "",
    table(
      ["script", "median TPS", "TPS per run", "p50 ms", "p99 ms"],
      main.map(row),
    ),
    "",
    `hello / insert  TPS: ${percent(toInsert)}   goal ≥ ${percent(HELLO_TO_INSERT_GOAL)}: ${
      toInsert >= HELLO_TO_INSERT_GOAL ? "PASS" : "FAIL"
    }`,
    `hello / select1 TPS: ${percent(toSelect1)}`,
  ];
  if (pieces.length > 0) {
    lines.push(
      "",
      "hello's pieces, each alone in its own transaction (1 run each):",
      "",
      table(
        ["piece", "TPS", "p50 ms", "p99 ms"],
        pieces.map((summary) => row(summary).filter((_, i) => i !== 2)),
      ),
    );
  }
  lines.push(
    "",
    `(b) cleanup_expired_sessions(): ${EXPIRED_SESSIONS} expired + ${LIVE_SESSIONS} live sessions`,
    "",
    table(["measure", "value"], [
      ["one call, total", `${cleanup.oneCallSeconds.toFixed(2)} s`],
      [
        `batch by batch (p_max_batches => 1, batch size ${cleanup.batchSize}): calls`,
        String(
          cleanup.batches,
        ),
      ],
      ["longest batch", `${cleanup.longestBatchMs.toFixed(0)} ms`],
      ["median batch", `${cleanup.medianBatchMs.toFixed(0)} ms`],
      ["batches, total", `${cleanup.batchTotalSeconds.toFixed(2)} s`],
    ]),
    "",
    `one call ≤ ${CLEANUP_GOAL_SECONDS} s: ${
      cleanup.oneCallSeconds <= CLEANUP_GOAL_SECONDS ? "PASS" : "FAIL"
    }`,
    "",
    "Scripts:",
    ...[...main, ...pieces].map((summary) =>
      `  ${summary.script.name}: ${summary.script.description}`
    ),
  );
  console.log(lines.join("\n"));
}

/** One table row of a script summary. */
function row(summary: ScriptSummary): string[] {
  return [
    summary.script.name,
    summary.medianTps.toFixed(0),
    summary.runs.length > 1 ? summary.runs.map((run) => run.tps.toFixed(0)).join(" / ") : "",
    summary.p50Ms.toFixed(2),
    summary.p99Ms.toFixed(2),
  ];
}

/** A plain-text table with aligned columns (numbers right-aligned). */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((cells) => (cells[i] ?? "").length))
  );
  const format = (cells: string[]) =>
    cells.map((cell, i) => i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)).join("  ")
      .trimEnd();
  return [format(header), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map(format)]
    .join("\n");
}

function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(1)}%`;
}

function concat(arrays: Float64Array[]): Float64Array {
  const result = new Float64Array(arrays.reduce((sum, array) => sum + array.length, 0));
  let offset = 0;
  for (const array of arrays) {
    result.set(array, offset);
    offset += array.length;
  }
  return result;
}

function positiveInteger(flag: string, value: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < 1) {
    usageError(USAGE, `Cannot parse "${flag}": expected a positive integer, got "${value}".`);
  }
  return number;
}
