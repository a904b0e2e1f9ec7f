// The functions reach PostgreSQL through PgBouncer in transaction mode, as they reach hosted
// databases through Supavisor: these tests ask PgBouncer's admin console what it sees.
import assert from "node:assert/strict";
import postgres from "postgres";
import { connectDatabase } from "../supabase/functions/_shared/db.ts";
import { testStack } from "./_helpers/stack.ts";

async function adminConsole<T>(query: string): Promise<T[]> {
  const url = new URL(testStack().poolerUrl);
  url.pathname = "/pgbouncer";
  // The admin console speaks only the simple query protocol: no type lookup, no prepared queries.
  const sql = postgres(url.href, {
    max: 1,
    prepare: false,
    fetch_types: false,
    onnotice: () => {},
  });
  try {
    return await sql.unsafe(query).simple() as unknown as T[];
  } finally {
    await sql.end({ timeout: 5 });
  }
}

Deno.test("PgBouncer pools in transaction mode", async () => {
  const config = await adminConsole<{ key: string; value: string }>("show config");
  assert.equal(config.find((row) => row.key === "pool_mode")?.value, "transaction");
});

Deno.test("the functions connect through PgBouncer, not to PostgreSQL directly", async () => {
  const response = await fetch(`${testStack().functionsUrl}/health`);
  assert.equal(response.status, 200);
  await response.body?.cancel();
  const clients = await adminConsole<{ application_name: string }>("show clients");
  assert.ok(
    clients.some((client) => client.application_name === "mcp-auth/health"),
    `health's pool is a PgBouncer client (clients: ${
      clients.map((c) => c.application_name).join(", ")
    })`,
  );
});

Deno.test("the functions' pool sends one statement at a time: none is lost behind a transaction-mode pooler", async () => {
  // A statement without parameters (the hello's, sent as literals) and statements with
  // parameters (postgres.js describes those first), all at once on one connection. A pipelined
  // statement would reach the server PgBouncer has just handed back, and its caller would wait
  // for ever; each must be answered, with its own result.
  const sql = connectDatabase(testStack().edgeDatabaseUrl, { max: 1 });
  try {
    const calls = Array.from(
      { length: 60 },
      (_, n) =>
        n % 2 === 0
          ? sql.unsafe(`select ${n}::int as n`).then((rows) => rows[0]!.n as number)
          : sql`select ${n}::int as n`.then((rows) => rows[0]!.n as number),
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("a statement was never answered")), 10_000);
    });
    try {
      const answers = await Promise.race([Promise.all(calls), timeout]);
      assert.deepEqual(answers, Array.from({ length: 60 }, (_, n) => n));
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await sql.end({ timeout: 1 });
  }
});
