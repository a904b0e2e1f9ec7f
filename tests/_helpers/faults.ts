/**
 * Fixtures of the fault suite (tests/fault_test.ts, docs/reliability.md): a private stack whose
 * real services the test stops, kills and starts again; concurrent hello clients that record
 * every answer; and a look at the Storage service's folder.
 *
 * @module
 */

import { join } from "node:path";
import type { Sql } from "postgres";
import { adminClient } from "../../scripts/lib/database.ts";
import { freePort } from "../../scripts/lib/ports.ts";
import { type Stack, startStack } from "../../scripts/lib/stack.ts";
import { mintAccessToken } from "../../scripts/lib/tokens.ts";

/** Starts a private, throw-away stack for the fault suite; `fn` runs with it, then it stops. */
export async function withFaultStack(fn: (stack: Stack) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mcp-auth-faults-" });
  let stack: Stack | undefined;
  try {
    stack = await startStack({
      dir,
      ports: { api: freePort(), database: freePort(), pooler: freePort() },
      ephemeral: true,
      envFile: null,
      // One trusted proxy: each client chooses its address with X-Forwarded-For.
      functionEnv: { MCP_TRUSTED_PROXIES: "1" },
    });
    await fn(stack);
  } catch (error) {
    // What the services said is the first thing to read when a fault test fails.
    for (const name of ["functions", "pgbouncer", "storage"]) {
      const log = await Deno.readTextFile(join(dir, "logs", `${name}.log`)).catch(() => "");
      console.error(`--- last lines of ${name}.log ---\n${log.split("\n").slice(-25).join("\n")}`);
    }
    throw error;
  } finally {
    await stack?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Runs `fn` with a fresh direct connection to the stack's database, as `postgres`. */
export async function withSql<T>(stack: Stack, fn: (sql: Sql) => Promise<T>): Promise<T> {
  const sql = adminClient(stack.state.databaseUrl);
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** A fresh user with a live sign-in and its access token. */
export interface FaultUser {
  userId: string;
  email: string;
  token: string;
  ip: string;
}

/** Creates `count` users, each with an `auth.sessions` row and an access token signed `alg`. */
export async function createFaultUsers(
  stack: Stack,
  count: number,
  algorithm: "HS256" | "ES256",
): Promise<FaultUser[]> {
  return await withSql(stack, async (sql) => {
    const users: FaultUser[] = [];
    for (let i = 0; i < count; i++) {
      const userId = crypto.randomUUID();
      const email = `fault-${userId}@test.example`;
      await sql`
        insert into auth.users (id, email, aud, role, created_at, updated_at)
        values (${userId}, ${email}, 'authenticated', 'authenticated', now(), now())
      `;
      const { token } = await mintAccessToken(sql, stack.keys, {
        email,
        apiUrl: stack.state.apiUrl,
        algorithm,
      });
      users.push({ userId, email, token, ip: `198.18.${i >> 8}.${(i & 255) + 1}` });
    }
    return users;
  });
}

/** One hello answer as a load client saw it. */
export interface HelloOutcome {
  /** HTTP status; 0 when no answer came (network error, or no answer within the bound). */
  status: number;
  error: string | null;
  retryAfter: string | null;
  sessionId: string | null;
  /** `performance.now()` when the request was sent and when its answer was read. */
  started: number;
  ended: number;
  failure?: string;
}

/** Concurrent clients saying hello over HTTP until {@linkcode HelloLoad.stop}. */
export interface HelloLoad {
  readonly outcomes: HelloOutcome[];
  /** Stops the clients and resolves once every request in flight has its answer. */
  stop(): Promise<void>;
  /** Resolves with the first 200 answered after `since`, or null after `timeoutMs`. */
  firstSuccessAfter(since: number, timeoutMs: number): Promise<HelloOutcome | null>;
}

/**
 * One client per user, each saying hello (`POST /functions/v1/hello`) from its own address,
 * every `pauseMs` after its previous answer; a request without an answer within `boundMs` is
 * aborted and recorded as status 0.
 */
export function startHelloLoad(
  stack: Stack,
  users: FaultUser[],
  options: { boundMs: number; pauseMs: number },
): HelloLoad {
  const outcomes: HelloOutcome[] = [];
  let running = true;
  const url = `${stack.state.functionsUrl}/hello`;
  const client = async (user: FaultUser) => {
    while (running) {
      const started = performance.now();
      try {
        const response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json", "x-forwarded-for": user.ip },
          body: JSON.stringify({ op: "hello", token: user.token }),
          signal: AbortSignal.timeout(options.boundMs),
        });
        const text = await response.text();
        let body: { error?: string; session?: { id?: string } } = {};
        try {
          body = JSON.parse(text);
        } catch {
          // Recorded with a null error: not the documented shape.
        }
        outcomes.push({
          status: response.status,
          error: body.error ?? null,
          retryAfter: response.headers.get("retry-after"),
          sessionId: body.session?.id ?? null,
          started,
          ended: performance.now(),
        });
      } catch (error) {
        outcomes.push({
          status: 0,
          error: null,
          retryAfter: null,
          sessionId: null,
          started,
          ended: performance.now(),
          failure: String(error),
        });
      }
      await sleep(options.pauseMs);
    }
  };
  const clients = Promise.all(users.map(client));
  return {
    outcomes,
    async stop() {
      running = false;
      await clients;
    },
    async firstSuccessAfter(since, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      while (true) {
        const found = outcomes.find((o) => o.status === 200 && o.ended >= since);
        if (found) return found;
        if (performance.now() > deadline) return null;
        await sleep(10);
      }
    },
  };
}

/** Every file under `dir` (relative paths), sorted; none when it does not exist. */
export async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (relative: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(join(dir, relative)));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (const entry of entries) {
      const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else found.push(path);
    }
  };
  await walk("");
  return found.sort();
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 20 ms until it is true; false after `timeoutMs`. */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check().catch(() => false)) return true;
    await sleep(20);
  }
  return await check().catch(() => false);
}
