// The SQL API under real concurrency: many connections through PgBouncer (transaction mode, as
// the functions reach the database) racing on the same rate-limit counter or the same session.
// Every call is fired at once with Promise.allSettled, and the counts must be exact.
import assert from "node:assert/strict";
import postgres, { type Sql } from "postgres";
import { testStack } from "./_helpers/stack.ts";

/** One fresh user with one live Supabase Auth session. */
interface TestUser {
  id: string;
  authSessionId: string;
}

/** The columns of mcp_private.session_result these tests read. */
interface UpdateRow {
  ok: boolean;
  error: string | null;
  current_version: string;
  session: { client: { name: string } };
}

/** The columns of mcp_private.hello_result these tests read. */
interface HelloRow {
  ok: boolean;
  error: string | null;
  scope: string | null;
  session_id: string | null;
  version: string | null;
}

/**
 * Runs `fn` with a 40-connection pool through PgBouncer and `userCount` fresh users, each with
 * one auth.sessions row. Afterwards deletes the users (which cascades to their auth sessions and
 * MCP sessions), their audit events and rate-limit counters, and closes the pool.
 */
async function withUsers(
  userCount: number,
  fn: (sql: Sql, users: TestUser[]) => Promise<void>,
): Promise<void> {
  const sql = postgres(testStack().poolerUrl, { max: 40, prepare: false, onnotice: () => {} });
  const users: TestUser[] = Array.from({ length: userCount }, () => ({
    id: crypto.randomUUID(),
    authSessionId: crypto.randomUUID(),
  }));
  const ids = users.map((user) => user.id);
  try {
    await sql`
      insert into auth.users (id, email, aud, role, created_at)
      select id, 'concurrency-' || id || '@example.test', 'authenticated', 'authenticated', now()
      from unnest(${ids}::uuid[]) as id
    `;
    await sql`
      insert into auth.sessions (id, user_id, created_at, aal)
      select s.id, s.user_id, now(), 'aal1'
      from unnest(${users.map((user) => user.authSessionId)}::uuid[], ${ids}::uuid[])
        as s (id, user_id)
    `;
    await fn(sql, users);
  } finally {
    try {
      await sql`delete from mcp_private.audit_events where user_id = any(${ids}::uuid[])`;
      await sql`
        delete from mcp_private.rate_limit_counters
        where policy = 'hello_user' and key = any(${ids}::text[])
      `;
      await sql`delete from auth.users where id = any(${ids}::uuid[])`;
    } finally {
      await sql.end({ timeout: 5 });
    }
  }
}

/**
 * Calls hello for a new JWT session of `user` from `ip`. With `now`, in a transaction whose
 * clock is frozen there (mcp.now, honoured for postgres): racing calls then see one instant, so
 * an exact count does not depend on how long the machine takes to run them all.
 */
async function hello(sql: Sql, user: TestUser, ip: string, now?: string): Promise<HelloRow> {
  const call = (tx: Sql) =>
    tx<HelloRow[]>`
      select * from mcp_private.hello(${user.id}::uuid, ${user.authSessionId}::uuid, ${ip}::inet)
    `;
  const rows = now === undefined ? await call(sql) : await sql.begin(async (tx) => {
    await tx`select set_config('mcp.now', ${now}, true)`;
    return await call(tx as unknown as Sql);
  });
  const [row] = rows;
  assert.ok(row, "hello returns one row");
  return row;
}

/** One instant for a test's racing calls, in the future so no counter of it has refilled. */
function frozenNow(): string {
  return new Date(Date.now() + 3_600_000).toISOString();
}

/** A random integer in [0, bound). */
function randomInt(bound: number): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]! % bound;
}

/** A random IPv4 address in 100.64.0.0/10 (shared address space), unique to this test run. */
function randomSharedAddress(): string {
  return `100.${64 + randomInt(64)}.${randomInt(256)}.${1 + randomInt(254)}`;
}

/** `count` consecutive addresses of 198.18.0.0/15 (benchmarking range) from a random start. */
function benchmarkingAddresses(count: number): string[] {
  const start = randomInt(2 ** 17 - count);
  return Array.from({ length: count }, (_, i) => {
    const n = start + i;
    return `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
  });
}

/** The fulfilled values of `results`; fails with the first reason when any call was rejected. */
function fulfilled<T>(results: PromiseSettledResult<T>[]): T[] {
  const rejected = results.filter((result) => result.status === "rejected");
  assert.equal(
    rejected.length,
    0,
    `no call fails (first error: ${(rejected[0] as PromiseRejectedResult | undefined)?.reason})`,
  );
  return results.map((result) => (result as PromiseFulfilledResult<T>).value);
}

/** How many of `rows` match `predicate`. */
function count<T>(rows: T[], predicate: (row: T) => boolean): number {
  return rows.filter(predicate).length;
}

Deno.test("hello admits exactly 10 of 200 concurrent calls for one user", async () => {
  await withUsers(1, async (sql, [user]) => {
    assert.ok(user);
    const ips = benchmarkingAddresses(200);
    const now = frozenNow();
    try {
      const rows = fulfilled(
        await Promise.allSettled(ips.map((ip) => hello(sql, user, ip, now))),
      );

      assert.equal(count(rows, (row) => row.ok), 10, "admitted");
      assert.equal(
        count(rows, (row) => !row.ok && row.error === "rate_limited" && row.scope === "user"),
        190,
        "refused by the user limit",
      );
      const [{ sessions }] = await sql<[{ sessions: number }]>`
        select count(*)::int as sessions from public.mcp_sessions where user_id = ${user.id}::uuid
      `;
      assert.equal(sessions, 10, "one session per admitted hello");
    } finally {
      await sql`delete from mcp_private.rate_limit_counters where key = any(${ips}::text[])`;
    }
  });
});

Deno.test("hello admits exactly 50 of 200 concurrent calls from one IP", async () => {
  await withUsers(20, async (sql, users) => {
    const ip = randomSharedAddress();
    try {
      // Ten calls per user, interleaved, so the per-user limit (10) never binds.
      const calls = Array.from({ length: 200 }, (_, i) => users[i % users.length]!);
      const now = frozenNow();
      const rows = fulfilled(
        await Promise.allSettled(calls.map((user) => hello(sql, user, ip, now))),
      );

      assert.equal(count(rows, (row) => row.ok), 50, "admitted");
      assert.equal(
        count(rows, (row) => !row.ok && row.error === "rate_limited" && row.scope === "ip"),
        150,
        "refused by the IP limit",
      );
      const [{ sessions }] = await sql<[{ sessions: number }]>`
        select count(*)::int as sessions from public.mcp_sessions
        where user_id = any(${users.map((user) => user.id)}::uuid[])
      `;
      assert.equal(sessions, 50, "one session per admitted hello");
    } finally {
      await sql`delete from mcp_private.rate_limit_counters where key = ${ip}`;
    }
  });
});

Deno.test("update_session lets exactly one of 50 concurrent updates at version 1 win", async () => {
  await withUsers(1, async (sql, [user]) => {
    assert.ok(user);
    const ip = randomSharedAddress();
    try {
      const opened = await hello(sql, user, ip);
      assert.equal(opened.ok, true, `hello opens the session (error: ${opened.error})`);
      const sessionId = opened.session_id!;
      assert.equal(Number(opened.version), 1);

      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          sql<UpdateRow[]>`
            select * from mcp_private.update_session(
              ${sessionId}::uuid, ${user.id}::uuid, null, array[1]::bigint[], ${`client-${i}`}, '1'
            )
          `.then(([row]) => row!)),
      );

      const winners = results.filter((result) => result.ok);
      const losers = results.filter((result) => !result.ok);
      assert.equal(winners.length, 1, "exactly one update succeeds");
      assert.equal(losers.length, 49);
      assert.deepEqual(
        losers.map((result) => [result.error, Number(result.current_version)]),
        Array(49).fill(["version_mismatch", 2]),
        "every other update is a version conflict that sees the winner's version",
      );
      const [stored] = await sql<[{ version: string; client_name: string }]>`
        select version, client_name from public.mcp_sessions where id = ${sessionId}::uuid
      `;
      assert.equal(Number(stored.version), 2, "the session ends at version 2");
      assert.equal(
        stored.client_name,
        winners[0]!.session.client.name,
        "the winner's change is the one kept",
      );
      const [{ conflicts }] = await sql<[{ conflicts: number }]>`
        select count(*)::int as conflicts from mcp_private.audit_events
        where event = 'version_conflict' and session_id = ${sessionId}::uuid
      `;
      assert.equal(conflicts, 49, "each conflict was audited by the call that lost");
    } finally {
      await sql`delete from mcp_private.rate_limit_counters where key = ${ip}`;
    }
  });
});

/** The columns of mcp_private.upload_result these tests read. */
interface UploadRow {
  ok: boolean;
  error: string | null;
  duplicate: boolean;
  created: boolean;
  upload: { id: string; version: number };
  remove_path: string | null;
}

Deno.test("store_upload(): 60 racing uploads of the same bytes make one record; the rest are duplicates of it", async () => {
  await withUsers(1, async (sql, [user]) => {
    const sha = "d".repeat(64);
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) =>
        sql<UploadRow[]>`
          select * from mcp_private.store_upload(${user!.id}, ${user!.authSessionId},
            ${crypto.randomUUID()}, 'kimi', ${`race-${i}.bin`}, ${sha}, 10, null, null, null)
        `),
    );
    const rows = results.map((result) => {
      assert.equal(result.status, "fulfilled", String((result as PromiseRejectedResult).reason));
      return (result as PromiseFulfilledResult<UploadRow[]>).value[0]!;
    });
    assert.equal(rows.filter((row) => row.created).length, 1);
    assert.equal(rows.filter((row) => row.duplicate).length, 59);
    assert.equal(new Set(rows.map((row) => row.upload.id)).size, 1);
    assert.equal(rows.filter((row) => row.remove_path !== null).length, 59);
    const [{ count }] = await sql<[{ count: number }]>`
      select count(*)::int as count from public.file_uploads where user_id = ${user!.id}
    `;
    assert.equal(count, 1);
  });
});

Deno.test("store_upload(): 40 racing new contents under one filename get versions 1 to 40, each once", async () => {
  await withUsers(1, async (sql, [user]) => {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        sql<UploadRow[]>`
          select * from mcp_private.store_upload(${user!.id}, ${user!.authSessionId},
            ${crypto.randomUUID()}, 'glm', 'notes.md', ${i.toString(16).padStart(64, "0")}, 10,
            null, null, null)
        `),
    );
    const versions = results.map(([row]) => row!.upload.version).sort((a, b) => a - b);
    assert.deepEqual(versions, Array.from({ length: 40 }, (_, i) => i + 1));
  });
});
