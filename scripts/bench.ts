/**
 * `deno task bench`: every benchmark of the project in one run, on a private durable stack (a
 * temporary folder on free ports, always torn down), with the load generators in processes of
 * their own. Prints one table, writes `bench/results/<date>.json` and regenerates
 * `docs/performance.md` and its charts. Every figure is a median of repeated runs; every goal is
 * a ratio to a baseline measured in the same run, or a bound. See docs/benchmarks.md.
 *
 * Sections (`--only` picks some; the page is regenerated only when all ran):
 * - hello: closed-loop throughput, interleaved `--runs` times: HTTP hello with HS256 and ES256
 *   tokens, each reused (1000 users, one token each) and fresh (never seen before, so no
 *   verification cache hides the signature); WebSocket connect + hello + bye, and ping → pong;
 *   `POST /authorize` (the MCP per-request authorization path); pgbench on the SQL hello, a
 *   plain one-row insert and `select 1`, through the same PgBouncer at the same concurrency;
 * - latency: hello at a fixed rate of half the measured HS256 peak (hey's paced workers), and
 *   pgbench on the SQL hello at the same rate (open loop) beside it;
 * - ratelimit: bursts of concurrent requests against small limits: admitted vs allowed;
 * - profile: where the SQL hello's time goes (pg_stat_statements);
 * - cleanup: `cleanup_expired_sessions()` over `--cleanup-rows` expired sessions while hellos
 *   continue at the fixed rate, against the same rate without cleanup;
 * - uploads: streamed and signed-URL uploads beside sha256sum + cp;
 * - coldstart: function server spawn to its first 200 hello.
 *
 * Exits 0 whether or not the goals are met; non-zero only on errors.
 */

import { SignJWT } from "jose";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  benchAuthSessionIdSql,
  benchUserIdSql,
  cleanupDataSql,
  median,
  positiveInteger,
  runPgbench,
  table,
} from "./lib/bench.ts";
import {
  type BenchResults,
  type CleanupRun,
  type ColdStart,
  type FixedRateRun,
  type Goal,
  goal,
  type Latency,
  type Machine,
  type RateLimitRun,
  type SqlProfile,
  type ThroughputMode,
  type UploadMode,
} from "./lib/bench_results.ts";
import { benchUploads } from "./lib/bench_uploads.ts";
import { parseCommandLine, usageError } from "./lib/cli.ts";
import { adminClient } from "./lib/database.ts";
import { es256SigningKey } from "./lib/keys.ts";
import {
  ensureTools,
  hey,
  latencyOf,
  type LoadRequest,
  type LoadResult,
  wrk,
  wsLoad,
} from "./lib/load.ts";
import { freePort } from "./lib/ports.ts";
import { cpuShares, sampleCpu } from "./lib/cpu.ts";
import { adminDatabaseUrl } from "./lib/postgres.ts";
import { functionEnvironment, type Stack, startFunctionServer, startStack } from "./lib/stack.ts";

const SECTIONS = ["hello", "latency", "ratelimit", "profile", "cleanup", "uploads", "coldstart"];

const USAGE =
  `Usage: deno task bench [--seconds 10] [--runs 3] [--connections 32] [--only hello,...]

Every benchmark in one run, on a private durable stack (a temporary folder on free ports, always
torn down): hello over HTTP (HS256 and ES256, reused and fresh tokens) and WebSocket, POST
/authorize, pgbench on the SQL hello beside select 1 and a one-row insert, latency at a fixed rate,
rate-limit admission under concurrency, the SQL hello's profile, cleanup of expired sessions
while hellos continue, uploads beside sha256sum, and cold start. Prints one table, writes
bench/results/<date>.json and regenerates docs/performance.md. Needs wrk and hey (installed with
apt-get when run as root). See docs/benchmarks.md.

Options:
  --seconds <n>        length of each timed run (default 10)
  --runs <n>           runs per mode, interleaved (default 3)
  --connections <n>    concurrent clients of the closed-loop modes (default 32)
  --cleanup-rows <n>   expired sessions for the cleanup (default 1000000)
  --upload-mib <n>     size of the upload (default 100)
  --only <list>        comma-separated sections: ${SECTIONS.join(", ")}
                       (docs/performance.md is regenerated only when all run)
  --out <file>         where to write the results (default bench/results/<date>.json)
  -h, --help           print this help and exit`;

const { values } = parseCommandLine(USAGE, {
  options: {
    seconds: { type: "string", default: "10" },
    runs: { type: "string", default: "3" },
    connections: { type: "string", default: "32" },
    "cleanup-rows": { type: "string", default: "1000000" },
    "upload-mib": { type: "string", default: "100" },
    only: { type: "string" },
    out: { type: "string" },
  },
});
const options = (() => {
  try {
    const only = values.only?.split(",").map((section) => section.trim()) ?? SECTIONS;
    const unknown = only.filter((section) => !SECTIONS.includes(section));
    if (unknown.length > 0 || only.length === 0) {
      throw new TypeError(`Cannot parse "--only": unknown section "${unknown.join(", ")}".`);
    }
    return {
      seconds: positiveInteger("--seconds", values.seconds),
      runs: positiveInteger("--runs", values.runs),
      connections: positiveInteger("--connections", values.connections),
      cleanupRows: positiveInteger("--cleanup-rows", values["cleanup-rows"]),
      uploadMiB: positiveInteger("--upload-mib", values["upload-mib"]),
      only: new Set(only),
      out: values.out,
    };
  } catch (error) {
    return usageError(USAGE, error instanceof Error ? error.message : String(error));
  }
})();

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const USERS = 1000;
/** The fixed-rate runs' users: the first 16, one hey process each, at the rate in total. */
const FIXED_RATE_USERS = 16;
/** Live sessions kept beside the expired ones in the cleanup (every 11th row). */
const LIVE_EVERY = 11;
/** The baselines of the SQL hello under pgbench. */
const INSERT_SQL = `\\set n random(1, ${USERS})\n` +
  "insert into bench.events (name, amount) values ('event', :n);\n";
const SELECT1_SQL = "select 1;\n";
const log = (message: string) => console.error(`[bench] ${message}`);

interface BenchUser {
  n: number;
  userId: string;
  sessionId: string;
  ip: string;
}

type Algorithm = "HS256" | "ES256";

await ensureTools({ wrk: "wrk", hey: "hey" }).catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  Deno.exit(1);
});
const startedAt = new Date();
const dir = await Deno.makeTempDir({ prefix: "mcp-auth-bench-" });
await Deno.chmod(dir, 0o755);
let stack: Stack | undefined;
const teardown = async () => {
  const current = stack;
  stack = undefined;
  await current?.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
};
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => teardown().finally(() => Deno.exit(130)));
}

let results: BenchResults;
try {
  stack = await startStack({
    dir,
    ports: { api: freePort(), database: freePort(), pooler: freePort() },
    // Durable: fsync and synchronous_commit on, as a real database.
    ephemeral: false,
    // The load comes from one address; X-Forwarded-For gives each user its own client IP, as
    // real clients have. One local process stands for the several instances a hosted function
    // would run under this load, so it gets the connections of several.
    functionEnv: { MCP_TRUSTED_PROXIES: "1", MCP_DB_POOL_SIZE: "16" },
    log: (message) => console.error(`[stack] ${message}`),
    envFile: null,
  });
  results = await runAll(stack);
} catch (error) {
  console.error(error instanceof Error ? error.stack ?? error.message : error);
  // The stack's logs outlive it: they say what went wrong.
  const kept = await Deno.makeTempDir({ prefix: "mcp-auth-bench-logs-" });
  await stack?.stop();
  await new Deno.Command("cp", { args: ["-r", join(dir, "logs"), kept] }).output();
  console.error(`The stack's logs are in ${kept}/logs.`);
  await teardown();
  Deno.exit(1);
}
await teardown();

const out = options.out ??
  join(ROOT, "bench", "results", `${startedAt.toISOString().slice(0, 10)}.json`);
await Deno.mkdir(join(out, ".."), { recursive: true });
await Deno.writeTextFile(out, JSON.stringify(results, null, 2) + "\n");
console.log(summaryTable(results));
console.log(`\nResults: ${out}`);
if (options.only.size === SECTIONS.length) {
  const { writePerformancePage } = await import("./lib/bench_report.ts");
  await writePerformancePage(results, ROOT, { resultsFile: out });
  console.log("Regenerated docs/performance.md and docs/performance/*.svg.");
}

/** Every selected section, in order, on `stack`. */
async function runAll(stack: Stack): Promise<BenchResults> {
  const users = await setUp(stack);
  const reused = {
    HS256: await signTokens(stack, users, "HS256", 1),
    ES256: await signTokens(stack, users, "ES256", 1),
  };
  const helloUrl = `${stack.state.functionsUrl}/hello`;
  const ran = (section: string) => options.only.has(section);

  const throughput: ThroughputMode[] = [];
  let peak = NaN;
  if (ran("hello") || ran("latency") || ran("cleanup")) {
    log("warm-up");
    const warm = await wrk({
      url: helloUrl,
      requests: helloRequests(users, reused.HS256),
      seconds: 3,
      connections: options.connections,
      dir,
      name: "warm-up",
    });
    peak = warm.rate;
    await wrk({
      url: helloUrl,
      requests: helloRequests(users, reused.ES256),
      seconds: 2,
      connections: options.connections,
      dir,
      name: "warm-up",
    });
  }
  if (ran("hello")) {
    throughput.push(...await benchThroughput(stack, users, reused, peak));
    peak = throughput.find((mode) => mode.id === "http-hs256-reused")!.median;
  }
  const fixedRate: FixedRateRun[] = [];
  const rate = Math.max(10, Math.round(peak / 2));
  if (ran("latency")) fixedRate.push(...await benchFixedRate(stack, users, reused.HS256, rate));
  const rateLimit = ran("ratelimit") ? await benchRateLimits(stack, users) : [];
  const sqlProfile = ran("profile") ? await benchProfile(stack) : undefined;
  const cleanup = ran("cleanup")
    ? await benchCleanup(stack, users, reused.HS256, rate)
    : emptyCleanup();
  const uploads: UploadMode[] = ran("uploads")
    ? await benchUploads(stack, dir, { sizeMiB: options.uploadMiB, runs: options.runs, log })
    : [];
  const coldStart = ran("coldstart")
    ? await measureColdStart(stack, reused.HS256[0]!)
    : { runsMs: [], medianMs: NaN };

  const partial = {
    version: 1 as const,
    startedAt: startedAt.toISOString(),
    durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
    commit: await commit(),
    command: commandLine(),
    machine: await describeMachine(stack),
    settings: {
      seconds: options.seconds,
      runs: options.runs,
      connections: options.connections,
      users: USERS,
    },
    throughput,
    fixedRate,
    rateLimit,
    cleanup,
    uploads,
    coldStart,
    ...(sqlProfile ? { sqlProfile } : {}),
  };
  return { ...partial, goals: goals(partial) };
}

/** Bench users with live auth sessions; rate limits raised out of the way; cron jobs off. */
async function setUp(stack: Stack): Promise<BenchUser[]> {
  const sql = adminClient(stack.state.databaseUrl);
  try {
    // The cron jobs (cleanup every 5 minutes) would race the measurements. postgres may only
    // read cron.job (as on hosted Supabase); pg_cron's own function changes it.
    await sql`select cron.alter_job(jobid, active := false) from cron.job`;
    await sql.unsafe(`
      update mcp_private.rate_limit_policies set max_requests = 10000000;
      create schema bench;
      create table bench.events (
        id bigserial primary key,
        name text not null,
        amount integer not null
      );
      insert into auth.users (id, email, aud, role, created_at, updated_at)
      select ${
      benchUserIdSql("n")
    }, 'bench-' || n || '@bench.example', 'authenticated', 'authenticated',
             now(), now()
      from generate_series(1, ${USERS}) n;
      insert into auth.sessions (id, user_id, created_at, updated_at, aal)
      select ${benchAuthSessionIdSql("n")}, ${benchUserIdSql("n")}, now(), now(), 'aal1'
      from generate_series(1, ${USERS}) n;
    `);
    const rows = await sql<{ n: number; user_id: string; session_id: string }[]>`
      select n, ${sql.unsafe(benchUserIdSql("n"))} as user_id,
        ${sql.unsafe(benchAuthSessionIdSql("n"))} as session_id
      from generate_series(1, ${USERS}) n order by n
    `;
    return rows.map((row) => ({
      n: row.n,
      userId: row.user_id,
      sessionId: row.session_id,
      ip: ipOf(row.n),
    }));
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** User n's client address: 10.1.<n / 256>.<n % 256>, as in the pgbench script. */
function ipOf(n: number): string {
  return `10.1.${Math.floor(n / 256)}.${n % 256}`;
}

function helloBody(token: string): string {
  return `{"op":"hello","token":"${token}"}`;
}

/** A hello for each token, from its user's address (token k is user k % USERS's). */
function helloRequests(users: BenchUser[], tokens: string[]): LoadRequest[] {
  return tokens.map((token, i) => ({ ip: users[i % USERS]!.ip, body: helloBody(token) }));
}

/** `perUser` tokens for every user, users in turn (token k is user k % USERS's). */
async function signTokens(
  stack: Stack,
  users: BenchUser[],
  alg: Algorithm,
  perUser: number,
): Promise<string[]> {
  const now = Math.floor(Date.now() / 1000);
  const key = alg === "HS256"
    ? new TextEncoder().encode(stack.keys.hs256Secret)
    : await es256SigningKey(stack.keys);
  const header = alg === "HS256"
    ? { alg, typ: "JWT" }
    : { alg, typ: "JWT", kid: stack.keys.es256.kid! };
  const tokens: string[] = [];
  const total = users.length * perUser;
  for (let start = 0; start < total; start += 1000) {
    tokens.push(
      ...await Promise.all(
        Array.from({ length: Math.min(1000, total - start) }, (_, offset) => {
          const user = users[(start + offset) % users.length]!;
          return new SignJWT({
            role: "authenticated",
            session_id: user.sessionId,
            email: `bench-${user.n}@bench.example`,
            is_anonymous: false,
            aal: "aal1",
          })
            .setSubject(user.userId)
            .setIssuer(`${stack.state.apiUrl}/auth/v1`)
            .setAudience("authenticated")
            .setIssuedAt(now)
            .setExpirationTime(now + 3600)
            // Distinct bytes: a token never seen before.
            .setJti(crypto.randomUUID())
            .setProtectedHeader(header)
            .sign(key);
        }),
      ),
    );
  }
  return tokens;
}

/** The SQL hello of bench users 1 to `users`, each from its own address. */
function pgbenchHelloSql(users = USERS): string {
  // Extended protocol sends :n as a parameter of unknown type: cast it.
  const n = "(:n)::int";
  return [
    `\\set n random(1, ${users})`,
    `select ok from mcp_private.hello(${benchUserIdSql(n)}, ${benchAuthSessionIdSql(n)}, ` +
    `('10.1.' || ${n} / 256 || '.' || ${n} % 256)::inet);`,
    "",
  ].join("\n");
}

/** The closed-loop modes, interleaved `options.runs` times. */
async function benchThroughput(
  stack: Stack,
  users: BenchUser[],
  reused: Record<Algorithm, string[]>,
  estimatedRate: number,
): Promise<ThroughputMode[]> {
  const helloUrl = `${stack.state.functionsUrl}/hello`;
  const wsUrl = helloUrl.replace(/^http/, "ws");
  // Enough fresh tokens for half as much again as the warm-up's rate, per run and algorithm.
  const perUser = Math.ceil((estimatedRate * 1.5 * options.seconds) / USERS) + 1;
  log(`signing ${perUser * USERS} fresh tokens per run and algorithm`);
  const fresh: Record<Algorithm, string[][]> = { HS256: [], ES256: [] };
  for (let run = 0; run < options.runs; run++) {
    for (const alg of ["HS256", "ES256"] as const) {
      fresh[alg].push(await signTokens(stack, users, alg, perUser));
    }
  }
  const authorizeRequests: LoadRequest[] = users.map((user) => ({
    ip: user.ip,
    body: JSON.stringify({
      user_id: user.userId,
      auth_session_id: user.sessionId,
      scopes: ["mcp:tools.basic"],
      tool: "echo",
      resource: "https://mcp.example.com/mcp",
      ip: user.ip,
    }),
  }));

  interface Mode {
    id: string;
    label: string;
    group: ThroughputMode["group"];
    tool: string;
    operation: string;
    run: (run: number) => Promise<LoadResult>;
  }
  const closedLoop = (name: string, requests: LoadRequest[], url = helloUrl, auth?: string) =>
    wrk({
      url,
      requests,
      seconds: options.seconds,
      connections: options.connections,
      dir,
      name,
      ...(auth ? { authorization: auth } : {}),
    });
  const pgbench = async (name: string, sql: string, run: number): Promise<LoadResult> => {
    const result = await runPgbench({
      name,
      sql,
      seconds: options.seconds,
      clients: options.connections,
      threads: 2,
      port: stack.state.ports.pooler,
      logDir: join(dir, `pgbench-${name}-${run}`),
    });
    await Deno.remove(join(dir, `pgbench-${name}-${run}`), { recursive: true });
    return {
      rate: result.tps,
      latency: latencyOf(result.latenciesMs),
      errors: result.failed,
      requests: result.latenciesMs.length,
      wrapped: 0,
    };
  };
  const modes: Mode[] = [
    {
      id: "http-hs256-reused",
      label: "HTTP hello, HS256, reused tokens",
      group: "http",
      tool: "wrk",
      operation: "POST /hello with one of 1000 users' tokens, seen before",
      run: () => closedLoop("hs256-reused", helloRequests(users, reused.HS256)),
    },
    {
      id: "http-hs256-fresh",
      label: "HTTP hello, HS256, fresh tokens",
      group: "http",
      tool: "wrk",
      operation: "POST /hello with a token never sent before",
      run: (run) => closedLoop("hs256-fresh", helloRequests(users, fresh.HS256[run]!)),
    },
    {
      id: "http-es256-reused",
      label: "HTTP hello, ES256, reused tokens",
      group: "http",
      tool: "wrk",
      operation: "POST /hello with one of 1000 users' tokens, seen before",
      run: () => closedLoop("es256-reused", helloRequests(users, reused.ES256)),
    },
    {
      id: "http-es256-fresh",
      label: "HTTP hello, ES256, fresh tokens",
      group: "http",
      tool: "wrk",
      operation: "POST /hello with a token never sent before",
      run: (run) => closedLoop("es256-fresh", helloRequests(users, fresh.ES256[run]!)),
    },
    {
      id: "ws-hello",
      label: "WebSocket: connect, hello, bye",
      group: "websocket",
      tool: "deno-ws",
      operation: "open a socket, hello → hello_ack, bye → close 1000",
      run: () =>
        wsLoad({
          url: wsUrl,
          mode: "hello",
          requests: helloRequests(users, reused.HS256),
          connections: options.connections,
          seconds: options.seconds,
          dir,
          name: "ws-hello",
        }),
    },
    {
      id: "ws-ping",
      label: "WebSocket: ping → pong",
      group: "websocket",
      tool: "deno-ws",
      operation: "ping → pong on an open session (touches it at most once a second)",
      run: () =>
        wsLoad({
          url: wsUrl,
          mode: "ping",
          requests: helloRequests(users, reused.HS256),
          connections: options.connections,
          seconds: options.seconds,
          dir,
          name: "ws-ping",
        }),
    },
    {
      id: "authorize",
      label: "POST /authorize (per MCP request)",
      group: "authorize",
      tool: "wrk",
      operation: "revocation, rate limit, scope and audit for one MCP request, server credential",
      run: () =>
        closedLoop(
          "authorize",
          authorizeRequests,
          `${stack.state.functionsUrl}/authorize`,
          `Bearer ${stack.state.serviceRoleKey}`,
        ),
    },
    {
      id: "pgbench-hello",
      label: "pgbench: SQL hello",
      group: "sql",
      tool: "pgbench",
      operation: "select ok from mcp_private.hello(user, auth session, ip)",
      run: (run) => pgbench("hello", pgbenchHelloSql(), run),
    },
    {
      id: "pgbench-insert",
      label: "pgbench: one-row insert",
      group: "sql",
      tool: "pgbench",
      operation: "insert into bench.events (name, amount) values (...)",
      run: (run) => pgbench("insert", INSERT_SQL, run),
    },
    {
      id: "pgbench-select1",
      label: "pgbench: select 1",
      group: "sql",
      tool: "pgbench",
      operation: "select 1",
      run: (run) => pgbench("select1", SELECT1_SQL, run),
    },
  ];
  const measured = new Map<string, LoadResult[]>(modes.map((mode) => [mode.id, []]));
  for (let run = 0; run < options.runs; run++) {
    for (const mode of modes) {
      log(`run ${run + 1}/${options.runs}: ${mode.label}`);
      const result = await mode.run(run);
      if (mode.id.endsWith("-fresh") && result.wrapped > 0) {
        log(`${mode.label}: the fresh tokens ran out; some were sent twice`);
      }
      measured.get(mode.id)!.push(result);
    }
  }
  return modes.map((mode) => {
    const runs = measured.get(mode.id)!;
    return {
      id: mode.id,
      label: mode.label,
      group: mode.group,
      tool: mode.tool,
      operation: mode.operation,
      runs: runs.map((run) => run.rate),
      median: median(runs.map((run) => run.rate)),
      latency: medianLatency(runs.map((run) => run.latency)),
      errors: runs.reduce((sum, run) => sum + run.errors, 0),
    };
  });
}

/** The median over runs of each percentile. */
function medianLatency(latencies: Latency[]): Latency {
  return {
    p50: median(latencies.map((latency) => latency.p50)),
    p90: median(latencies.map((latency) => latency.p90)),
    p99: median(latencies.map((latency) => latency.p99)),
    max: median(latencies.map((latency) => latency.max)),
  };
}

function fixedRateRequests(users: BenchUser[], tokens: string[]): LoadRequest[] {
  return users.slice(0, FIXED_RATE_USERS).map((user, i) => ({
    ip: user.ip,
    body: helloBody(tokens[i]!),
  }));
}

/**
 * `options.runs` runs of hello at `rate`, each followed by its baseline: pgbench on the SQL
 * hello of the same 16 users at the same rate through the same PgBouncer (open loop, latency
 * from each transaction's scheduled start), which is what the database alone gives at that rate.
 * Then, as a diagnosis, the same hello run with commits that do not wait for the disk
 * (`synchronous_commit = off` for that run only): what is left of the tail without the WAL
 * flush.
 */
async function benchFixedRate(
  stack: Stack,
  users: BenchUser[],
  tokens: string[],
  rate: number,
): Promise<FixedRateRun[]> {
  type Run = { achieved: number; latency: Latency; errors: number; cpu: Record<string, number> };
  const http: Run[] = [];
  const sql: Run[] = [];
  const asynchronous: Run[] = [];
  const groups = stack.processes.map((process) => ({ name: process.name, pid: process.pid }));
  const helloAtRate = async (): Promise<Run> => {
    const before = await sampleCpu(groups);
    const timed = await hey({
      url: `${stack.state.functionsUrl}/hello`,
      requests: fixedRateRequests(users, tokens),
      rate,
      seconds: options.seconds,
      dir,
      name: "fixed-rate",
    });
    const cpu = cpuShares(before, await sampleCpu(groups), navigator.hardwareConcurrency);
    const ok = timed.filter((request) => request.status === 200);
    return {
      achieved: ok.length / options.seconds,
      latency: latencyOf(ok.map((request) => request.latency)),
      errors: timed.length - ok.length,
      cpu,
    };
  };
  for (let run = 0; run < options.runs; run++) {
    log(`fixed rate ${rate}/s: run ${run + 1}/${options.runs}`);
    http.push(await helloAtRate());
    const logDir = join(dir, `pgbench-fixed-rate-${run}`);
    const before = await sampleCpu(groups);
    const result = await runPgbench({
      name: "hello-fixed-rate",
      sql: pgbenchHelloSql(FIXED_RATE_USERS),
      seconds: options.seconds,
      clients: FIXED_RATE_USERS,
      threads: 2,
      port: stack.state.ports.pooler,
      logDir,
      rate,
    });
    await Deno.remove(logDir, { recursive: true });
    sql.push({
      achieved: result.latenciesMs.length / options.seconds,
      latency: latencyOf(result.latenciesMs),
      errors: result.failed,
      cpu: cpuShares(before, await sampleCpu(groups), navigator.hardwareConcurrency),
    });
    asynchronous.push(await withAsynchronousCommit(stack, helloAtRate));
  }
  const summary = (runs: Run[]) => ({
    targetRate: rate,
    achievedRate: median(runs.map((run) => run.achieved)),
    latency: medianLatency(runs.map((run) => run.latency)),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    cpuPercent: Object.fromEntries(
      Object.keys(runs[0]?.cpu ?? {}).map((name) => [
        name,
        median(runs.map((run) => run.cpu[name] ?? 0)),
      ]),
    ),
  });
  return [
    {
      id: "http-hs256-fixed",
      label: "HTTP hello, HS256, at half the measured peak",
      ...summary(http),
    },
    {
      id: "pgbench-hello-fixed",
      label: "pgbench: SQL hello, same rate and users",
      ...summary(sql),
    },
    {
      id: "http-hs256-fixed-async-commit",
      label: "HTTP hello, same rate, commits not waiting for the disk (diagnosis)",
      ...summary(asynchronous),
    },
  ];
}

/**
 * Runs `fn` with `synchronous_commit = off` as the server's default (ALTER SYSTEM, as the
 * local superuser; every backend takes it at its next command), and puts it back after.
 */
async function withAsynchronousCommit<T>(stack: Stack, fn: () => Promise<T>): Promise<T> {
  const admin = adminClient(adminDatabaseUrl(stack.state.ports.database));
  const set = async (value: "off" | null) => {
    await admin.unsafe(
      value === null
        ? "alter system reset synchronous_commit"
        : `alter system set synchronous_commit = ${value}`,
    );
    await admin`select pg_reload_conf()`;
    // Idle backends read the configuration again before their next command; give them a moment.
    await new Promise((resolve) => setTimeout(resolve, 500));
  };
  try {
    await set("off");
    return await fn();
  } finally {
    await set(null).finally(() => admin.end({ timeout: 5 }));
  }
}

/**
 * Bursts of 64 concurrent requests against small limits; `allowed` is what GCRA admits over the
 * burst's duration: floor((period + elapsed) / emission interval).
 */
async function benchRateLimits(stack: Stack, users: BenchUser[]): Promise<RateLimitRun[]> {
  const sql = adminClient(stack.state.databaseUrl);
  const runs: RateLimitRun[] = [];
  const burst = async (
    policy: string,
    limit: number,
    send: (i: number) => Promise<"admitted" | "refused" | "other">,
    total: number,
  ) => {
    await sql`update mcp_private.rate_limit_policies set max_requests = ${limit}
      where name = ${policy}`;
    const [{ per }] = await sql<[{ per: number }]>`
      select extract(epoch from per)::float8 * 1000000 as per
      from mcp_private.rate_limit_policies where name = ${policy}
    `;
    const counts = { admitted: 0, refused: 0, other: 0 };
    let next = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next < total) counts[await send(next++)]++;
    }));
    const elapsedMicros = (performance.now() - started) * 1000;
    await sql`update mcp_private.rate_limit_policies set max_requests = 10000000
      where name = ${policy}`;
    const interval = Math.floor(per / limit);
    return { ...counts, sent: total, allowed: Math.floor((per + elapsedMicros) / interval) };
  };
  const hello = async (token: string, ip: string) => {
    const response = await fetch(`${stack.state.functionsUrl}/hello`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-forwarded-for": ip },
      body: helloBody(token),
    });
    await response.body?.cancel();
    return response.status === 200 ? "admitted" : response.status === 429 ? "refused" : "other";
  };
  try {
    log("rate limits: one user from many addresses");
    const user = users[USERS - 1]!;
    const [userToken] = await signTokens(stack, [user], "HS256", 1);
    runs.push({
      id: "hello-user",
      label: "hello: one user, 600 requests from 600 addresses, limit 30/min",
      ...await burst(
        "hello_user",
        30,
        (i) => hello(userToken!, `10.2.${Math.floor(i / 256)}.${i % 256}`),
        600,
      ),
    });
    log("rate limits: many users from one address");
    const tokens = await signTokens(stack, users.slice(0, 600), "HS256", 1);
    runs.push({
      id: "hello-ip",
      label: "hello: 600 users from one address, limit 50/min",
      ...await burst("hello_ip", 50, (i) => hello(tokens[i]!, "10.3.0.1"), 600),
    });
    log("rate limits: POST /authorize for one user");
    const other = users[USERS - 2]!;
    const body = JSON.stringify({
      user_id: other.userId,
      auth_session_id: other.sessionId,
      scopes: ["mcp:tools.basic"],
      tool: "echo",
      resource: "https://mcp.example.com/mcp",
      ip: other.ip,
    });
    runs.push({
      id: "authorize-user",
      label: "POST /authorize: one user, 1000 requests, limit 120/min",
      ...await burst("mcp_request_user", 120, async () => {
        const response = await fetch(`${stack.state.functionsUrl}/authorize`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            authorization: `Bearer ${stack.state.serviceRoleKey}`,
          },
          body,
        });
        if (response.status !== 200) {
          await response.body?.cancel();
          return "other";
        }
        const answer = await response.json();
        return answer.allowed === true
          ? "admitted"
          : answer.error === "rate_limited"
          ? "refused"
          : "other";
      }, 1000),
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
  return runs;
}

async function benchProfile(stack: Stack): Promise<SqlProfile> {
  log("profile: pg_stat_statements over the SQL hello and the one-row insert");
  const { profileSqlHello } = await import("./lib/sql_profile.ts");
  return await profileSqlHello({
    adminUrl: adminDatabaseUrl(stack.state.ports.database),
    pgbenchPort: stack.state.ports.pooler,
    logDir: join(dir, "profile"),
    seconds: options.seconds,
    helloSql: pgbenchHelloSql(),
    insertSql: INSERT_SQL,
  });
}

function emptyCleanup(): CleanupRun {
  const none = { p50: NaN, p90: NaN, p99: NaN, max: NaN };
  return {
    expiredRows: 0,
    liveRows: 0,
    seconds: NaN,
    idle: none,
    during: none,
    helloRate: 0,
    timeline: [],
    cleanupStart: 0,
    cleanupEnd: 0,
    errors: 0,
  };
}

/**
 * Loads `options.cleanupRows` expired sessions (and a live one for every ten), measures hello at
 * `rate` for `options.seconds` (idle), then again while `cleanup_expired_sessions()` runs, as
 * pg_cron runs it: one call, as postgres.
 */
async function benchCleanup(
  stack: Stack,
  users: BenchUser[],
  tokens: string[],
  rate: number,
): Promise<CleanupRun> {
  const sql = adminClient(stack.state.databaseUrl);
  try {
    const expired = options.cleanupRows;
    const live = Math.floor(expired / (LIVE_EVERY - 1));
    log(`cleanup: loading ${expired} expired and ${live} live sessions`);
    await sql`truncate public.mcp_sessions`;
    await sql.unsafe(cleanupDataSql({
      total: expired + live,
      liveEvery: LIVE_EVERY,
      users: USERS,
      clientIp: (n) => `('10.1.' || ${n} / 256 || '.' || ${n} % 256)::inet`,
    }));
    await sql`vacuum analyze public.mcp_sessions`;
    const [counts] = await sql<[{ expired: number; live: number }]>`
      select count(*) filter (where expires_at <= now())::int as expired,
        count(*) filter (where expires_at > now())::int as live
      from public.mcp_sessions
    `;
    if (counts.expired !== expired) {
      throw new Error(`Cleanup data set: ${counts.expired} expired sessions, not ${expired}.`);
    }
    const requests = fixedRateRequests(users, tokens);
    const url = `${stack.state.functionsUrl}/hello`;
    log(`cleanup: hellos at ${rate}/s without cleanup`);
    const idle = await hey({ url, requests, rate, seconds: options.seconds, dir, name: "idle" });

    log(`cleanup: hellos at ${rate}/s while cleanup_expired_sessions() runs`);
    const lead = 2;
    const phaseSeconds = Math.max(20, options.seconds + 10);
    const spawned = performance.now();
    const load = hey({ url, requests, rate, seconds: phaseSeconds, dir, name: "cleanup" });
    await new Promise((resolve) => setTimeout(resolve, lead * 1000));
    const cleanupStart = (performance.now() - spawned) / 1000;
    const [{ deleted }] = await sql<[{ deleted: string }]>`
      select mcp_private.cleanup_expired_sessions() as deleted
    `;
    const cleanupEnd = (performance.now() - spawned) / 1000;
    const timed = await load;
    if (Number(deleted) !== expired) {
      throw new Error(`cleanup_expired_sessions() returned ${deleted}, not ${expired}.`);
    }
    const ok = (list: typeof timed) => list.filter((request) => request.status === 200);
    const during = ok(timed).filter((request) =>
      request.offset >= cleanupStart && request.offset <= cleanupEnd
    );
    const timeline: CleanupRun["timeline"] = [];
    for (let t = 0; t < phaseSeconds; t++) {
      const bucket = ok(timed).filter((request) => request.offset >= t && request.offset < t + 1);
      if (bucket.length === 0) continue;
      const latency = latencyOf(bucket.map((request) => request.latency));
      timeline.push({ t, count: bucket.length, p50: latency.p50, p99: latency.p99 });
    }
    return {
      expiredRows: expired,
      liveRows: live,
      seconds: cleanupEnd - cleanupStart,
      idle: latencyOf(ok(idle).map((request) => request.latency)),
      during: latencyOf(during.map((request) => request.latency)),
      helloRate: rate,
      timeline,
      cleanupStart,
      cleanupEnd,
      errors: timed.length - ok(timed).length,
    };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Time from spawning a function server process to its first 200 hello, `runs` times. */
async function measureColdStart(stack: Stack, token: string): Promise<ColdStart> {
  const env = {
    ...await functionEnvironment(stack.state.apiUrl, stack.state.edgeDatabaseUrl, stack.keys),
    MCP_TRUSTED_PROXIES: "1",
  };
  const times: number[] = [];
  for (let i = 0; i < Math.max(3, options.runs); i++) {
    log(`cold start: run ${i + 1}`);
    const port = freePort();
    const started = performance.now();
    const server = await startFunctionServer(port, env, join(dir, `startup-${i}.log`));
    try {
      times.push(
        await untilFirst200(started, `http://127.0.0.1:${port}/functions/v1/hello`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-forwarded-for": `10.4.0.${i}` },
          body: helloBody(token),
        }),
      );
    } finally {
      await server.stop();
    }
  }
  const bare: number[] = [];
  for (let i = 0; i < times.length; i++) bare.push(await bareColdStart());
  return { runsMs: times, medianMs: median(times), bareRunsMs: bare, bareMedianMs: median(bare) };
}

/** Spawning `deno` with a `Deno.serve` that answers 200 at once, to its first 200, in ms. */
async function bareColdStart(): Promise<number> {
  const port = freePort();
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `Deno.serve({ hostname: "127.0.0.1", port: ${port}, onListen() {} }, () => new Response("ok"));`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    return await untilFirst200(started, `http://127.0.0.1:${port}/`);
  } finally {
    child.kill("SIGTERM");
    await child.status;
  }
}

/** Sends the request every 2 ms until it is answered 200; the ms from `started` to that answer. */
async function untilFirst200(started: number, url: string, init?: RequestInit): Promise<number> {
  while (true) {
    if (performance.now() - started > 60_000) throw new Error("No 200 within 60 s.");
    try {
      const response = await fetch(url, init);
      await response.arrayBuffer();
      if (response.status === 200) return performance.now() - started;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** The goals of the issue, each against this run's own baseline. */
function goals(results: Omit<BenchResults, "goals">): Goal[] {
  const list: Goal[] = [];
  const mode = (id: string) => results.throughput.find((entry) => entry.id === id)?.median ?? NaN;
  const percent = (a: number, b: number) => (100 * a) / b;
  if (results.throughput.length > 0) {
    const pg = mode("pgbench-hello");
    list.push(
      goal(
        "hs256-vs-pgbench",
        "HTTP hello HS256 (reused tokens) / pgbench on the same SQL",
        percent(mode("http-hs256-reused"), pg),
        ">=",
        80,
        "%",
        "pgbench: SQL hello",
      ),
      goal(
        "hs256-fresh-vs-pgbench",
        "HTTP hello HS256 (fresh tokens) / pgbench on the same SQL",
        percent(mode("http-hs256-fresh"), pg),
        ">=",
        80,
        "%",
        "pgbench: SQL hello",
      ),
      goal(
        "es256-vs-hs256-reused",
        "ES256 / HS256, reused tokens",
        percent(mode("http-es256-reused"), mode("http-hs256-reused")),
        ">=",
        95,
        "%",
        "HTTP hello, HS256, reused tokens",
      ),
      goal(
        "es256-vs-hs256-fresh",
        "ES256 / HS256, fresh tokens",
        percent(mode("http-es256-fresh"), mode("http-hs256-fresh")),
        ">=",
        95,
        "%",
        "HTTP hello, HS256, fresh tokens",
      ),
      goal(
        "sql-hello-vs-insert",
        "SQL hello / one-row insert (pgbench)",
        percent(mode("pgbench-hello"), mode("pgbench-insert")),
        ">=",
        50,
        "%",
        "pgbench: one-row insert",
      ),
    );
  }
  for (const run of results.fixedRate.filter((run) => run.id === "http-hs256-fixed")) {
    list.push(
      goal(
        "fixed-rate-p99",
        `hello p99 at ${run.targetRate}/s (half the peak)`,
        run.latency.p99,
        "<=",
        10,
        "ms",
      ),
    );
  }
  if (results.rateLimit.length > 0) {
    list.push(goal(
      "rate-limit-over-admission",
      "rate limiting: requests admitted over the limit, all concurrent runs",
      results.rateLimit.reduce((sum, run) => sum + Math.max(0, run.admitted - run.allowed), 0),
      "<=",
      0,
      "requests",
    ));
  }
  if (results.cleanup.expiredRows > 0) {
    list.push(
      goal(
        "cleanup-seconds",
        `cleanup of ${results.cleanup.expiredRows.toLocaleString("en-US")} expired sessions`,
        results.cleanup.seconds,
        "<=",
        15,
        "s",
      ),
      goal(
        "cleanup-p99",
        "hello p99 during cleanup / idle p99 at the same rate",
        percent(results.cleanup.during.p99, results.cleanup.idle.p99),
        "<=",
        150,
        "%",
        "hello p99 without cleanup",
      ),
    );
  }
  const upload = (id: string) => results.uploads.find((entry) => entry.id === id);
  const streamed = upload("streamed");
  const base = upload("baseline");
  if (streamed && base) {
    list.push(
      goal("upload-mibs", "streamed upload", streamed.median, ">=", 200, "MiB/s"),
      goal(
        "upload-vs-baseline",
        "streamed upload / sha256sum + cp + sync",
        percent(streamed.median, base.median),
        ">=",
        50,
        "%",
        "sha256sum + cp + sync",
      ),
      goal(
        "upload-rss",
        "function server peak RSS growth during an upload",
        Math.max(...results.uploads.map((entry) => entry.rssGrowthMiB ?? 0)),
        "<=",
        64,
        "MiB",
      ),
    );
  }
  if (results.coldStart.runsMs.length > 0) {
    list.push(goal(
      "cold-start",
      "cold start: process spawn to first 200 hello",
      results.coldStart.medianMs,
      "<=",
      100,
      "ms",
    ));
  }
  return list;
}

/** Machine and server facts. */
async function describeMachine(stack: Stack): Promise<Machine> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const sql = adminClient(stack.state.databaseUrl);
  try {
    const [settings] = await sql<[{ version: string; fsync: string; commit: string }]>`
      select version(), current_setting('fsync') as fsync,
        current_setting('synchronous_commit') as commit
    `;
    return {
      cpus: navigator.hardwareConcurrency,
      cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? "unknown CPU",
      memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30 * 10) / 10,
      kernel: `${Deno.build.os} ${Deno.osRelease()}`,
      postgres: settings.version.split(" on ")[0]!,
      pgbouncer: await commandOutput("sh", ["-c", "/usr/sbin/pgbouncer --version | head -1"]),
      deno: `Deno ${Deno.version.deno}`,
      durable: settings.fsync === "on" && settings.commit === "on",
    };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function commandOutput(command: string, args: string[]): Promise<string> {
  try {
    const output = await new Deno.Command(command, { args, cwd: ROOT, stderr: "null" }).output();
    return output.success ? new TextDecoder().decode(output.stdout).trim() : "";
  } catch {
    return "";
  }
}

async function commit(): Promise<string> {
  const head = await commandOutput("git", ["rev-parse", "--short", "HEAD"]);
  if (!head) return "";
  const dirty = await commandOutput("git", ["status", "--porcelain", "--untracked-files=no"]);
  return dirty ? `${head}-dirty` : head;
}

function commandLine(): string {
  const args: string[] = [];
  if (values.seconds !== "10") args.push("--seconds", values.seconds);
  if (values.runs !== "3") args.push("--runs", values.runs);
  if (values.connections !== "32") args.push("--connections", values.connections);
  if (values["cleanup-rows"] !== "1000000") args.push("--cleanup-rows", values["cleanup-rows"]);
  if (values["upload-mib"] !== "100") args.push("--upload-mib", values["upload-mib"]);
  if (values.only) args.push("--only", values.only);
  return ["deno task bench", ...args].join(" ");
}

/** The one table printed at the end. */
function summaryTable(results: BenchResults): string {
  const rows: string[][] = [];
  const ms = (value: number) => Number.isFinite(value) ? value.toFixed(2) : "-";
  for (const mode of results.throughput) {
    rows.push([
      mode.label,
      `${mode.median.toFixed(0)}/s`,
      ms(mode.latency.p50),
      ms(mode.latency.p99),
      String(mode.errors),
    ]);
  }
  for (const run of results.fixedRate) {
    rows.push([
      `${run.label} (${run.targetRate}/s)`,
      `${run.achievedRate.toFixed(0)}/s`,
      ms(run.latency.p50),
      ms(run.latency.p99),
      String(run.errors),
    ]);
  }
  if (results.cleanup.expiredRows > 0) {
    rows.push([
      `hello during cleanup of ${results.cleanup.expiredRows} rows (${
        results.cleanup.seconds.toFixed(1)
      } s)`,
      `${results.cleanup.helloRate}/s`,
      ms(results.cleanup.during.p50),
      ms(results.cleanup.during.p99),
      String(results.cleanup.errors),
    ]);
  }
  for (const upload of results.uploads) {
    rows.push([upload.label, `${upload.median.toFixed(0)} MiB/s`, "-", "-", "0"]);
  }
  if (results.coldStart.runsMs.length > 0) {
    rows.push(["cold start to first 200 hello", "-", ms(results.coldStart.medianMs), "-", "0"]);
    if (results.coldStart.bareMedianMs !== undefined) {
      rows.push([
        "bare Deno.serve, spawn to first 200",
        "-",
        ms(results.coldStart.bareMedianMs),
        "-",
        "0",
      ]);
    }
  }
  const goalRows = results.goals.map((entry) => [
    entry.label,
    `${entry.measured.toFixed(entry.unit === "requests" ? 0 : 1)} ${entry.unit}`,
    `${entry.comparison} ${entry.target} ${entry.unit}`,
    entry.met ? "met" : "NOT met",
  ]);
  return [
    "",
    table(["mode", "median", "p50 ms", "p99 ms", "errors"], rows),
    "",
    table(["goal", "measured", "target", ""], goalRows),
  ].join("\n");
}
