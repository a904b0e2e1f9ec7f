// The hello function's routing, through its handler with no server and no database call: every
// answer is a hello_ack, errors included (docs/auth.md), with the CORS headers.
import assert from "node:assert/strict";
import { createHandler } from "../supabase/functions/hello/handler.ts";
import { testStack } from "./_helpers/stack.ts";

const handler = createHandler({
  SUPABASE_URL: "http://fn.test",
  SUPABASE_DB_URL: testStack().edgeDatabaseUrl,
  JWT_SECRET_KEY: "hello-handler-test-secret-0123456789",
}, { log: () => {} });

async function call(method: string, path = "", headers: Record<string, string> = {}) {
  const response = await handler(
    new Request(`http://fn.test/functions/v1/hello${path}`, { method, headers }),
  );
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? JSON.parse(text) : null,
  };
}

Deno.test("hello: another method is 405 with Allow, and still a hello_ack", async () => {
  for (const method of ["PUT", "DELETE", "PATCH"]) {
    const response = await call(method);
    assert.equal(response.status, 405, method);
    assert.equal(response.headers.get("allow"), "GET, POST, OPTIONS");
    assert.deepEqual(response.body, {
      op: "hello_ack",
      ok: false,
      error: "method_not_allowed",
      message: `${method} is not supported here; use GET, POST.`,
    });
  }
});

Deno.test("hello: a GET without Upgrade is 426 upgrade_required with Upgrade: websocket", async () => {
  const response = await call("GET");
  assert.equal(response.status, 426);
  assert.equal(response.headers.get("upgrade"), "websocket");
  assert.equal(response.body.op, "hello_ack");
  assert.equal(response.body.error, "upgrade_required");
});

Deno.test("hello: unknown paths are 404 hello_acks; the deployed path layout works too", async () => {
  const response = await call("GET", "/nope");
  assert.equal(response.status, 404);
  assert.deepEqual(response.body, {
    op: "hello_ack",
    ok: false,
    error: "not_found",
    message: "Not found.",
  });
  const deployed = await handler(new Request("http://edge.internal/hello", { method: "PUT" }));
  assert.equal(deployed.status, 405, "the hosted gateway strips /functions/v1");
  await deployed.body?.cancel();
});

Deno.test("hello: a preflight is 204 with the CORS headers, which every answer carries", async () => {
  const preflight = await call("OPTIONS", "", { origin: "https://app.example" });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
  assert.equal(preflight.headers.get("access-control-allow-methods"), "GET, POST, OPTIONS");
  assert.match(preflight.headers.get("access-control-allow-headers")!, /authorization/);
  for (const header of ["ratelimit", "retry-after", "www-authenticate", "sunset"]) {
    assert.match(preflight.headers.get("access-control-expose-headers")!, new RegExp(header));
  }
  assert.equal((await call("PUT")).headers.get("access-control-allow-origin"), "*");

  const oneOrigin = createHandler({
    SUPABASE_URL: "http://fn.test",
    SUPABASE_DB_URL: testStack().edgeDatabaseUrl,
    JWT_SECRET_KEY: "hello-handler-test-secret-0123456789",
    MCP_CORS_ORIGIN: "https://app.example",
  }, { log: () => {} });
  const response = await oneOrigin(
    new Request("http://fn.test/functions/v1/hello", { method: "OPTIONS" }),
  );
  assert.equal(response.headers.get("access-control-allow-origin"), "https://app.example");
  assert.equal(response.headers.get("vary"), "Origin");
});

Deno.test("hello: the protected-resource metadata names the resource, the issuer and the JWKS", async () => {
  const response = await call("GET", "/.well-known/oauth-protected-resource");
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("cache-control"), "public, max-age=3600");
  assert.deepEqual(response.body, {
    resource: "http://fn.test/functions/v1/hello",
    authorization_servers: ["http://fn.test/auth/v1"],
    jwks_uri: "http://fn.test/auth/v1/.well-known/jwks.json",
    bearer_methods_supported: ["header", "body"],
    resource_name: "MCP server access control",
  });
});
