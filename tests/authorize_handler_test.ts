// The authorize function's routing, credential check and body checks, through its handler with
// no server. The users in the bodies are unknown to the test stack's database: a request that
// passed every check reaches the database and is answered 200 `allowed: false`, `token_revoked`
// (which proves it got that far); one that did not is refused before that.
import assert from "node:assert/strict";
import { createHandler } from "../supabase/functions/authorize/handler.ts";
import { MAX_BODY_BYTES } from "../supabase/functions/authorize/request.ts";
import { ConfigError } from "../supabase/functions/_shared/config.ts";
import { testStack } from "./_helpers/stack.ts";
import { createTestKeys } from "./_helpers/tokens.ts";

const BASE = "http://fn.test";
const SERVER_KEY = "server-credential-0123456789abcdef";
const SECRET_KEY = "sb_secret_authorize-handler-test-key";
const keys = await createTestKeys();
const env = {
  SUPABASE_URL: BASE,
  SUPABASE_DB_URL: testStack().edgeDatabaseUrl,
  JWT_SECRET_KEY: keys.hs256Secret,
  SUPABASE_SERVICE_ROLE_KEY: SERVER_KEY,
  SUPABASE_SECRET_KEYS: JSON.stringify({ default: SECRET_KEY }),
};
const logs: string[] = [];
const handler = createHandler(env, { log: (line) => logs.push(line) });
const METADATA =
  `resource_metadata="${BASE}/functions/v1/hello/.well-known/oauth-protected-resource"`;

/** A body that passes every check. */
function goodBody(): Record<string, unknown> {
  return {
    user_id: crypto.randomUUID(),
    auth_session_id: crypto.randomUUID(),
    scopes: ["mcp:tools.basic", "profile"],
    tool: "echo",
    resource: "https://mcp.example/mcp",
    ip: "198.51.100.7",
  };
}

async function call(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string; credential?: boolean } = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.credential !== false) headers.authorization ??= `Bearer ${SERVER_KEY}`;
  const response = await handler(
    new Request(`${BASE}/functions/v1/authorize${path}`, {
      method,
      headers,
      ...(options.body !== undefined ? { body: options.body } : {}),
    }),
  );
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : {} };
}

const post = (body: unknown, headers: Record<string, string> = {}) =>
  call("POST", "", {
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

Deno.test("authorize: methods a route does not serve are 405 with Allow; unknown paths are 404", async () => {
  for (
    const [method, path, allow] of [
      ["GET", "", "POST, OPTIONS"],
      ["PUT", "", "POST, OPTIONS"],
      ["DELETE", "", "POST, OPTIONS"],
      ["POST", "/scopes", "GET, OPTIONS"],
      ["PATCH", "/scopes", "GET, OPTIONS"],
    ] as const
  ) {
    const response = await call(method, path);
    assert.equal(response.status, 405, `${method} ${path}`);
    assert.equal(response.headers.get("allow"), allow);
    assert.equal(response.body.error, "method_not_allowed");
  }
  const missing = await call("GET", "/scopes/echo");
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.body, { ok: false, error: "not_found", message: "Not found." });
});

Deno.test("authorize: a preflight is 204 and every answer carries the CORS headers", async () => {
  const preflight = await call("OPTIONS", "", { credential: false });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
  assert.equal(preflight.headers.get("access-control-allow-methods"), "GET, POST, OPTIONS");
  const refused = await call("POST", "", { credential: false });
  assert.match(refused.headers.get("access-control-expose-headers")!, /ratelimit-policy/);
});

Deno.test("authorize: without a server credential both routes are 401 server_credential_required with a challenge", async () => {
  for (const [method, path] of [["POST", ""], ["GET", "/scopes"]] as const) {
    const none = await call(method, path, { credential: false });
    assert.equal(none.status, 401, `${method} ${path}`);
    assert.equal(none.body.error, "server_credential_required");
    assert.equal(typeof none.body.message, "string");
    assert.equal(none.headers.get("www-authenticate"), `Bearer ${METADATA}`);

    // A wrong key, or a user's access token, is not a server credential.
    for (
      const headers of [
        { authorization: `Bearer ${SERVER_KEY}x` },
        { apikey: "sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH" },
        { authorization: "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln" },
      ]
    ) {
      const wrong = await call(method, path, { headers, credential: false });
      assert.equal(wrong.status, 401, JSON.stringify(headers));
      assert.equal(wrong.body.error, "server_credential_required");
      assert.equal(
        wrong.headers.get("www-authenticate"),
        `Bearer error="invalid_token", error_description="A server credential is required.", ${METADATA}`,
      );
    }
  }
});

Deno.test("authorize: the service-role key or a secret key, in Authorization or apikey, is accepted", async () => {
  for (
    const headers of [
      { authorization: `Bearer ${SERVER_KEY}` },
      { apikey: SERVER_KEY },
      { authorization: `Bearer ${SECRET_KEY}` },
      { apikey: SECRET_KEY, authorization: "Bearer not-a-credential" },
    ]
  ) {
    const scopes = await call("GET", "/scopes", { headers, credential: false });
    assert.equal(scopes.status, 200, JSON.stringify(headers));
    assert.ok(Array.isArray(scopes.body.tools));
  }
});

Deno.test("authorize: a request that passes every check reaches the database (an unknown sign-in is token_revoked)", async () => {
  const body = goodBody();
  const response = await post(body);
  assert.equal(response.status, 200, JSON.stringify(response.body));
  assert.deepEqual(response.body, {
    allowed: false,
    error: "token_revoked",
    message: "The token's sign-in session has ended (signed out, expired or revoked).",
    retry_after: null,
    required_scopes: ["mcp:tools.basic"],
    missing_scopes: [],
  });
  // A revoked token costs nothing: the whole budget is still there.
  assert.equal(response.headers.get("ratelimit-policy"), '"mcp_request_user";q=120;w=60');
  assert.equal(response.headers.get("ratelimit"), '"mcp_request_user";r=120;t=0');
  const line = JSON.parse(logs.findLast((l) => l.includes(body.user_id as string))!);
  assert.equal(line.fn, "authorize");
  assert.equal(line.event, "POST /authorize");
  assert.equal(line.status, 200);
  assert.equal(line.code, "token_revoked");

  // The optional fields may be left out: no scopes, no tool, no IP.
  const minimal = await post({
    user_id: body.user_id,
    auth_session_id: body.auth_session_id,
    resource: body.resource,
  });
  assert.equal(minimal.status, 200);
  assert.deepEqual(minimal.body.required_scopes, []);
});

Deno.test("authorize: bodies are checked before the database", async () => {
  const notJson = await call("POST", "", {
    headers: { "content-type": "text/plain" },
    body: JSON.stringify(goodBody()),
  });
  assert.equal(notJson.status, 415);
  assert.equal(notJson.body.error, "unsupported_media_type");
  const tooLarge = await post({
    ...goodBody(),
    resource: "https://x/" + "a".repeat(MAX_BODY_BYTES),
  });
  assert.equal(tooLarge.status, 413);
  assert.equal(tooLarge.body.error, "payload_too_large");
  for (const text of ["{", "[]", "null", '"x"']) {
    const response = await post(text);
    assert.equal(response.status, 400, text);
    assert.equal(response.body.error, "bad_request");
  }

  const unknown = await post({ ...goodBody(), token: "eyJ..." });
  assert.equal(unknown.status, 400);
  assert.equal(
    unknown.body.message,
    'Unknown field "token": send only "user_id", "auth_session_id", "scopes", "tool", "resource", "ip".',
  );

  const refusals: [string, Record<string, unknown>, RegExp][] = [
    ["user_id missing", { user_id: undefined }, /"user_id" must be a UUID/],
    ["user_id not a UUID", { user_id: "alice" }, /"user_id" must be a UUID/],
    ["auth_session_id null", { auth_session_id: null }, /"auth_session_id" must be a UUID/],
    ["scopes a string", { scopes: "mcp:tools.basic profile" }, /"scopes" must be an array/],
    ["65 scopes", { scopes: Array.from({ length: 65 }, (_, i) => `s${i}`) }, /limited to 64/],
    ["a scope with a space", { scopes: ["a b"] }, /"scopes" entries/],
    ["an empty scope", { scopes: [""] }, /"scopes" entries/],
    ["a scope of 65 characters", { scopes: ["s".repeat(65)] }, /"scopes" entries/],
    ["a number as scope", { scopes: [1] }, /"scopes" entries/],
    ["tool a number", { tool: 7 }, /"tool" must be null or a tool name/],
    ["tool with a space", { tool: "read secret" }, /"tool" must be null or a tool name/],
    ["tool of 129 characters", { tool: "t".repeat(129) }, /"tool"/],
    ["tool empty", { tool: "" }, /"tool"/],
    ["resource missing", { resource: undefined }, /"resource" must be/],
    ["resource not a URL", { resource: "mcp.example" }, /"resource" must be/],
    ["resource ftp", { resource: "ftp://mcp.example/" }, /"resource" must be/],
    ["resource with a fragment", { resource: "https://mcp.example/mcp#x" }, /"resource"/],
    ["resource with a newline", { resource: "https://mcp.example/\nmcp" }, /"resource"/],
    ["resource of 2049 characters", {
      resource: "https://mcp.example/" + "a".repeat(2029),
    }, /at most 2048/],
    ["ip with a port", { ip: "198.51.100.7:443" }, /"ip" must be null or/],
    ["ip with a prefix", { ip: "198.51.100.0/24" }, /"ip"/],
    ["ip with a zone", { ip: "fe80::1%eth0" }, /"ip"/],
    ["ip a hostname", { ip: "localhost" }, /"ip"/],
    ["ip a number", { ip: 3325256711 }, /"ip"/],
  ];
  for (const [what, change, message] of refusals) {
    const body = { ...goodBody(), ...change };
    for (const [key, value] of Object.entries(change)) if (value === undefined) delete body[key];
    const response = await post(body);
    assert.equal(response.status, 400, what);
    assert.equal(response.body.error, "bad_request", what);
    assert.match(response.body.message as string, message, what);
  }

  // The limits themselves are accepted.
  const atLimits = await post({
    ...goodBody(),
    scopes: Array.from({ length: 64 }, (_, i) => `s${i}:${"x".repeat(60 - String(i).length)}`),
    tool: "t".repeat(128),
    resource: "https://mcp.example/" + "a".repeat(2028),
    ip: "2001:DB8::1",
  });
  assert.equal(atLimits.status, 200, JSON.stringify(atLimits.body));
  assert.equal(atLimits.body.error, "token_revoked");
});

Deno.test("authorize: createHandler() without a server credential fails at start, naming the variable", () => {
  const { SUPABASE_SERVICE_ROLE_KEY: _, SUPABASE_SECRET_KEYS: __, ...withoutKeys } = env;
  assert.throws(() => createHandler(withoutKeys), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.variable, "SUPABASE_SERVICE_ROLE_KEY");
    return true;
  });
});
