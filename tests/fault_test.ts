// The fault suite (docs/reliability.md): real services of a private stack stopped, killed and
// restarted under load. The database stopped for 3 s and PgBouncer restarted while 16 clients
// keep saying hello: every answer is a 200 or a 503 `unavailable` with Retry-After, none hangs,
// every acknowledged session is in the database afterwards, and the function server, never
// restarted, answers 200 again within 5 s. Storage SIGKILLed while an upload's bytes flow: a 503,
// no row, no object and no file left, and the next upload succeeds. And the JWKS endpoint down
// for longer than the keys' max age (unit level, a real HTTP endpoint, a controlled clock).
import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort } from "../scripts/lib/ports.ts";
import type { Stack, StackService } from "../scripts/lib/stack.ts";
import { tail } from "../scripts/lib/process.ts";
import { API_ERRORS } from "../supabase/functions/_shared/api_error.ts";
import { AuthError, JwksKeySource, JwtVerifier } from "../supabase/functions/_shared/jwt.ts";
import {
  createFaultUsers,
  eventually,
  filesUnder,
  type HelloOutcome,
  sleep,
  startHelloLoad,
  withFaultStack,
  withSql,
} from "./_helpers/faults.ts";
import { accessClaims, createTestKeys, sign } from "./_helpers/tokens.ts";
import { randomBytes } from "./_helpers/uploads.ts";

/** No hello may take longer than this, outage or not (the query bound is 5 s). */
const HELLO_BOUND_MS = 8_000;
/** The function server must answer 200 again within this of the service being back. */
const RECOVERY_BOUND_MS = 5_000;
const CLIENTS = 16;

/** Measured recovery times, printed at the end. */
const measured: string[] = [];

Deno.test({
  name: "faults: the database, PgBouncer and Storage fail under load; the functions recover",
  // Child processes and their pipes belong to the stack, which the test stops itself.
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  await withFaultStack(async (stack) => {
    const functionsPid = stack.processes.find((p) => p.name === "functions")!.pid;
    await withSql(stack, (sql) =>
      // Load, not limits, is under test: no client may be refused for its rate.
      sql`update mcp_private.rate_limit_policies set max_requests = 1000000
          where name in ('hello_user', 'hello_ip', 'auth_failure_ip')`);
    const users = await createFaultUsers(stack, CLIENTS, "HS256");

    try {
      await t.step("the database stopped for 3 s under 16 concurrent hello clients", async () => {
        await outage(stack, users, "postgres", 3_000);
      });
      await t.step("PgBouncer restarted under 16 concurrent hello clients", async () => {
        await outage(stack, users, "pgbouncer", 1_000);
      });
      await t.step("Storage SIGKILLed while an upload streams: a 503, nothing left", async () => {
        await storageKilledMidUpload(stack);
      });
    } catch (error) {
      for (const name of ["functions", "pgbouncer", "storage"]) {
        console.error(
          `--- ${name}.log ---\n${await tail(join(stack.state.logsDir, `${name}.log`))}`,
        );
      }
      throw error;
    }
    const functions = stack.processes.find((p) => p.name === "functions")!;
    assert.equal(functions.pid, functionsPid, "the function server was never restarted");
    assert.equal(functions.hasExited(), false);
  });
  console.log(measured.join("\n"));
});

/**
 * Takes `service` away for `downMs` while the clients say hello, brings it back, and checks
 * every answer, the sessions and the recovery time.
 */
async function outage(
  stack: Stack,
  users: Awaited<ReturnType<typeof createFaultUsers>>,
  service: StackService,
  downMs: number,
): Promise<void> {
  const load = startHelloLoad(stack, users, { boundMs: HELLO_BOUND_MS, pauseMs: 20 });
  let recovery: HelloOutcome | null = null;
  let back = 0;
  let down = 0;
  try {
    // Healthy first: the clients are acknowledged before anything fails.
    assert.ok(await load.firstSuccessAfter(performance.now(), 10_000), "a hello before the fault");
    await sleep(500);
    await stack.stopService(service);
    down = performance.now();
    await sleep(downMs);
    await stack.startService(service);
    back = performance.now();
    recovery = await load.firstSuccessAfter(back, RECOVERY_BOUND_MS);
    // A little more load on the recovered stack.
    await sleep(500);
  } finally {
    await load.stop();
  }
  const outcomes = load.outcomes;
  const counts = new Map<string, number>();
  for (const o of outcomes) {
    const key = `${o.status}${o.error ? ` ${o.error}` : ""}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const summary = [...counts].map(([key, n]) => `${key}: ${n}`).join(", ");

  const wrong = outcomes.filter((o) =>
    !(o.status === 200 && o.sessionId !== null) &&
    !(o.status === 503 && o.error === "unavailable" && o.retryAfter !== null)
  );
  assert.deepEqual(
    wrong.slice(0, 5).map((o) => ({ status: o.status, error: o.error, failure: o.failure })),
    [],
    `every answer is a 200 or a 503 unavailable with Retry-After (${summary})`,
  );
  const slowest = Math.max(...outcomes.map((o) => o.ended - o.started));
  assert.ok(slowest < HELLO_BOUND_MS, `the slowest hello took ${slowest.toFixed(0)} ms`);
  // The load met the outage: requests were in flight while the service was away (answered
  // with a 503, or held by PgBouncer until the database was back and then answered 200).
  const during = outcomes.filter((o) => o.ended >= down && o.started <= back);
  assert.ok(during.length >= CLIENTS, `the clients met the outage (${summary})`);

  const acknowledged = outcomes.flatMap((o) => o.sessionId === null ? [] : [o.sessionId]);
  const missing = await withSql(stack, async (sql) => {
    const found = await sql<{ id: string }[]>`
      select id from public.mcp_sessions where id = any(${acknowledged}::uuid[])
    `;
    const ids = new Set(found.map((row) => row.id));
    return acknowledged.filter((id) => !ids.has(id));
  });
  assert.deepEqual(missing, [], `all ${acknowledged.length} acknowledged sessions exist`);

  assert.ok(
    recovery,
    `a 200 hello within ${RECOVERY_BOUND_MS} ms of ${service} accepting connections again`,
  );
  const recoveryMs = recovery.ended - back;
  measured.push(
    `[faults] ${service}: down ${(back - down).toFixed(0)} ms (restart included); ` +
      `first 200 hello ${recoveryMs.toFixed(0)} ms after it accepted connections again; ` +
      `slowest hello ${slowest.toFixed(0)} ms; ${during.length} hellos met the outage; ` +
      `${outcomes.length} hellos in all (${summary})`,
  );
}

/** Storage SIGKILLed while the body of `PUT /uploads/content` streams through the function. */
async function storageKilledMidUpload(stack: Stack): Promise<void> {
  const [user] = await createFaultUsers(stack, 1, "ES256");
  const storageDir = join(stack.state.dir, "storage");
  const before = await filesUnder(storageDir);
  const url = `${stack.state.functionsUrl}/uploads/content?provider=kimi&filename=killed.bin`;

  // A body this test feeds: 1 MiB at once, then 64 KiB every 20 ms, up to 16 MiB, so bytes are
  // still flowing when Storage dies.
  const chunk = 64 * 1024;
  const total = 16 * 1024 * 1024;
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent >= total) {
        controller.close();
        return;
      }
      if (sent >= 1024 * 1024) await sleep(20);
      controller.enqueue(randomBytes(chunk));
      sent += chunk;
    },
  });
  const started = performance.now();
  const answer = fetch(url, {
    method: "PUT",
    headers: {
      authorization: `Bearer ${user!.token}`,
      "content-type": "application/octet-stream",
    },
    body,
    signal: AbortSignal.timeout(20_000),
  }).then(async (response) => ({
    status: response.status,
    retryAfter: response.headers.get("retry-after"),
    body: await response.json().catch(() => null),
  }));
  answer.catch(() => {});

  // Storage is receiving: its temporary file for this upload exists and grows.
  const tmp = join(storageDir, ".tmp");
  assert.ok(
    await eventually(async () => {
      for (const name of await filesUnder(tmp)) {
        if ((await Deno.stat(join(tmp, name))).size > 256 * 1024) return true;
      }
      return false;
    }, 10_000),
    "Storage receives the upload's bytes",
  );
  const sentAtKill = sent;
  await stack.stopService("storage", { signal: "SIGKILL" });
  const killed = performance.now();

  const result = await answer;
  const answeredMs = performance.now() - killed;
  assert.ok(sentAtKill < total, "the body was still streaming when Storage died");
  assert.equal(result.status, 503, JSON.stringify(result.body));
  assert.equal(result.body?.error, "unavailable");
  assert.equal(result.retryAfter, "5");
  assert.ok(answeredMs < 10_000, `answered ${answeredMs.toFixed(0)} ms after the kill`);

  const rows = () =>
    withSql(stack, (sql) =>
      sql<{ status: string }[]>`
        select status from public.file_uploads where user_id = ${user!.userId}
      `);
  assert.deepEqual([...await rows()], [], "no file_uploads row for the failed upload");

  await stack.startService("storage");
  const restarted = performance.now();
  // Storage empties its temporary folder when it starts.
  assert.ok(
    await eventually(async () => (await filesUnder(tmp)).length === 0, 5_000),
    "no temporary file left once Storage is back",
  );
  assert.deepEqual(await filesUnder(storageDir), before, "no file left for the upload");
  const objects = await withSql(stack, (sql) =>
    sql<{ name: string }[]>`
      select name from storage.objects where name like ${user!.userId + "/%"}
    `);
  assert.deepEqual([...objects], [], "no storage.objects row for the upload");

  // A fresh upload succeeds on the restarted Storage.
  const bytes = randomBytes(512 * 1024);
  const fresh = await fetch(url.replace("killed.bin", "fresh.bin"), {
    method: "PUT",
    headers: {
      authorization: `Bearer ${user!.token}`,
      "content-type": "application/octet-stream",
    },
    body: bytes,
    signal: AbortSignal.timeout(20_000),
  });
  const freshBody = await fresh.json();
  assert.equal(fresh.status, 201, JSON.stringify(freshBody));
  assert.equal(freshBody.upload.status, "stored");
  assert.equal(freshBody.upload.size_bytes, bytes.length);
  assert.deepEqual([...await rows()].map((row) => row.status), ["stored"]);
  measured.push(
    `[faults] storage: SIGKILLed after ${(sentAtKill / 1048576).toFixed(1)} MiB of ` +
      `${(total / 1048576).toFixed(0)} MiB (upload began ${(killed - started).toFixed(0)} ms ` +
      `earlier); the client had its 503 ${answeredMs.toFixed(0)} ms after the kill; a fresh ` +
      `upload stored ${(performance.now() - restarted).toFixed(0)} ms after Storage restarted`,
  );
}

Deno.test("faults: the JWKS endpoint down past the keys' max age and past stale-if-error", async () => {
  const keys = await createTestKeys();
  const issuer = "https://project.example/auth/v1";
  const port = freePort();
  let served = 0;
  const serve = () =>
    Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, () => {
      served++;
      return Response.json(keys.jwks);
    });
  let endpoint = serve();
  const MAX_AGE = 10 * 60_000;
  const STALE_IF_ERROR = 24 * 3_600_000;
  const COOLDOWN = 30_000;
  let clock = Date.now();
  const fetches: string[] = [];
  const source = new JwksKeySource({
    url: new URL(`http://127.0.0.1:${port}/auth/v1/.well-known/jwks.json`),
    maxAgeMs: MAX_AGE,
    staleIfErrorMs: STALE_IF_ERROR,
    cooldownMs: COOLDOWN,
    now: () => clock,
    fetch: async (input, init) => {
      try {
        const response = await fetch(input, init);
        fetches.push(`HTTP ${response.status}`);
        return response;
      } catch (error) {
        fetches.push("refused");
        throw error;
      }
    },
  });
  const verifier = new JwtVerifier({
    issuer,
    audience: "authenticated",
    algorithms: ["ES256", "RS256"],
    keys: source,
    // Every token below is new anyway; no cache, so every check asks the key source.
    cacheEntries: 0,
    now: () => clock,
  });
  let n = 0;
  const token = (alg: "ES256" | "RS256" | "stranger") => {
    const now = Math.floor(clock / 1000);
    const claims = accessClaims(issuer, crypto.randomUUID(), crypto.randomUUID(), {
      iat: now,
      exp: now + 3600,
      n: n++,
    });
    return sign(keys, claims, alg);
  };
  /** verify() either succeeds or throws an AuthError with a 401 code: never anything else. */
  const outcome = async (alg: "ES256" | "RS256" | "stranger"): Promise<string> => {
    try {
      await verifier.verify(await token(alg));
      return "ok";
    } catch (error) {
      assert.ok(error instanceof AuthError, `not an AuthError: ${error}`);
      assert.equal(API_ERRORS[error.code], 401);
      return `${error.code}: ${error.message}`;
    }
  };
  const unknownKey = "invalid_token: The token was signed with a key this project does not know.";

  try {
    const start = clock;
    assert.equal(await outcome("ES256"), "ok");
    assert.deepEqual(fetches, ["HTTP 200"]);
    await endpoint.shutdown();

    // Past the max age, the endpoint refuses connections: a refresh is tried, the keys stay.
    clock = start + MAX_AGE + 60_000;
    assert.equal(await outcome("ES256"), "ok");
    assert.equal(await outcome("RS256"), "ok");
    assert.deepEqual(fetches, ["HTTP 200", "refused"], "one refresh, then the cooldown holds");
    // An unknown kid is a 401, within the cooldown without a fetch, after it with one.
    assert.equal(await outcome("stranger"), unknownKey);
    assert.equal(fetches.length, 2);
    clock += COOLDOWN + 1_000;
    assert.equal(await outcome("stranger"), unknownKey);
    assert.deepEqual(fetches.slice(2), ["refused"]);
    // Many unknown kids inside one cooldown cost no fetch at all.
    for (let i = 0; i < 20; i++) assert.equal(await outcome("stranger"), unknownKey);
    assert.equal(fetches.length, 3);

    // Up to the stale-if-error bound (counted from the last successful fetch), known keys work.
    clock = start + STALE_IF_ERROR - 1_000;
    assert.equal(await outcome("ES256"), "ok");
    // Past it, the fetched keys are dropped: a 401 invalid_token, still never a 5xx.
    clock = start + STALE_IF_ERROR + 1_000;
    assert.equal(await outcome("ES256"), unknownKey);
    assert.equal(await outcome("RS256"), unknownKey);

    // The endpoint comes back: after the cooldown, the next token fetches and verifies.
    endpoint = serve();
    clock += COOLDOWN + 1_000;
    assert.equal(await outcome("ES256"), "ok");
    assert.equal(fetches.at(-1), "HTTP 200");
    assert.equal(served, 2);
  } finally {
    await endpoint.shutdown();
  }
});
