// The sessions function's routing, authentication and request checks, through its handler with
// no server. The caller's token is valid, but its sign-in is unknown to the test stack's
// database: a request that passed every check reaches the database and is answered 401
// `token_revoked` (which proves it got that far); one that did not is refused before that.
import assert from "node:assert/strict";
import { API_KEY_MESSAGE } from "../supabase/functions/_shared/jwt.ts";
import { createHandler } from "../supabase/functions/sessions/handler.ts";
import { testStack } from "./_helpers/stack.ts";
import { accessClaims, createTestKeys, sign } from "./_helpers/tokens.ts";

const BASE = "http://fn.test";
const ISSUER = `${BASE}/auth/v1`;
const SERVER_KEY = "server-credential-0123456789abcdef";
const keys = await createTestKeys();
const handler = createHandler({
  SUPABASE_URL: BASE,
  SUPABASE_DB_URL: testStack().edgeDatabaseUrl,
  JWT_SECRET_KEY: keys.hs256Secret,
  SUPABASE_SERVICE_ROLE_KEY: SERVER_KEY,
}, { log: () => {} });
const token = await sign(
  keys,
  accessClaims(ISSUER, crypto.randomUUID(), crypto.randomUUID()),
  "HS256",
);
const ID = crypto.randomUUID();
/** The status of a request that passed every check and reached the database. */
const REACHED = 401;

async function call(
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string; auth?: boolean } = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.auth !== false) headers.authorization ??= `Bearer ${token}`;
  const response = await handler(
    new Request(`${BASE}/functions/v1/sessions${path}`, {
      method,
      headers,
      ...(options.body !== undefined ? { body: options.body } : {}),
    }),
  );
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? JSON.parse(text) : {},
  };
}

const patch = (body: string, headers: Record<string, string> = {}) =>
  call("PATCH", `/${ID}`, {
    headers: { "content-type": "application/json", "if-match": '"1"', ...headers },
    body,
  });

Deno.test("sessions: methods a route does not serve are 405 with Allow; unknown paths are 404", async () => {
  for (
    const [method, path, allow] of [
      ["PUT", "", "GET, OPTIONS"],
      ["POST", "", "GET, OPTIONS"],
      ["POST", `/${ID}`, "GET, PATCH, DELETE, OPTIONS"],
      ["GET", "/validate", "POST, OPTIONS"],
    ] as const
  ) {
    const response = await call(method, path);
    assert.equal(response.status, 405, `${method} ${path}`);
    assert.equal(response.headers.get("allow"), allow);
    assert.equal(response.body.error, "method_not_allowed");
  }
  const missing = await call("GET", `/${ID}/more`);
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.body, { ok: false, error: "not_found", message: "Not found." });
});

Deno.test("sessions: a preflight is 204 and every answer carries the CORS headers", async () => {
  const preflight = await call("OPTIONS", `/${ID}`, { auth: false });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
  assert.equal(
    preflight.headers.get("access-control-allow-methods"),
    "GET, POST, PATCH, DELETE, OPTIONS",
  );
  assert.match(preflight.headers.get("access-control-allow-headers")!, /if-match/);
  const refused = await call("GET", "", { auth: false });
  assert.match(refused.headers.get("access-control-expose-headers")!, /etag/);
  assert.match(refused.headers.get("access-control-expose-headers")!, /link/);
});

Deno.test("sessions: a missing, garbage or API-key token is a 401 with an RFC 6750 challenge", async () => {
  const metadata =
    `resource_metadata="${BASE}/functions/v1/hello/.well-known/oauth-protected-resource"`;
  const missing = await call("GET", "", { auth: false });
  assert.equal(missing.status, 401);
  assert.equal(missing.body.error, "jwt_required");
  assert.equal(missing.headers.get("www-authenticate"), `Bearer ${metadata}`);

  const garbage = await call("GET", "", { headers: { authorization: "Bearer x.y.z" } });
  assert.equal(garbage.status, 401);
  assert.equal(garbage.body.error, "invalid_token");
  assert.match(
    garbage.headers.get("www-authenticate")!,
    /^Bearer error="invalid_token", error_description="[^"]+", resource_metadata=/,
  );

  const anonKey = await call("GET", "", {
    headers: { authorization: "Bearer sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH" },
  });
  assert.equal(anonKey.status, 401);
  assert.equal(anonKey.body.error, "jwt_required");
  assert.equal(anonKey.body.message, API_KEY_MESSAGE);
});

Deno.test("sessions: page requests are checked before the database", async () => {
  for (
    const query of [
      "?limit=0",
      "?limit=101",
      "?limit=ten",
      "?limit=1.5",
      "?cursor=abc",
      "?cursor=%00",
    ]
  ) {
    const response = await call("GET", query);
    assert.equal(response.status, 400, query);
    assert.equal(response.body.error, "bad_request");
  }
  assert.equal(
    (await call("GET", "?limit=100")).status,
    REACHED,
    "a good page request reaches the database",
  );
  assert.equal((await call("GET", "/not-a-uuid")).status, 400);
});

Deno.test("sessions: PATCH needs If-Match (428), and a malformed one is 400", async () => {
  const none = await call("PATCH", `/${ID}`, {
    headers: { "content-type": "application/json" },
    body: '{"metadata":{}}',
  });
  assert.equal(none.status, 428);
  assert.equal(none.body.error, "precondition_required");
  for (const ifMatch of ["3", '"3', "W/3", '"3" "4"']) {
    const response = await patch('{"metadata":{}}', { "if-match": ifMatch });
    assert.equal(response.status, 400, ifMatch);
  }
  for (const ifMatch of ['"01"', 'W/"1"', '"1", "2"', "*"]) {
    assert.equal(
      (await patch('{"metadata":{}}', { "if-match": ifMatch })).status,
      REACHED,
      ifMatch,
    );
  }
});

Deno.test("sessions: PATCH bodies are refused with 415, 413 and 400, never a 5xx", async () => {
  const cases: [string, string, Record<string, string>, number][] = [
    ["text/plain", '{"metadata":{}}', { "content-type": "text/plain" }, 415],
    ["over 16 KiB", `{"metadata":{"a":"${"x".repeat(17_000)}"}}`, {}, 413],
    ["not JSON", "{", {}, 400],
    ["not UTF-8", "\u00ff", {}, 400],
    ["an array", "[]", {}, 400],
    ["nothing to change", "{}", {}, 400],
    ["an unknown field", '{"version":9}', {}, 400],
    ["metadata not an object", '{"metadata":[1]}', {}, 400],
    ["client without version", '{"client":{"name":"x"}}', {}, 400],
    ["client with a control character", '{"client":{"name":"a\\u0007","version":"1"}}', {}, 400],
    [
      "a client name of 201 characters",
      `{"client":{"name":"${"é".repeat(201)}","version":"1"}}`,
      {},
      400,
    ],
  ];
  for (const [name, body, headers, status] of cases) {
    const response = await patch(body, headers);
    assert.equal(response.status, status, name);
    assert.equal(typeof response.body.message, "string", name);
  }
});

Deno.test("sessions: metadata is measured in the bytes the client sent, and numbers are kept exactly or refused", async () => {
  // 8192 bytes of compact JSON: accepted, although PostgreSQL's text form of it is longer.
  const key = (i: number) => `k${String(i).padStart(3, "0")}`;
  let compact = "{";
  for (let i = 0; compact.length < 8000; i++) compact += `${i ? "," : ""}"${key(i)}":1`;
  compact += ',"pad":"';
  compact += `${"x".repeat(8192 - compact.length - 2)}"}`;
  assert.equal(new TextEncoder().encode(compact).length, 8192);
  assert.equal(
    (await patch(`{"metadata":${compact}}`)).status,
    REACHED,
    "8192 bytes as sent are accepted",
  );
  const over = await patch(`{"metadata":${compact.replace('"pad":"', '"pad":"x')}}`);
  assert.equal(over.status, 400);
  assert.equal(
    over.body.message,
    '"metadata" is limited to 8192 bytes of JSON as sent; this one has 8193.',
  );
  // The same 8192 bytes with whitespace around them in the body: the metadata is what is measured.
  assert.equal((await patch(`{ "metadata" :  ${compact}  }`)).status, REACHED);

  for (
    const number of [
      "12345678901234567890",
      "1e400",
      "-1e400",
      "1e-400",
      "0.1000000000000000000001",
    ]
  ) {
    const response = await patch(`{"metadata":{"n":${number}}}`);
    assert.equal(response.status, 400, number);
    assert.match(response.body.message as string, /cannot be kept exactly/);
  }
  for (const number of ["9007199254740991", "0.1", "1.0", "1e300", "-0", "123.456e-7"]) {
    assert.equal((await patch(`{"metadata":{"n":${number}}}`)).status, REACHED, number);
  }
});

Deno.test("sessions: the text \\u0000 in metadata is fine; a NUL character is not", async () => {
  // The six characters backslash u 0 0 0 0, written as JSON: "\\u0000".
  assert.equal((await patch('{"metadata":{"note":"\\\\u0000"}}')).status, REACHED);
  const nul = await patch('{"metadata":{"note":"a\\u0000b"}}');
  assert.equal(nul.status, 400);
  assert.match(nul.body.message as string, /NUL/);
  assert.equal((await patch('{"metadata":{"a\\u0000":1}}')).status, 400, "in a key too");
});

Deno.test("sessions: client names count characters as PostgreSQL does, not UTF-16 units", async () => {
  const emoji = "\u{1F600}".repeat(150); // 150 characters, 300 UTF-16 units
  assert.equal((await patch(`{"client":{"name":"${emoji}","version":"1"}}`)).status, REACHED);
  assert.equal(
    (await patch(`{"client":{"name":"${"\u{1F600}".repeat(201)}","version":"1"}}`)).status,
    400,
  );
});

Deno.test("sessions: /validate needs a server credential, with a challenge that points to discovery", async () => {
  const body = '{"session_token":"not a session token"}';
  const json = { "content-type": "application/json" };
  const none = await call("POST", "/validate", { auth: false, headers: json, body });
  assert.equal(none.status, 401);
  assert.equal(none.body.error, "server_credential_required");
  assert.match(
    none.headers.get("www-authenticate")!,
    /resource_metadata="http:\/\/fn\.test\/functions\/v1\/hello\/\.well-known\/oauth-protected-resource"/,
  );
  const user = await call("POST", "/validate", { headers: json, body });
  assert.equal(user.status, 401, "a user's token is not a server credential");
  const malformed = await call("POST", "/validate", {
    auth: false,
    headers: { ...json, apikey: SERVER_KEY },
    body,
  });
  assert.deepEqual(malformed.body, { valid: false, reason: "malformed" });
  const either = await call("POST", "/validate", {
    headers: { ...json, apikey: SERVER_KEY },
    body,
  });
  assert.deepEqual(
    either.body,
    { valid: false, reason: "malformed" },
    "a user token beside the key",
  );
  const bad = await call("POST", "/validate", {
    headers: { ...json, authorization: `Bearer ${SERVER_KEY}` },
    body: '{"session_token":1}',
  });
  assert.equal(bad.status, 400);
});
