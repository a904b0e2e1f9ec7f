// The uploads function through its handler, with no server of its own: routing, methods,
// authentication, configuration errors, and what a failure half way leaves behind. The handler
// is built with the test stack's keys and database, and its Storage is the stack's Storage
// service through supabase-js, wrapped where a test makes it fail.
import assert from "node:assert/strict";
import { loadKeys, publicJwks } from "../scripts/lib/keys.ts";
import { ConfigError } from "../supabase/functions/_shared/config.ts";
import { createHandler } from "../supabase/functions/uploads/handler.ts";
import { type ObjectStore, storageAs } from "../supabase/functions/uploads/storage.ts";
import { withAdmin } from "./_helpers/hello.ts";
import { testStack } from "./_helpers/stack.ts";
import { leftovers, randomBytes, storageTempFiles, withUploadUsers } from "./_helpers/uploads.ts";

const state = testStack();
const keys = await loadKeys(state.keysFile);
const ENV = {
  SUPABASE_URL: state.apiUrl,
  SUPABASE_DB_URL: state.edgeDatabaseUrl,
  SUPABASE_JWKS: JSON.stringify(publicJwks(keys)),
  JWT_SECRET_KEY: keys.hs256Secret,
  SUPABASE_ANON_KEY: state.anonKey,
  SUPABASE_SERVICE_ROLE_KEY: state.serviceRoleKey,
};
const realStorage = (accessToken?: string): ObjectStore =>
  storageAs({
    supabaseUrl: state.apiUrl,
    apiKey: accessToken === undefined ? state.serviceRoleKey : state.anonKey,
    ...(accessToken === undefined ? {} : { accessToken }),
  });
const handler = createHandler(ENV, { log: () => {} });

async function call(
  method: string,
  path: string,
  options: { token?: string; headers?: Record<string, string>; body?: BodyInit } = {},
  target = handler,
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const response = await target(
    new Request(`${state.apiUrl}/functions/v1/uploads${path}`, {
      method,
      headers,
      ...(options.body !== undefined ? { body: options.body } : {}),
    }),
  );
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : {} };
}

Deno.test("uploads: methods a route does not serve are 405 with Allow; unknown paths are 404", async () => {
  await withUploadUsers(1, async ({ users: [user] }) => {
    const id = crypto.randomUUID();
    for (
      const [method, path, allow] of [
        ["DELETE", "/providers", "GET, OPTIONS"],
        ["GET", "/check", "POST, OPTIONS"],
        ["POST", "/content", "PUT, OPTIONS"],
        ["GET", "/intents", "POST, OPTIONS"],
        ["GET", `/${id}/finalize`, "POST, OPTIONS"],
        ["PUT", "", "GET, POST, OPTIONS"],
        ["PATCH", `/${id}`, "GET, DELETE, OPTIONS"],
        ["GET", "/sweep", "POST, OPTIONS"],
      ] as const
    ) {
      const response = await call(method, path, { token: user!.token });
      assert.equal(response.status, 405, `${method} ${path}`);
      assert.equal(response.headers.get("allow"), allow, `${method} ${path}`);
      assert.equal(response.body.error, "method_not_allowed");
    }
    const missing = await call("GET", `/${id}/finalize/more`, { token: user!.token });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error, "not_found");
  });
});

Deno.test("uploads: every route but the sweep needs the user's token; a preflight needs none", async () => {
  for (const [method, path] of [["GET", "/providers"], ["PUT", "/content"], ["GET", ""]]) {
    const response = await call(method!, path!);
    assert.equal(response.status, 401, `${method} ${path}`);
    assert.equal(response.body.error, "jwt_required");
    assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer /);
  }
  const anonKey = await call("GET", "/providers", { token: state.anonKey });
  assert.equal(anonKey.status, 401, "the anon API key is not a user's token");
  const preflight = await call("OPTIONS", "/content");
  assert.equal(preflight.status, 204);
  assert.equal(
    preflight.headers.get("access-control-allow-methods"),
    "GET, POST, PUT, DELETE, OPTIONS",
  );
  const sweep = await call("POST", "/sweep", { token: state.anonKey });
  assert.equal(sweep.status, 401);
  assert.equal(sweep.body.error, "server_credential_required");
});

Deno.test("uploads: a bad configuration fails at start, naming the variable", () => {
  const { SUPABASE_ANON_KEY: _anon, ...withoutAnon } = ENV;
  assert.throws(
    () => createHandler(withoutAnon),
    (error: unknown) => error instanceof ConfigError && error.variable === "SUPABASE_ANON_KEY",
  );
  const { SUPABASE_SERVICE_ROLE_KEY: _service, ...withoutService } = ENV;
  assert.throws(
    () => createHandler(withoutService),
    (error: unknown) =>
      error instanceof ConfigError && error.variable === "SUPABASE_SERVICE_ROLE_KEY",
  );
  assert.throws(
    () => createHandler({ ...withoutAnon, SUPABASE_PUBLISHABLE_KEYS: "{not json" }),
    (error: unknown) => error instanceof ConfigError,
  );
  createHandler({
    ...withoutAnon,
    SUPABASE_PUBLISHABLE_KEYS: '{"default":"sb_publishable_0123456789abcdef"}',
  });
});

Deno.test("uploads: Storage failing half way through a streamed upload leaves no row and no object", async () => {
  await withUploadUsers(1, async ({ users: [user] }) => {
    // Storage takes half of the body, then the connection to it breaks.
    const failing = (accessToken?: string): ObjectStore => {
      const store = realStorage(accessToken);
      return {
        ...store,
        async put(path, body, contentType) {
          let seen = 0;
          const broken = body.pipeThrough(
            new TransformStream<Uint8Array, Uint8Array>({
              transform(chunk, controller) {
                seen += chunk.byteLength;
                if (seen > 256 * 1024) throw new Error("connection to Storage reset");
                controller.enqueue(chunk);
              },
            }),
          );
          await store.put(path, broken, contentType);
        },
      };
    };
    const target = createHandler(ENV, { log: () => {}, storage: failing });
    const answer = await call("PUT", "/content?provider=kimi&filename=half.bin", {
      token: user!.token,
      body: randomBytes(512 * 1024),
    }, target);
    assert.equal(answer.status, 503, JSON.stringify(answer.body));
    assert.equal(answer.body.error, "unavailable");
    assert.equal(answer.headers.get("retry-after"), "5");
    assert.deepEqual(await leftovers(user!), { rows: [], objects: [] });
    assert.deepEqual(await storageTempFiles(), []);
  });
});

Deno.test("uploads: the database failing after the bytes are in Storage leaves no object behind", async () => {
  await withUploadUsers(1, async ({ users: [user] }) => {
    // A role that may check an upload but not record it: the second call fails.
    const role = `mcp_test_uploads_${crypto.randomUUID().slice(0, 8)}`;
    await withAdmin((sql) =>
      sql.unsafe(`
        create role ${role} login password 'x' noinherit;
        grant usage on schema mcp_private to ${role};
        grant execute on function mcp_private.check_upload(uuid, uuid, text, text, bigint, text) to ${role};
      `)
    );
    try {
      const url = new URL(state.databaseUrl);
      url.username = role;
      url.password = "x";
      const target = createHandler({ ...ENV, MCP_DATABASE_URL: url.href }, {
        log: () => {},
        storage: realStorage,
      });
      const answer = await call("PUT", "/content?provider=kimi&filename=lost.bin", {
        token: user!.token,
        body: randomBytes(100 * 1024),
      }, target);
      assert.equal(answer.status, 500, JSON.stringify(answer.body));
      assert.equal(answer.body.error, "internal");
      assert.deepEqual(await leftovers(user!), { rows: [], objects: [] });
    } finally {
      await withAdmin((sql) =>
        sql.unsafe(`
          select pg_terminate_backend(pid) from pg_stat_activity where usename = '${role}';
          revoke all on function mcp_private.check_upload(uuid, uuid, text, text, bigint, text) from ${role};
          revoke usage on schema mcp_private from ${role};
          drop role ${role};
        `)
      );
    }
  });
});
