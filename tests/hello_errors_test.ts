// Every error code of the hello handshake (docs/auth.md), each reached by a real HTTP request to a
// real hello function: status, the exact body shape, the headers, no token echoed, and no
// session opened. Each test has its own client IPs (the servers trust the rightmost
// X-Forwarded-For entry) and its own users, so no two tests share a rate-limit bucket.
import assert from "node:assert/strict";
import { freePort } from "../scripts/lib/ports.ts";
import { databaseUrl } from "../scripts/lib/postgres.ts";
import { MAX_MESSAGE_BYTES } from "../supabase/functions/hello/protocol.ts";
import {
  createUsers,
  deleteUsers,
  type HelloServer,
  sessionCount,
  startHelloServer,
  type TestUser,
  tokenFor,
  uniqueIp,
  withAdmin,
  withHello,
} from "./_helpers/hello.ts";
import { testStack } from "./_helpers/stack.ts";

/** A hello response, with its raw text (to look for echoed secrets). */
interface Reply {
  status: number;
  headers: Headers;
  text: string;
  body: Record<string, unknown>;
}

/** POSTs `body` as is (string, bytes or stream) from `ip`. `contentType: null` sends none. */
async function send(
  server: HelloServer,
  options: {
    ip: string;
    body?: BodyInit;
    headers?: Record<string, string>;
    contentType?: string | null;
  },
): Promise<Reply> {
  const headers = new Headers({ "x-forwarded-for": options.ip, ...options.headers });
  const contentType = options.contentType === undefined ? "application/json" : options.contentType;
  if (contentType !== null) headers.set("content-type", contentType);
  const response = await fetch(server.helloUrl, {
    method: "POST",
    headers,
    ...(options.body === undefined ? {} : { body: options.body }),
  });
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text);
  } catch {
    body = { raw: text };
  }
  return { status: response.status, headers: response.headers, text, body };
}

/** POSTs a JSON hello from `ip`. */
function hello(
  server: HelloServer,
  ip: string,
  value: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return send(server, { ip, body: JSON.stringify(value), headers });
}

const POLICY = /^"(hello_ip|hello_user|auth_failure_ip)";q=\d+;w=\d+$/;
const STATE = /^"(hello_ip|hello_user|auth_failure_ip)";r=\d+;t=\d+$/;

/**
 * Asserts an error reply of docs/auth.md: `status`, the exact body
 * `{"op":"hello_ack","ok":false,"error":code,"message":string}` (plus `scope` for
 * rate_limited), no secret anywhere in the body or the headers, the rate-limit headers on every
 * answer the database gave (not on 500/503), `Retry-After` on 429/503 only and
 * `WWW-Authenticate` on 401 only.
 */
function assertError(reply: Reply, status: number, code: string, secrets: string[] = []): void {
  const context = `${code}: ${reply.status} ${reply.text}`;
  assert.equal(reply.status, status, context);
  assert.match(reply.headers.get("content-type") ?? "", /^application\/json/, context);
  const expectedKeys = [
    "error",
    "message",
    "ok",
    "op",
    ...(code === "rate_limited" ? ["scope"] : []),
  ];
  assert.deepEqual(Object.keys(reply.body).sort(), expectedKeys, context);
  assert.equal(reply.body.op, "hello_ack", context);
  assert.equal(reply.body.ok, false, context);
  assert.equal(reply.body.error, code, context);
  assert.equal(typeof reply.body.message, "string", context);
  assert.ok((reply.body.message as string).length > 0, `${context}: an empty message`);
  if (code === "rate_limited") assert.ok(["ip", "user"].includes(reply.body.scope as string));

  const headerText = [...reply.headers].map(([name, value]) => `${name}: ${value}`).join("\n");
  for (const secret of secrets) {
    const pieces = [secret, ...secret.split(".").filter((part) => part.length > 10)];
    for (const piece of pieces) {
      assert.ok(!reply.text.includes(piece), `${context}: the body echoes the token`);
      assert.ok(!headerText.includes(piece), `${context}: a header echoes the token`);
    }
  }

  if (status === 500 || status === 503) {
    assert.equal(reply.headers.get("ratelimit-policy"), null, `${context}: no database answer`);
    assert.equal(reply.headers.get("ratelimit"), null, `${context}: no database answer`);
  } else {
    assert.match(reply.headers.get("ratelimit-policy") ?? "", POLICY, context);
    assert.match(reply.headers.get("ratelimit") ?? "", STATE, context);
  }
  if (status === 429 || status === 503) {
    const retryAfter = reply.headers.get("retry-after");
    assert.match(retryAfter ?? "", /^\d+$/, `${context}: Retry-After`);
    assert.ok(Number(retryAfter) > 0, `${context}: Retry-After must be positive`);
  } else {
    assert.equal(reply.headers.get("retry-after"), null, context);
  }
  if (status === 401) {
    assert.match(reply.headers.get("www-authenticate") ?? "", /^Bearer /, context);
  } else {
    assert.equal(reply.headers.get("www-authenticate"), null, context);
  }
}

/** The RFC 9728 metadata URL every 401 must point at. */
function metadataUrl(server: HelloServer): string {
  return `${server.helloUrl}/.well-known/oauth-protected-resource`;
}

/** MCP sessions whose recorded client IP is `ip`. */
async function sessionsFromIp(ip: string): Promise<number> {
  return await withAdmin(async (sql) => {
    const [{ count }] = await sql<[{ count: number }]>`
      select count(*)::int as count from public.mcp_sessions where ip = ${ip}::inet
    `;
    return count;
  });
}

/** Proves `token` is good: one more hello with it succeeds (and opens one session). */
async function assertTokenWorks(server: HelloServer, user: TestUser, token: string) {
  const before = await sessionCount([user]);
  const control = await hello(server, uniqueIp(), { op: "hello", token });
  assert.equal(control.status, 200, `control hello: ${control.text}`);
  assert.equal(await sessionCount([user]), before + 1);
}

Deno.test("bad_request 400: malformed hellos are refused and open no session", async () => {
  await withHello({ users: 1 }, async ({ server, users: [user] }) => {
    const token = await tokenFor(server, user!);
    const bytes = (text: string) => new TextEncoder().encode(text);
    const invalidUtf8 = new Uint8Array([
      ...bytes(`{"op":"hello","token":"${token}","client":{"name":"`),
      0xff,
      0xfe,
      0xc3,
      0x28,
      ...bytes(`","version":"1"}}`),
    ]);
    const cases: [string, BodyInit][] = [
      ["invalid JSON", `{"op":"hello","token":"${token}"`],
      ["an empty body", ""],
      ["a JSON array", JSON.stringify([{ op: "hello", token }])],
      ["JSON null", "null"],
      ["a JSON string", JSON.stringify(token)],
      ["op missing", JSON.stringify({ token })],
      ["op wrong", JSON.stringify({ op: "helo", token })],
      ["op with another case", JSON.stringify({ op: "HELLO", token })],
      ["op not a string", JSON.stringify({ op: ["hello"], token })],
      ["token a number", JSON.stringify({ op: "hello", token: 12345 })],
      ["token null", JSON.stringify({ op: "hello", token: null })],
      ["token an object", JSON.stringify({ op: "hello", token: { jwt: token } })],
      ["jwt not a string", JSON.stringify({ op: "hello", jwt: [token] })],
      ["token and jwt differ", JSON.stringify({ op: "hello", token, jwt: `${token}x` })],
      ["session_token not a string", JSON.stringify({ op: "hello", token, session_token: 1 })],
      ["client a string", JSON.stringify({ op: "hello", token, client: "cli/1.0" })],
      ["client an array", JSON.stringify({ op: "hello", token, client: ["cli", "1.0"] })],
      ["client null", JSON.stringify({ op: "hello", token, client: null })],
      ["client without version", JSON.stringify({ op: "hello", token, client: { name: "c" } })],
      [
        "client with an empty name",
        JSON.stringify({ op: "hello", token, client: { name: "", version: "1" } }),
      ],
      [
        "client.version a number",
        JSON.stringify({ op: "hello", token, client: { name: "c", version: 1 } }),
      ],
      [
        "client.name too long",
        JSON.stringify({ op: "hello", token, client: { name: "n".repeat(201), version: "1" } }),
      ],
      [
        "client.name with a control character",
        JSON.stringify({ op: "hello", token, client: { name: "a\u0007b", version: "1" } }),
      ],
      ["invalid UTF-8 bytes", invalidUtf8],
    ];
    for (const [name, body] of cases) {
      const ip = uniqueIp();
      const reply = await send(server, { ip, body });
      assertError(reply, 400, "bad_request", [token]);
      assert.equal(await sessionsFromIp(ip), 0, `${name}: no session from its IP`);
    }
    assert.equal(await sessionCount([user!]), 0, "no malformed hello opened a session");
    // The token in those bodies was good: the same token in a well-formed hello opens one.
    await assertTokenWorks(server, user!, token);
  });
});

Deno.test("jwt_required 401: no token at all, and WWW-Authenticate without error=", async () => {
  await withHello({}, async ({ server }) => {
    const challenge = `Bearer resource_metadata="${metadataUrl(server)}"`;
    const cases: [string, unknown, Record<string, string>][] = [
      ["no token", { op: "hello" }, {}],
      ["an empty token", { op: "hello", token: "" }, {}],
      ["an empty jwt", { op: "hello", jwt: "" }, {}],
      ["only a client", { op: "hello", client: { name: "c", version: "1" } }, {}],
      ["a Basic Authorization header", { op: "hello" }, { authorization: "Basic dXNlcjpwYXNz" }],
      ["a Bearer header without a token", { op: "hello" }, { authorization: "Bearer " }],
    ];
    for (const [name, value, headers] of cases) {
      const ip = uniqueIp();
      const reply = await hello(server, ip, value, headers);
      assertError(reply, 401, "jwt_required");
      assert.equal(reply.headers.get("www-authenticate"), challenge, name);
      assert.doesNotMatch(reply.headers.get("www-authenticate")!, /error=/, name);
      assert.equal(await sessionsFromIp(ip), 0, name);
    }
  });
});

Deno.test("invalid_token 401: garbage tokens, with an RFC 6750 invalid_token challenge", async () => {
  await withHello({ users: 1 }, async ({ server, users: [user] }) => {
    const valid = await tokenFor(server, user!);
    const [header, payload, signature] = valid.split(".") as [string, string, string];
    const flipped = signature.slice(0, -2) + (signature.endsWith("AA") ? "BB" : "AA");
    const challenge = new RegExp(
      `^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="${
        metadataUrl(server).replace(/[.]/g, "\\.")
      }"$`,
    );
    const garbage = [
      "garbage",
      "not.a.jwt",
      "a.b.c",
      `${header}.${payload}.${flipped}`,
      `${header}.${payload}`,
      "x".repeat(40),
    ];
    for (const token of garbage) {
      for (const place of ["body", "header"] as const) {
        const ip = uniqueIp();
        const reply = place === "body"
          ? await hello(server, ip, { op: "hello", token })
          : await hello(server, ip, { op: "hello" }, { authorization: `Bearer ${token}` });
        assertError(reply, 401, "invalid_token", [token]);
        assert.match(reply.headers.get("www-authenticate")!, challenge, `${token} in ${place}`);
        assert.equal(await sessionsFromIp(ip), 0);
      }
    }
    assert.equal(await sessionCount([user!]), 0);
  });
});

Deno.test("token_expired 401: a token that expired 2 minutes ago", async () => {
  await withHello({ users: 1 }, async ({ server, users: [user] }) => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await tokenFor(server, user!, "ES256", { iat: now - 3600, exp: now - 120 });
    for (const headers of [{}, { authorization: `Bearer ${expired}` }]) {
      const ip = uniqueIp();
      const body = "authorization" in headers ? { op: "hello" } : { op: "hello", token: expired };
      const reply = await hello(server, ip, body, headers);
      assertError(reply, 401, "token_expired", [expired]);
      assert.match(reply.headers.get("www-authenticate")!, /^Bearer error="invalid_token", /);
      assert.equal(await sessionsFromIp(ip), 0);
    }
    assert.equal(await sessionCount([user!]), 0, "no session for the expired token");
    await assertTokenWorks(server, user!, await tokenFor(server, user!));
  });
});

Deno.test("token_revoked 401: the token's auth session is gone or past not_after", async () => {
  const server = await startHelloServer();
  const users = await createUsers(2);
  const [deleted, lapsed] = users as [TestUser, TestUser];
  try {
    await withAdmin(async (sql) => {
      await sql`delete from auth.sessions where id = ${deleted.authSessionId}`;
      await sql`
        update auth.sessions set not_after = now() - interval '1 minute'
        where id = ${lapsed.authSessionId}
      `;
    });
    for (const user of users) {
      const token = await tokenFor(server, user);
      const ip = uniqueIp();
      const reply = await hello(server, ip, { op: "hello", token });
      assertError(reply, 401, "token_revoked", [token]);
      assert.match(reply.headers.get("www-authenticate")!, /^Bearer error="invalid_token", /);
      assert.equal(await sessionsFromIp(ip), 0);
    }
    assert.equal(await sessionCount(users), 0, "no session for a revoked token");
  } finally {
    await deleteUsers(users);
    await server.close();
  }
});

Deno.test("payload_too_large 413: 17 KiB with Content-Length, and streamed without it", async () => {
  const server = await startHelloServer();
  const users = await createUsers(2);
  const [user, boundary] = users as [TestUser, TestUser];
  const probe = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) =>
      Response.json({
        contentLength: request.headers.get("content-length"),
        transferEncoding: request.headers.get("transfer-encoding"),
      }),
  );
  try {
    const token = await tokenFor(server, user);
    const big = JSON.stringify({ op: "hello", token, padding: "p".repeat(17 * 1024) });
    assert.ok(new TextEncoder().encode(big).byteLength > 17 * 1024);
    const stream = () => {
      const chunk = new TextEncoder().encode(" ".repeat(1024));
      let sent = 0;
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent === 0) {
            controller.enqueue(new TextEncoder().encode(`{"op":"hello","token":"${token}"`));
          }
          if (sent < 17) controller.enqueue(chunk);
          else {
            controller.enqueue(new TextEncoder().encode("}"));
            controller.close();
          }
          sent++;
        },
      });
    };

    // The streamed request really goes without Content-Length (chunked).
    const probed = await fetch(`http://127.0.0.1:${probe.addr.port}/`, {
      method: "POST",
      body: stream(),
    });
    assert.deepEqual(await probed.json(), { contentLength: null, transferEncoding: "chunked" });

    for (const [name, body] of [["Content-Length", big], ["streamed", stream()]] as const) {
      const ip = uniqueIp();
      const reply = await send(server, {
        ip,
        body,
        headers: { authorization: `Bearer ${token}` },
      });
      assertError(reply, 413, "payload_too_large", [token]);
      assert.match(reply.body.message as string, new RegExp(String(MAX_MESSAGE_BYTES)), name);
      assert.equal(await sessionsFromIp(ip), 0, name);
    }
    assert.equal(await sessionCount([user]), 0, "no session from an oversized hello");

    // The limit is the limit: exactly MAX_MESSAGE_BYTES is read and accepted.
    const boundaryToken = await tokenFor(server, boundary);
    const base = JSON.stringify({ op: "hello", token: boundaryToken });
    const exact = base.slice(0, -1) + " ".repeat(MAX_MESSAGE_BYTES - base.length) + "}";
    assert.equal(new TextEncoder().encode(exact).byteLength, MAX_MESSAGE_BYTES);
    const accepted = await send(server, { ip: uniqueIp(), body: exact });
    assert.equal(accepted.status, 200, accepted.text);
  } finally {
    await probe.shutdown();
    await deleteUsers(users);
    await server.close();
  }
});

Deno.test("unsupported_media_type 415: text/plain, and no Content-Type at all", async () => {
  await withHello({ users: 1 }, async ({ server, users: [user] }) => {
    const token = await tokenFor(server, user!);
    const json = JSON.stringify({ op: "hello", token });
    const cases: [string, BodyInit, string | null][] = [
      ["text/plain", json, "text/plain"],
      ["text/plain with a charset", json, "text/plain; charset=utf-8"],
      ["no Content-Type", new TextEncoder().encode(json), null],
      ["a form", `token=${token}`, "application/x-www-form-urlencoded"],
      ["application/jsonx", json, "application/jsonx"],
    ];
    for (const [name, body, contentType] of cases) {
      for (const headers of [{}, { authorization: `Bearer ${token}` }]) {
        const ip = uniqueIp();
        const reply = await send(server, { ip, body, contentType, headers });
        assertError(reply, 415, "unsupported_media_type", [token]);
        assert.equal(await sessionsFromIp(ip), 0, name);
      }
    }
    assert.equal(await sessionCount([user!]), 0);
    // The same body as application/json (with parameters) is fine.
    const ok = await send(server, {
      ip: uniqueIp(),
      body: json,
      contentType: "Application/JSON; charset=utf-8",
    });
    assert.equal(ok.status, 200, ok.text);
  });
});

Deno.test("rate_limited 429 scope user: the 11th hello of one user within a minute", async () => {
  await withHello({ users: 1 }, async ({ server, users: [user] }) => {
    const token = await tokenFor(server, user!);
    for (let i = 1; i <= 10; i++) {
      // Different IPs: only the user's budget is shared.
      const reply = await hello(server, uniqueIp(), { op: "hello", token });
      assert.equal(reply.status, 200, `hello ${i}: ${reply.text}`);
    }
    assert.equal(await sessionCount([user!]), 10);
    const ip = uniqueIp();
    const reply = await hello(server, ip, { op: "hello", token });
    assertError(reply, 429, "rate_limited", [token]);
    assert.equal(reply.body.scope, "user");
    assert.equal(reply.headers.get("ratelimit-policy"), `"hello_user";q=10;w=60`);
    assert.match(reply.headers.get("ratelimit")!, /^"hello_user";r=0;t=\d+$/);
    assert.ok(Number(reply.headers.get("retry-after")) <= 60);
    assert.equal(await sessionsFromIp(ip), 0);
    assert.equal(await sessionCount([user!]), 10, "the refused hello opened no session");
  });
});

/**
 * Sends 50 hellos from `ip` spread over `users` (at most 9 each, so no user limit binds), all
 * at once: GCRA refills one hello_ip unit every 1.2 s, so they must all land within that.
 */
async function spendIpBudget(
  server: HelloServer,
  tokens: string[],
  forwardedFor: (i: number) => string,
): Promise<number> {
  const started = performance.now();
  const replies = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      send(server, {
        ip: forwardedFor(i),
        body: JSON.stringify({ op: "hello", token: tokens[i % tokens.length] }),
      })),
  );
  for (const [i, reply] of replies.entries()) {
    assert.equal(reply.status, 200, `hello ${i + 1}: ${reply.text}`);
  }
  return performance.now() - started;
}

Deno.test("rate_limited 429 scope ip: the 51st hello of one IP within a minute", async () => {
  await withHello({ users: 6 }, async ({ server, users }) => {
    // HS256: no JWKS fetch on this fresh server (see the cold-start test below).
    const tokens = await Promise.all(users.map((user) => tokenFor(server, user, "HS256")));
    const ip = uniqueIp();
    const started = performance.now();
    await spendIpBudget(server, tokens, () => ip);
    const reply = await hello(server, ip, { op: "hello", token: tokens[5] });
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1200, `51 hellos took ${elapsed} ms: hello_ip refilled a unit meanwhile`);
    assertError(reply, 429, "rate_limited", [tokens[5]!]);
    assert.equal(reply.body.scope, "ip");
    assert.equal(reply.headers.get("ratelimit-policy"), `"hello_ip";q=50;w=60`);
    assert.match(reply.headers.get("ratelimit")!, /^"hello_ip";r=0;t=\d+$/);
    assert.equal(await sessionsFromIp(ip), 50, "exactly 50 sessions from the IP");
    assert.equal(await sessionCount(users), 50);

    // Another IP is not affected, for the same user.
    const other = await hello(server, uniqueIp(), { op: "hello", token: tokens[5] });
    assert.equal(other.status, 200, other.text);
  });
});

Deno.test("failed authentications count against the IP: after 20 bad tokens, good and bad ones are 429", async () => {
  await withHello({ users: 1 }, async ({ server, users: [user] }) => {
    const token = await tokenFor(server, user!);
    const ip = uniqueIp();
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => hello(server, ip, { op: "hello", token: `bad-${i}` })),
    );
    for (const reply of replies) assertError(reply, 401, "invalid_token");

    const refused = await hello(server, ip, { op: "hello", token });
    assertError(refused, 429, "rate_limited", [token]);
    assert.equal(refused.body.scope, "ip");
    assert.equal(refused.headers.get("ratelimit-policy"), `"auth_failure_ip";q=20;w=60`);
    assert.match(refused.headers.get("ratelimit")!, /^"auth_failure_ip";r=0;t=\d+$/);
    assert.equal(await sessionCount([user!]), 0, "the good token opened no session from there");

    // A 21st bad token is refused the same way as the good one: the answer no longer tells a
    // guesser whether the token was right.
    const guess = await hello(server, ip, { op: "hello", token: "bad-21" });
    assertError(guess, 429, "rate_limited");
    assert.equal(guess.body.scope, "ip");

    // The same good token from another IP is fine: it was the IP's failures that refused it.
    const elsewhere = await hello(server, uniqueIp(), { op: "hello", token });
    assert.equal(elsewhere.status, 200, elsewhere.text);
  });
});

Deno.test("a spoofed X-Forwarded-For entry does not reset the IP count", async () => {
  await withHello({ users: 6 }, async ({ server, users }) => {
    // HS256: no JWKS fetch on this fresh server (see the cold-start test below).
    const tokens = await Promise.all(users.map((user) => tokenFor(server, user, "HS256")));
    const fixed = uniqueIp();
    const spoof = () => `${uniqueIp()}, ${fixed}`;
    const started = performance.now();
    await spendIpBudget(server, tokens, spoof);
    const spoofed = uniqueIp();
    const reply = await send(server, {
      ip: `${spoofed}, ${fixed}`,
      body: JSON.stringify({ op: "hello", token: tokens[5] }),
    });
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1200, `51 hellos took ${elapsed} ms: hello_ip refilled a unit meanwhile`);
    assertError(reply, 429, "rate_limited", [tokens[5]!]);
    assert.equal(reply.body.scope, "ip");
    assert.match(reply.headers.get("ratelimit")!, /^"hello_ip";r=0;t=\d+$/);
    assert.equal(await sessionsFromIp(fixed), 50, "every session was recorded from the fixed IP");
    assert.equal(await sessionsFromIp(spoofed), 0);
  });
});

Deno.test("a burst of valid ES256 hellos on a cold server is accepted while the JWKS is fetched", async () => {
  // docs/auth.md: only an unknown kid is a 401. A kid the project's JWKS has must verify, also
  // for the hellos that arrive while the first JWKS fetch is still in flight.
  await withHello({ users: 10 }, async ({ server, users }) => {
    const tokens = await Promise.all(users.map((user) => tokenFor(server, user, "ES256")));
    const replies = await Promise.all(
      tokens.map((token) => hello(server, uniqueIp(), { op: "hello", token })),
    );
    const statuses = replies.map((reply) => `${reply.status} ${reply.body.error ?? "ok"}`);
    assert.deepEqual(statuses, tokens.map(() => "200 ok"), JSON.stringify(statuses));
    assert.equal(server.jwks.requests, 1, "one JWKS fetch served the whole burst");
    assert.equal(await sessionCount(users), 10);
  });
});

Deno.test("unavailable 503: the database cannot be reached", async () => {
  const deadPort = freePort();
  await withHello({
    users: 1,
    env: {
      SUPABASE_DB_URL: `postgresql://postgres:postgres@127.0.0.1:${deadPort}/postgres`,
    },
  }, async ({ server, users: [user] }) => {
    const token = await tokenFor(server, user!);
    const cases: [string, BodyInit][] = [
      ["a valid token", JSON.stringify({ op: "hello", token })],
      ["a bad token", JSON.stringify({ op: "hello", token: "garbage" })],
      ["no token", JSON.stringify({ op: "hello" })],
      ["invalid JSON", "{"],
    ];
    for (const [name, body] of cases) {
      const reply = await send(server, { ip: uniqueIp(), body });
      assertError(reply, 503, "unavailable", [token]);
      assert.ok(reply.headers.has("retry-after"), name);
    }
    assert.equal(await sessionCount([user!]), 0);
  });
});

Deno.test("internal 500: the database answers, but without the hello functions", async () => {
  await withHello({
    users: 1,
    env: {
      SUPABASE_DB_URL: databaseUrl(testStack().ports.database, "template1"),
    },
  }, async ({ server, users: [user] }) => {
    const token = await tokenFor(server, user!);
    const cases: [string, BodyInit][] = [
      ["a valid token", JSON.stringify({ op: "hello", token })],
      ["a bad token", JSON.stringify({ op: "hello", token: "garbage" })],
      ["invalid JSON", "{"],
    ];
    for (const [name, body] of cases) {
      const reply = await send(server, { ip: uniqueIp(), body });
      assertError(reply, 500, "internal", [token]);
      assert.equal(reply.body.message, "Something went wrong on our side.", name);
    }
    assert.equal(await sessionCount([user!]), 0);
  });
});
