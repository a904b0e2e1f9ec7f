/**
 * `deno task bench:hello`: end-to-end hello throughput and latency, next to pgbench running the
 * same SQL hello call at the same concurrency, in the same run, on a private durable stack
 * (temporary folder, free ports, always torn down).
 *
 * Modes, run interleaved `--runs` times each for `--seconds`:
 * - HTTP HS256: `--connections` concurrent clients POSTing hellos with HS256 tokens to the local
 *   function server (real HTTP over loopback, through PgBouncer to PostgreSQL);
 * - HTTP ES256: the same with ES256 tokens;
 * - pgbench: `select * from mcp_private.hello(...)` with as many clients, through PgBouncer.
 * Rate limits are raised for the run (the success path is what is measured); 1000 users, each
 * with one token per algorithm, reused round-robin as reconnecting clients reuse theirs.
 *
 * Also: time from starting the function server process to its first 200 hello (median of 3).
 *
 * Reports median TPS, p50 and p99 latency per mode, and the goals: HS256 end-to-end ≥ 50% of
 * pgbench's TPS with p99 ≤ 25 ms; ES256 ≥ 80% of HS256. Exits 0 whether or not the goals are
 * met; non-zero only on errors.
 *
 * Options: --seconds <n> (default 10), --runs <n> (default 3), --connections <n> (default 32),
 * --fast-db (fsync and synchronous_commit off: shows what is left when commits do not wait for
 * the disk).
 */

import { SignJWT } from "jose";
import { join } from "node:path";
import { median, percentile, positiveInteger, runPgbench, table } from "./lib/bench.ts";
import { fail, parseCommandLine, usageError } from "./lib/cli.ts";
import { adminClient } from "./lib/database.ts";
import { es256SigningKey } from "./lib/keys.ts";
import { freePort } from "./lib/ports.ts";
import { functionEnvironment, type Stack, startFunctionServer, startStack } from "./lib/stack.ts";

const USAGE = `Usage: deno task bench:hello [--seconds 10] [--runs 3] [--connections 32] [--fast-db]

End-to-end hello throughput and latency (HTTP with HS256 and ES256 tokens, through PgBouncer),
next to pgbench running the same SQL hello, on a private durable stack (a temporary folder on
free ports, always torn down). Needs wrk (installed with apt-get when run as root). See
docs/benchmarks.md.

Options:
  --seconds <n>       length of each run (default 10)
  --runs <n>          runs per mode, interleaved (default 3)
  --connections <n>   concurrent clients (default 32)
  --fast-db           fsync and synchronous_commit off
  -h, --help          print this help and exit`;

const { values } = parseCommandLine(USAGE, {
  options: {
    seconds: { type: "string", default: "10" },
    "fast-db": { type: "boolean", default: false },
    runs: { type: "string", default: "3" },
    connections: { type: "string", default: "32" },
  },
});
const options = (() => {
  try {
    return {
      seconds: positiveInteger("--seconds", values.seconds),
      runs: positiveInteger("--runs", values.runs),
      connections: positiveInteger("--connections", values.connections),
      fastDb: values["fast-db"],
    };
  } catch (error) {
    return usageError(USAGE, error instanceof Error ? error.message : String(error));
  }
})();
const USERS = 1000;

interface ModeResult {
  tps: number;
  p50: number;
  p99: number;
  errors: number;
}

await ensureWrk().catch(fail);
const dir = await Deno.makeTempDir({ prefix: "mcp-auth-bench-hello-" });
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

try {
  stack = await startStack({
    dir,
    ports: { api: freePort(), database: freePort(), pooler: freePort() },
    // Durable (fsync on) unless --fast-db: then commits do not wait for the disk.
    ephemeral: options.fastDb,
    // The load comes from one address; X-Forwarded-For gives each user its own client IP, as
    // real clients have (one IP for all would serialise every hello on one rate-limit row).
    // One local process stands for the many instances a hosted function would run, so it gets
    // the connections of several (the default is 4 per instance).
    functionEnv: { MCP_TRUSTED_PROXIES: "1", MCP_DB_POOL_SIZE: "16" },
    log: (message) => console.error(`[stack] ${message}`),
    envFile: null,
  });
  const users = await setUp(stack);
  const tokens = {
    HS256: await Promise.all(users.map((user) => signToken(stack!, user, "HS256"))),
    ES256: await Promise.all(users.map((user) => signToken(stack!, user, "ES256"))),
  };
  const url = `${stack.state.functionsUrl}/hello`;

  console.error(`[bench] warm-up`);
  await httpLoad(url, tokens.HS256, 2, options.connections);
  await httpLoad(url, tokens.ES256, 2, options.connections);

  const results: Record<"HS256" | "ES256" | "pgbench", ModeResult[]> = {
    HS256: [],
    ES256: [],
    pgbench: [],
  };
  for (let run = 1; run <= options.runs; run++) {
    console.error(`[bench] run ${run}/${options.runs}`);
    results.HS256.push(await httpLoad(url, tokens.HS256, options.seconds, options.connections));
    results.ES256.push(await httpLoad(url, tokens.ES256, options.seconds, options.connections));
    const pg = await runPgbench({
      name: "hello",
      sql: helloScriptSql(),
      seconds: options.seconds,
      clients: options.connections,
      threads: 2,
      port: stack.state.ports.pooler,
      logDir: join(dir, `pgbench-${run}`),
    });
    const sorted = Float64Array.from(pg.latenciesMs).sort();
    results.pgbench.push({
      tps: pg.tps,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      errors: pg.failed,
    });
  }
  const startup = await measureStartup(stack, tokens.HS256[0]!);
  await report(results, startup);
} catch (error) {
  console.error(error instanceof Error ? error.stack ?? error.message : error);
  await teardown();
  Deno.exit(1);
}
await teardown();

/** wrk, the load generator: installed from Debian's packages when missing and we are root. */
async function ensureWrk(): Promise<void> {
  const found = await new Deno.Command("sh", { args: ["-c", "command -v wrk"], stdout: "null" })
    .output();
  if (found.success) return;
  if (Deno.uid() !== 0) {
    throw new Error("bench:hello needs wrk: install it with  sudo apt-get install wrk");
  }
  console.error("[bench] Installing wrk with apt-get...");
  const installed = await new Deno.Command("apt-get", {
    // Wait for a dpkg lock another apt-get holds, as scripts/setup.sh does.
    args: ["-o", "DPkg::Lock::Timeout=300", "install", "-y", "-qq", "wrk"],
    env: { DEBIAN_FRONTEND: "noninteractive" },
  }).output();
  if (!installed.success) throw new Error("apt-get install wrk failed.");
}

/** Bench users with live auth sessions; rate limits raised out of the way. */
async function setUp(stack: Stack): Promise<{ userId: string; sessionId: string }[]> {
  const sql = adminClient(stack.state.databaseUrl);
  try {
    await sql.unsafe(`
      update mcp_private.rate_limit_policies set max_requests = 10000000;
      insert into auth.users (id, email, aud, role, created_at, updated_at)
      select ${userIdSql("n")}, 'bench-' || n || '@bench.example', 'authenticated', 'authenticated',
             now(), now()
      from generate_series(1, ${USERS}) n;
      insert into auth.sessions (id, user_id, created_at, updated_at, aal)
      select ${sessionIdSql("n")}, ${userIdSql("n")}, now(), now(), 'aal1'
      from generate_series(1, ${USERS}) n;
    `);
    const rows = await sql<{ user_id: string; session_id: string }[]>`
      select ${sql.unsafe(userIdSql("n"))} as user_id, ${
      sql.unsafe(sessionIdSql("n"))
    } as session_id
      from generate_series(1, ${USERS}) n order by n
    `;
    return rows.map((row) => ({ userId: row.user_id, sessionId: row.session_id }));
  } finally {
    await sql.end({ timeout: 5 });
  }
}

function userIdSql(n: string): string {
  return `('00000000-0000-4000-8000-' || lpad(to_hex(${n}), 12, '0'))::uuid`;
}

function sessionIdSql(n: string): string {
  return `('00000000-0000-4000-9000-' || lpad(to_hex(${n}), 12, '0'))::uuid`;
}

function helloScriptSql(): string {
  // Extended protocol sends :n as a parameter of unknown type: cast it.
  const n = "(:n)::int";
  return [
    `\\set n random(1, ${USERS})`,
    `select ok from mcp_private.hello(${userIdSql(n)}, ${sessionIdSql(n)}, ` +
    `('10.1.' || ${n} / 256 || '.' || ${n} % 256)::inet);`,
    "",
  ].join("\n");
}

async function signToken(
  stack: Stack,
  user: { userId: string; sessionId: string },
  alg: "HS256" | "ES256",
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({
    role: "authenticated",
    session_id: user.sessionId,
    email: `${user.userId}@bench.example`,
    is_anonymous: false,
    aal: "aal1",
  })
    .setSubject(user.userId)
    .setIssuer(`${stack.state.apiUrl}/auth/v1`)
    .setAudience("authenticated")
    .setIssuedAt(now)
    .setExpirationTime(now + 3600);
  return alg === "HS256"
    ? await jwt.setProtectedHeader({ alg, typ: "JWT" })
      .sign(new TextEncoder().encode(stack.keys.hs256Secret))
    : await jwt.setProtectedHeader({ alg, typ: "JWT", kid: stack.keys.es256.kid! })
      .sign(await es256SigningKey(stack.keys));
}

/**
 * `connections` clients POSTing hellos for `seconds`, with wrk (a C load generator, so the
 * client costs about as little CPU as pgbench does on the other side of the comparison).
 */
async function httpLoad(
  url: string,
  tokens: string[],
  seconds: number,
  connections: number,
): Promise<ModeResult> {
  const tokensFile = join(dir, `tokens-${tokens.length}-${tokens[0]!.slice(-8)}.txt`);
  await Deno.writeTextFile(tokensFile, tokens.join("\n") + "\n");
  const script = join(dir, "hello.lua");
  await Deno.writeTextFile(
    script,
    `local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
local i = math.random(#tokens)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #tokens + 1
  -- User i comes from 10.1.x.y, as in the pgbench script: one client IP per user.
  local ip = "10.1." .. math.floor(i / 256) .. "." .. (i % 256)
  return wrk.format(nil, nil, { ["Content-Type"] = "application/json", ["X-Forwarded-For"] = ip },
    '{"op":"hello","token":"' .. tokens[i] .. '"}')
end
`,
  );
  const output = await new Deno.Command("wrk", {
    args: ["-t2", `-c${connections}`, `-d${seconds}s`, "--latency", "-s", script, url],
    env: { TOKENS_FILE: tokensFile },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(`wrk failed:\n${text}\n${new TextDecoder().decode(output.stderr)}`);
  }
  const ms = (label: string) => {
    const match = new RegExp(`^\\s+${label}%\\s+([\\d.]+)(us|ms|s)$`, "m").exec(text);
    if (!match) return NaN;
    const value = Number(match[1]);
    return match[2] === "us" ? value / 1000 : match[2] === "s" ? value * 1000 : value;
  };
  const total = /(\d+) requests in ([\d.]+)(ms|s)/.exec(text);
  const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0) +
    Number(/Socket errors: connect (\d+)/.exec(text)?.[1] ?? 0);
  if (!total) throw new Error(`Cannot read wrk's output:\n${text}`);
  const duration = Number(total[2]) / (total[3] === "ms" ? 1000 : 1);
  // Only 200s count as throughput.
  const tps = (Number(total[1]) - errors) / duration;
  if (errors > 0) console.error(`[bench] ${errors} hellos were not answered 200`);
  return { tps, p50: ms("50"), p99: ms("99"), errors };
}

/** Time from spawning a function server process to its first 200 hello, three times. */
async function measureStartup(stack: Stack, token: string): Promise<number[]> {
  const env = {
    ...await functionEnvironment(stack.state.apiUrl, stack.state.edgeDatabaseUrl, stack.keys),
    MCP_TRUSTED_PROXIES: "1",
  };
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const port = freePort();
    const started = performance.now();
    const server = await startFunctionServer(port, env, join(dir, `startup-${i}.log`));
    try {
      while (true) {
        if (performance.now() - started > 60_000) throw new Error("No 200 within 60 s.");
        try {
          const response = await fetch(`http://127.0.0.1:${port}/functions/v1/hello`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: `{"op":"hello","token":"${token}"}`,
          });
          await response.arrayBuffer();
          if (response.status === 200) break;
        } catch {
          // not listening yet
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      times.push(performance.now() - started);
    } finally {
      await server.stop();
    }
  }
  return times;
}

async function report(results: Record<string, ModeResult[]>, startup: number[]) {
  // Per mode: the median over runs of TPS, p50 and p99.
  const summary = (runs: ModeResult[]) => {
    return {
      tps: median(runs.map((run) => run.tps)),
      p50: median(runs.map((run) => run.p50)),
      p99: median(runs.map((run) => run.p99)),
      errors: runs.reduce((sum, run) => sum + run.errors, 0),
      runs: runs.map((run) => run.tps.toFixed(0)).join(" / "),
    };
  };
  const hs = summary(results.HS256!);
  const es = summary(results.ES256!);
  const pg = summary(results.pgbench!);
  const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1];
  console.log(`# hello benchmark

Command: deno task bench:hello --seconds ${options.seconds} --runs ${options.runs} --connections ${options.connections}${
    options.fastDb ? " --fast-db" : ""
  }
Database: ${options.fastDb ? "fsync and synchronous_commit off" : "durable (fsync on)"}
Machine: ${navigator.hardwareConcurrency} cores (${cpu ?? "unknown CPU"}), ${
    (Deno.systemMemoryInfo().total / 2 ** 30).toFixed(0)
  } GiB; client, function server, PgBouncer and PostgreSQL share it.
Concurrency: ${options.connections}; ${options.runs} interleaved runs of ${options.seconds} s per mode.

${
    table(["mode", "median TPS", "runs (TPS)", "p50 ms", "p99 ms", "errors"], [
      [
        "HTTP hello, HS256",
        hs.tps.toFixed(0),
        hs.runs,
        hs.p50.toFixed(2),
        hs.p99.toFixed(2),
        String(hs.errors),
      ],
      [
        "HTTP hello, ES256",
        es.tps.toFixed(0),
        es.runs,
        es.p50.toFixed(2),
        es.p99.toFixed(2),
        String(es.errors),
      ],
      [
        "pgbench, SQL hello",
        pg.tps.toFixed(0),
        pg.runs,
        pg.p50.toFixed(2),
        pg.p99.toFixed(2),
        String(pg.errors),
      ],
    ])
  }

Goals:
- HS256 end-to-end / pgbench TPS: ${(100 * hs.tps / pg.tps).toFixed(0)}% (goal ≥ 50%): ${
    hs.tps / pg.tps >= 0.5 ? "met" : "NOT met"
  }
- HS256 p99: ${hs.p99.toFixed(1)} ms (goal ≤ 25 ms): ${hs.p99 <= 25 ? "met" : "NOT met"}
- ES256 / HS256 TPS: ${(100 * es.tps / hs.tps).toFixed(0)}% (goal ≥ 80%): ${
    es.tps / hs.tps >= 0.8 ? "met" : "NOT met"
  }

Function server start to first 200 hello: median ${median(startup).toFixed(0)} ms (${
    startup.map((t) => t.toFixed(0)).join(", ")
  } ms).`);
}
