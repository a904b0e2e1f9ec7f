// What the hello's hot path was made cheaper with, held to the contract it replaced: the SQL
// literals of the one-round-trip call, the access-log line, the URL path cut without a parser,
// the JSON response built in one go, and the gateway that starts before every function is built.
import assert from "node:assert/strict";
import fc from "fast-check";
import { FunctionTable } from "../scripts/lib/gateway.ts";
import { corsHeaders, json, pathOf } from "../supabase/functions/_shared/http.ts";
import { logRequest } from "../supabase/functions/_shared/log.ts";
import { sqlText, sqlTyped } from "../supabase/functions/_shared/sql_literal.ts";
import { failureCall, helloCall } from "../supabase/functions/hello/service.ts";
import { withDatabase } from "./_helpers/stack.ts";

Deno.test("sqlText() quotes any text so that PostgreSQL reads back exactly that text", async () => {
  assert.equal(sqlText(null), "null");
  assert.equal(sqlText(undefined), "null");
  assert.equal(sqlText("it's"), "E'it''s'");
  assert.equal(sqlText("a\\'b"), "E'a\\\\''b'");
  assert.equal(sqlTyped("10.0.0.1", "inet"), "E'10.0.0.1'::inet");
  assert.equal(sqlTyped(null, "uuid"), "null::uuid");
  assert.throws(() => sqlText("a\u0000b"), TypeError);
  const samples = fc.sample(
    fc.oneof(
      fc.string({ unit: "grapheme", maxLength: 30 }),
      fc.string({ unit: "binary", maxLength: 30 }),
      fc.stringMatching(/^['\\$;"-]{0,12}$/),
      fc.constantFrom("'); drop table auth.users; --", "\\'", "$$", "E'", "\\x27"),
    ).filter((text) => !text.includes("\u0000") && text.isWellFormed()),
    300,
  );
  await withDatabase(async (sql) => {
    // With either setting of standard_conforming_strings: an E'' string does not depend on it.
    for (const conforming of ["on", "off"]) {
      const rows = await sql.begin(async (tx) => {
        await tx.unsafe(`set local standard_conforming_strings = ${conforming}`);
        await tx.unsafe("set local escape_string_warning = off");
        return await tx.unsafe<{ value: string }[]>(
          samples.map((text) => `select ${sqlText(text)}::text as value`).join(" union all "),
        );
      });
      assert.deepEqual(rows.map((row) => row.value), samples, conforming);
    }
  });
});

Deno.test("helloCall() and failureCall() inline only quoted values", () => {
  const statement = helloCall(
    {
      token: "t",
      tokenInBody: true,
      client: { name: "o'brien \\ client", version: "1.0" },
      sessionToken: "mcps_abc",
    },
    "10.0.0.1",
    {
      userId: "00000000-0000-4000-8000-000000000001",
      authSessionId: "00000000-0000-4000-9000-000000000001",
      role: "authenticated",
      isAnonymous: false,
      expiresAt: 0,
      algorithm: "HS256",
    },
  );
  assert.equal(
    statement,
    "select * from mcp_private.hello(E'00000000-0000-4000-8000-000000000001'::uuid, " +
      "E'00000000-0000-4000-9000-000000000001'::uuid, E'10.0.0.1'::inet, E'jwt', " +
      "E'o''brien \\\\ client', E'1.0', E'mcps_abc')",
  );
  assert.equal(
    helloCall({ tokenInBody: true }, null, null),
    "select * from mcp_private.hello(null::uuid, null::uuid, null::inet, E'legacy', null, null, null)",
  );
  assert.equal(
    failureCall(null, "invalid_token"),
    "select * from mcp_private.record_auth_failure(null::inet, E'invalid_token')",
  );
});

Deno.test("logRequest() writes one JSON line: time and level first, then the entry's fields", () => {
  const lines: string[] = [];
  logRequest((line) => lines.push(line), {
    fn: "hello",
    event: "hello_http",
    outcome: "ok",
    status: 200,
    auth: "jwt",
    session_id: "s-1",
    latency_ms: 3,
    user_id: "u-1",
  });
  logRequest((line) => lines.push(line), {
    fn: "hello",
    event: "hello_http",
    outcome: "error",
    status: 401,
    code: "invalid_token",
    latency_ms: 0,
    user_id: null,
  });
  assert.equal(lines.length, 2);
  const [ok, failed] = lines.map((line) => JSON.parse(line));
  assert.deepEqual(Object.keys(ok), [
    "time",
    "level",
    "fn",
    "event",
    "outcome",
    "status",
    "auth",
    "session_id",
    "latency_ms",
    "user_id",
  ]);
  assert.equal(ok.level, "info");
  assert.ok(!Number.isNaN(Date.parse(ok.time)) && ok.time.endsWith("Z"));
  assert.deepEqual(
    { ...failed, time: undefined },
    {
      time: undefined,
      level: "info",
      fn: "hello",
      event: "hello_http",
      outcome: "error",
      status: 401,
      code: "invalid_token",
      latency_ms: 0,
      user_id: null,
    },
  );
});

Deno.test("pathOf() gives what new URL().pathname gives, for any URL", () => {
  for (
    const url of [
      "http://x/functions/v1/hello",
      "http://x/functions/v1/hello?x=/y#z",
      "http://x:8080/a/b/",
      "http://x",
      "http://x?q=/functions/v1/hello",
      "http://x#/functions/v1/hello",
      "http://x/a/../functions/v1/hello",
      "http://x/./a",
      "http://x//a",
      "http://x/a%2Fb",
      "http://x/a b",
      "http://x/é",
      "http://x/a\\b",
      "http://x/.well-known/oauth-protected-resource",
    ]
  ) {
    assert.equal(pathOf(new Request(url).url), new URL(url).pathname, url);
    assert.equal(pathOf(url), new URL(url).pathname, url);
  }
  fc.assert(fc.property(fc.webUrl({ withQueryParameters: true, withFragments: true }), (url) => {
    assert.equal(pathOf(url), new URL(url).pathname);
  }));
});

Deno.test("json() sets its headers once, given ones replacing the defaults, in any form", async () => {
  const plain = json({ a: 1 }, 201, { "retry-after": "3", "cache-control": "max-age=1" });
  assert.equal(plain.status, 201);
  assert.equal(plain.headers.get("content-type"), "application/json; charset=utf-8");
  assert.equal(plain.headers.get("cache-control"), "max-age=1");
  assert.equal(plain.headers.get("retry-after"), "3");
  assert.deepEqual(await plain.json(), { a: 1 });
  const mixed = json(null, 200, { "Cache-Control": "private" });
  assert.equal(mixed.headers.get("cache-control"), "private");
  const list = json(null, 200, [["Content-Type", "application/problem+json"]]);
  assert.equal(list.headers.get("content-type"), "application/problem+json");
  const cors = json(null, 200, corsHeaders("https://app.example", "GET"));
  assert.equal(cors.headers.get("access-control-allow-origin"), "https://app.example");
  assert.equal(cors.headers.get("vary"), "Origin");
  assert.equal(corsHeaders("*", "GET").vary, undefined);
});

Deno.test("FunctionTable builds a lazy function once, on first use or with buildAll()", async () => {
  const table = new FunctionTable();
  const ready = () => new Response("ready");
  table.add("hello", ready);
  let builds = 0;
  table.addLazy("later", () => {
    builds++;
    return Promise.resolve(() => new Response("later"));
  });
  table.addLazy("broken", () => Promise.reject(new Error('Function "broken" failed to start')));
  assert.equal(table.get("hello"), ready, "a built function is handed out as is");
  assert.equal(table.get("nope"), undefined);
  const first = table.get("later");
  assert.ok(first instanceof Promise);
  assert.equal(table.get("later"), first, "one build, however many ask meanwhile");
  const handler = await first;
  assert.equal(table.get("later"), handler);
  assert.equal(builds, 1);
  await assert.rejects(table.buildAll(), /broken/);
});

Deno.test("stdoutLog() writes every line in order, in batches, even when the process exits at once", async () => {
  const module = new URL("../supabase/functions/_shared/log.ts", import.meta.url).href;
  const script = `import { stdoutLog } from ${JSON.stringify(module)};
const log = stdoutLog(3);
for (let i = 1; i <= 7; i++) log("line " + i);
setTimeout(() => { log("late"); Deno.exit(0); }, 10);`;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  assert.equal(
    new TextDecoder().decode(output.stdout),
    ["line 1", "line 2", "line 3", "line 4", "line 5", "line 6", "line 7", "late", ""].join("\n"),
  );
});
