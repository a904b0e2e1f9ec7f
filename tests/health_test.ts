import assert from "node:assert/strict";
import { createHandler } from "../supabase/functions/health/handler.ts";
import { listMigrations } from "../scripts/lib/migrations.ts";
import { paths } from "../scripts/lib/database.ts";
import { freePort } from "../scripts/lib/ports.ts";
import { testStack } from "./_helpers/stack.ts";

Deno.test("GET /functions/v1/health answers 200 with the latest migration version", async () => {
  const stack = testStack();
  const migrations = await listMigrations(paths.migrations);
  const response = await fetch(`${stack.functionsUrl}/health`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "application/json; charset=utf-8");
  assert.deepEqual(await response.json(), {
    ok: true,
    db: "ok",
    migrations: migrations.at(-1)!.version,
    // The local stack has no proxy in front (MCP_TRUSTED_PROXIES=0).
    client_ip: { rule: "the connection's address", address: "127.0.0.1" },
  });
});

Deno.test("health reports the caller's address as the client-IP rule determines it, or null", async () => {
  const handler = createHandler({
    SUPABASE_DB_URL: testStack().poolerUrl,
    MCP_TRUSTED_PROXIES: "2",
  });
  const ask = async (headers: Record<string, string>) =>
    (await (await handler(new Request("http://edge.internal/health", { headers }))).json())
      .client_ip;
  assert.deepEqual(await ask({ "x-forwarded-for": "6.6.6.6, 203.0.113.5, 10.1.2.3" }), {
    rule: "entry 2 from the right of x-forwarded-for",
    address: "203.0.113.5",
  });
  assert.deepEqual(await ask({ "x-forwarded-for": "10.1.2.3" }), {
    rule: "entry 2 from the right of x-forwarded-for",
    address: null,
  });
});

Deno.test("health answers 405 with Allow to a method other than GET", async () => {
  const response = await fetch(`${testStack().functionsUrl}/health`, { method: "POST" });
  assert.equal(response.status, 405);
  assert.equal(response.headers.get("allow"), "GET, HEAD");
  assert.equal((await response.json()).error, "method_not_allowed");
});

Deno.test("the local gateway answers 404 for a function that does not exist", async () => {
  const response = await fetch(`${testStack().functionsUrl}/no-such-function`);
  assert.equal(response.status, 404);
  assert.equal((await response.json()).error, "not_found");
});

Deno.test("health answers 503 with Retry-After and a reason when the database is unreachable", async () => {
  // A port nothing listens on: the database is down.
  const deadPort = freePort();
  const handler = createHandler({
    SUPABASE_DB_URL: `postgresql://postgres:s3cret-password@127.0.0.1:${deadPort}/postgres`,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  try {
    const response = await fetch(`http://127.0.0.1:${server.addr.port}/functions/v1/health`);
    assert.equal(response.status, 503);
    assert.equal(response.headers.get("retry-after"), "5");
    const text = await response.text();
    assert.deepEqual(JSON.parse(text), {
      ok: false,
      error: "unavailable",
      message: "The database is unavailable: connection refused.",
      db: "unreachable",
      client_ip: { rule: "entry 1 from the right of x-forwarded-for", address: null },
    });
    assert.ok(!text.includes("s3cret-password"), "the answer never echoes the database password");
    assert.ok(!text.includes(String(deadPort)), "the answer does not reveal the database address");
  } finally {
    await server.shutdown();
  }
});

Deno.test("health serves the deployed path layout (/health) as well as the local one", async () => {
  const handler = createHandler({ SUPABASE_DB_URL: testStack().poolerUrl });
  const response = await handler(new Request("http://edge.internal/health"));
  assert.equal(response.status, 200);
  assert.equal((await response.json()).db, "ok");
});

Deno.test("createHandler() rejects a missing or malformed SUPABASE_DB_URL, naming it", () => {
  assert.throws(() => createHandler({}), {
    name: "ConfigError",
    message: 'Missing "SUPABASE_DB_URL": set it in the function\'s environment.',
  });
  assert.throws(() => createHandler({ SUPABASE_DB_URL: "not a url" }), {
    name: "ConfigError",
    message: 'Cannot parse "SUPABASE_DB_URL": expected a postgresql:// URL.',
  });
  assert.throws(() => createHandler({ SUPABASE_DB_URL: "https://example.com/db" }), {
    name: "ConfigError",
    message:
      'Cannot parse "SUPABASE_DB_URL": expected a postgresql:// URL, got the scheme "https:".',
  });
  assert.throws(
    () => createHandler({ SUPABASE_DB_URL: testStack().poolerUrl, MCP_DATABASE_URL: "nope" }),
    {
      name: "ConfigError",
      message: 'Cannot parse "MCP_DATABASE_URL": expected a postgresql:// URL.',
    },
    "MCP_DATABASE_URL, when set, wins and is checked",
  );
});
