// The WebSocket hello handshake end to end (docs/auth.md): a real WebSocket over loopback, real
// tokens, the real SQL hello through PgBouncer. Each test has its own users and client IPs, and
// every wait is bounded, so a hung socket fails the test instead of hanging the suite.
import assert from "node:assert/strict";
import { freePort } from "../scripts/lib/ports.ts";
import {
  createUsers,
  deleteUsers,
  type HelloServer,
  postHello,
  sessionCount,
  startHelloServer,
  type TestUser,
  tokenFor,
  uniqueIp,
  withAdmin,
  withHello,
} from "./_helpers/hello.ts";
import { accessClaims, sign } from "./_helpers/tokens.ts";
import { type Client, closeAll, type CloseInfo, connect, type Json } from "./_helpers/ws.ts";

const SESSION_TOKEN = /^mcps_[A-Za-z0-9_-]{43}$/;

interface SessionRow {
  connection_status: string;
  last_active: Date;
  expires_at: Date;
  closed_at: Date | null;
  version: number;
}

async function sessionRow(id: string): Promise<SessionRow | undefined> {
  return await withAdmin(async (sql) => {
    const [row] = await sql<SessionRow[]>`
      select connection_status, last_active, expires_at, closed_at, version::int as version
      from public.mcp_sessions where id = ${id}
    `;
    return row;
  });
}

/** Polls the session row until its status is `status`; fails after `timeoutMs`. */
async function waitForStatus(id: string, status: string, timeoutMs = 5_000): Promise<SessionRow> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const row = await sessionRow(id);
    if (row?.connection_status === status) return row;
    if (Date.now() > deadline) {
      assert.fail(`session ${id} is ${row?.connection_status ?? "missing"}, not ${status}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Ack {
  op: string;
  ok: boolean;
  session: { id: string; token: string; expires_at: string; version: number };
  user: { id: string; role: string; email?: string };
  auth: string;
  resumed: boolean;
  grace_period_ends_at: string | null;
}

/** Opens a socket, says hello with `hello`, and expects a successful ack. */
async function helloOk(
  server: HelloServer,
  ip: string,
  hello: Json,
): Promise<{ client: Client; ack: Ack }> {
  const client = await connect(server, ip);
  client.send(hello);
  const ack = await client.next() as unknown as Ack;
  assert.equal(ack.ok, true, `hello failed: ${JSON.stringify(ack)}`);
  return { client, ack };
}

/** Says `hello` on a new socket and expects a failed ack with `error`, then close `code`. */
async function helloFails(
  server: HelloServer,
  hello: unknown,
  error: string,
  code: number,
): Promise<{ ack: Json; close: CloseInfo }> {
  const client = await connect(server, uniqueIp());
  try {
    client.send(hello);
    const ack = await client.next();
    const close = await client.closed();
    assert.equal(ack.op, "hello_ack", JSON.stringify(ack));
    assert.equal(ack.ok, false, JSON.stringify(ack));
    assert.equal(ack.error, error, JSON.stringify(ack));
    assert.equal(typeof ack.message, "string");
    assert.equal(ack.session, undefined);
    assert.equal(close.code, code, `close ${close.code} ${close.reason}`);
    assert.equal(client.messages.length, 1, "nothing after the failed ack");
    return { ack, close };
  } finally {
    await client.drop().catch(() => {});
  }
}

/** Asserts that neither the ack nor the close reason repeats `token` or its signature. */
function assertNoToken(token: string, ...texts: unknown[]) {
  const signature = token.split(".")[2] ?? token;
  for (const text of texts) {
    const serialized = typeof text === "string" ? text : JSON.stringify(text);
    assert.ok(!serialized.includes(token), "the token is not echoed");
    if (signature.length > 8) assert.ok(!serialized.includes(signature), "nor its signature");
  }
}

Deno.test("WS: hello with an ES256 token opens a connected session", async () => {
  const server = await startHelloServer();
  const [user] = await createUsers(1) as [TestUser];
  const clients: Client[] = [];
  try {
    const token = await tokenFor(server, user, "ES256");
    const ip = uniqueIp();
    const { client, ack } = await helloOk(server, ip, {
      op: "hello",
      token,
      client: { name: "ws-client", version: "0.1.0" },
    });
    clients.push(client);
    assert.equal(ack.op, "hello_ack");
    assert.match(ack.session.id, /^[0-9a-f-]{36}$/);
    assert.match(ack.session.token, SESSION_TOKEN);
    assert.equal(ack.session.version, 1);
    assert.ok(Math.abs(Date.parse(ack.session.expires_at) - Date.now() - 3_600_000) < 60_000);
    assert.deepEqual(ack.user, { id: user.userId, role: "authenticated", email: user.email });
    assert.equal(ack.auth, "jwt");
    assert.equal(ack.resumed, false);
    assert.equal(ack.grace_period_ends_at, null);
    assertNoToken(token, ack);

    await withAdmin(async (sql) => {
      const [row] = await sql`
        select connection_status, user_id, auth_session_id, client_name, host(ip) as ip
        from public.mcp_sessions where id = ${ack.session.id}
      `;
      assert.ok(row, "the session row exists");
      assert.equal(row.connection_status, "connected");
      assert.equal(row.user_id, user.userId);
      assert.equal(row.auth_session_id, user.authSessionId);
      assert.equal(row.client_name, "ws-client");
      assert.equal(row.ip, ip);
    });
    client.send({ op: "bye" });
    assert.equal((await client.closed()).code, 1000);
  } finally {
    await closeAll(clients);
    await deleteUsers([user]);
    await server.close();
  }
});

Deno.test("WS: ping answers pong and slides the expiry without bumping the version", async () => {
  const server = await startHelloServer();
  const [user] = await createUsers(1) as [TestUser];
  const clients: Client[] = [];
  try {
    const { client, ack } = await helloOk(server, uniqueIp(), {
      op: "hello",
      token: await tokenFor(server, user),
    });
    clients.push(client);
    const before = (await sessionRow(ack.session.id))!;
    await new Promise((resolve) => setTimeout(resolve, 1_100));

    client.send({ op: "ping" });
    const pong = await client.next();
    assert.deepEqual(Object.keys(pong).sort(), ["expires_at", "op"]);
    assert.equal(pong.op, "pong");
    const after = (await sessionRow(ack.session.id))!;
    assert.equal(Date.parse(pong.expires_at as string), after.expires_at.getTime());
    assert.ok(
      after.last_active.getTime() - before.last_active.getTime() >= 1_000,
      `last_active moved: ${before.last_active.toISOString()} → ${after.last_active.toISOString()}`,
    );
    assert.ok(
      after.expires_at.getTime() - before.expires_at.getTime() >= 1_000,
      `expires_at moved: ${before.expires_at.toISOString()} → ${after.expires_at.toISOString()}`,
    );
    assert.equal(after.version, before.version, "a ping is activity, not a change");
    assert.equal(after.connection_status, "connected");

    // A second ping on the same socket works too.
    client.send({ op: "ping" });
    assert.equal((await client.next()).op, "pong");
    client.send({ op: "bye" });
    assert.equal((await client.closed()).code, 1000);
  } finally {
    await closeAll(clients);
    await deleteUsers([user]);
    await server.close();
  }
});

Deno.test("WS: bye closes the session and the socket with 1000", async () => {
  const server = await startHelloServer();
  const [user] = await createUsers(1) as [TestUser];
  const clients: Client[] = [];
  try {
    const ip = uniqueIp();
    const { client, ack } = await helloOk(server, ip, {
      op: "hello",
      token: await tokenFor(server, user),
    });
    clients.push(client);
    client.send({ op: "bye" });
    const close = await client.closed();
    assert.equal(close.code, 1000, `close ${close.code} ${close.reason}`);
    assert.equal(client.messages.length, 1, "no message after the ack");

    // The server handles the close asynchronously: give it a moment, the row must not become
    // `disconnected` afterwards.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const row = (await sessionRow(ack.session.id))!;
    assert.equal(row.connection_status, "closed");
    assert.ok(row.closed_at instanceof Date, "closed_at is set");
    assert.ok(Math.abs(row.closed_at!.getTime() - Date.now()) < 10_000);
    assert.equal(row.version, 2);
    await withAdmin(async (sql) => {
      const events = await sql`
        select event, user_id, host(ip) as ip from mcp_private.audit_events
        where session_id = ${ack.session.id} order by id
      `;
      assert.deepEqual(
        events.map((e) => [e.event, e.user_id, e.ip]),
        [["hello_succeeded", user.userId, ip], ["session_closed", user.userId, ip]],
      );
    });
  } finally {
    await closeAll(clients);
    await deleteUsers([user]);
    await server.close();
  }
});

Deno.test("WS: a dropped socket leaves the session disconnected and resumable over HTTP once", async () => {
  const server = await startHelloServer();
  const [user] = await createUsers(1) as [TestUser];
  const clients: Client[] = [];
  try {
    const { client, ack } = await helloOk(server, uniqueIp(), {
      op: "hello",
      token: await tokenFor(server, user),
    });
    clients.push(client);
    await client.drop();
    const dropped = await waitForStatus(ack.session.id, "disconnected");
    assert.equal(dropped.closed_at, null);
    assert.equal(dropped.version, ack.session.version + 1);
    await withAdmin(async (sql) => {
      const events = await sql`
        select event from mcp_private.audit_events where session_id = ${ack.session.id} order by id
      `;
      assert.deepEqual(events.map((e) => e.event), ["hello_succeeded", "session_disconnected"]);
    });

    // A fresh token (different claims) for the same user resumes it.
    const fresh = await tokenFor(server, user, "ES256", { jti: crypto.randomUUID() });
    const resumed = await postHello(server, {
      op: "hello",
      token: fresh,
      session_token: ack.session.token,
    }, { ip: uniqueIp() });
    assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
    const resumedAck = resumed.body as unknown as Ack;
    assert.equal(resumedAck.resumed, true);
    assert.equal(resumedAck.session.id, ack.session.id);
    assert.match(resumedAck.session.token, SESSION_TOKEN);
    assert.notEqual(resumedAck.session.token, ack.session.token, "the token rotates");
    assert.equal(resumedAck.session.version, dropped.version + 1);
    const row = (await sessionRow(ack.session.id))!;
    assert.equal(row.connection_status, "connected");
    assert.equal(row.version, resumedAck.session.version);

    // The old token died with the rotation.
    const again = await postHello(server, {
      op: "hello",
      token: fresh,
      session_token: ack.session.token,
    }, { ip: uniqueIp() });
    assert.equal(again.status, 401, JSON.stringify(again.body));
    assert.equal(again.body.error, "invalid_token");
    assert.ok(!JSON.stringify(again.body).includes(ack.session.token));
    assert.equal(await sessionCount([user]), 1, "no second session");
  } finally {
    await closeAll(clients);
    await deleteUsers([user]);
    await server.close();
  }
});

Deno.test("WS: a dropped session resumes over WebSocket too", async () => {
  const server = await startHelloServer();
  const [user] = await createUsers(1) as [TestUser];
  const clients: Client[] = [];
  try {
    const ip = uniqueIp();
    const first = await helloOk(server, ip, { op: "hello", token: await tokenFor(server, user) });
    clients.push(first.client);
    await first.client.drop();
    const dropped = await waitForStatus(first.ack.session.id, "disconnected");

    const second = await helloOk(server, ip, {
      op: "hello",
      token: await tokenFor(server, user, "RS256"),
      session_token: first.ack.session.token,
    });
    clients.push(second.client);
    assert.equal(second.ack.resumed, true);
    assert.equal(second.ack.session.id, first.ack.session.id);
    assert.notEqual(second.ack.session.token, first.ack.session.token);
    assert.equal(second.ack.session.version, dropped.version + 1);
    assert.equal((await sessionRow(first.ack.session.id))!.connection_status, "connected");

    // The resumed socket is a full session: ping, then bye.
    second.client.send({ op: "ping" });
    assert.equal((await second.client.next()).op, "pong");
    second.client.send({ op: "bye" });
    assert.equal((await second.client.closed()).code, 1000);
    assert.equal((await sessionRow(first.ack.session.id))!.connection_status, "closed");

    // A closed session cannot be resumed, over WS either.
    const { ack } = await helloFails(
      server,
      {
        op: "hello",
        token: await tokenFor(server, user),
        session_token: second.ack.session.token,
      },
      "invalid_token",
      4003,
    );
    assert.ok(!JSON.stringify(ack).includes(second.ack.session.token));
    assert.equal(await sessionCount([user]), 1);
  } finally {
    await closeAll(clients);
    await deleteUsers([user]);
    await server.close();
  }
});

Deno.test("WS: no hello within the timeout closes the socket with 4408", async () => {
  const server = await startHelloServer({}, { helloTimeoutMs: 300 });
  const clients: Client[] = [];
  try {
    const started = Date.now();
    const client = await connect(server, uniqueIp());
    clients.push(client);
    const close = await client.closed(5_000);
    const elapsed = Date.now() - started;
    assert.equal(close.code, 4408, `close ${close.code} ${close.reason}`);
    assert.ok(elapsed >= 250, `closed after ${elapsed} ms, not before the timeout`);
    assert.equal(client.messages.length, 0);
  } finally {
    await closeAll(clients);
    await server.close();
  }
});

Deno.test("WS: a hello that arrives in time is not cut off by the timeout", async () => {
  const server = await startHelloServer({}, { helloTimeoutMs: 300 });
  const [user] = await createUsers(1) as [TestUser];
  const clients: Client[] = [];
  try {
    const { client } = await helloOk(server, uniqueIp(), {
      op: "hello",
      token: await tokenFor(server, user),
    });
    clients.push(client);
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(client.ws.readyState, WebSocket.OPEN, "still open past the hello timeout");
    client.send({ op: "ping" });
    assert.equal((await client.next()).op, "pong");
    client.send({ op: "bye" });
    assert.equal((await client.closed()).code, 1000);
  } finally {
    await closeAll(clients);
    await deleteUsers([user]);
    await server.close();
  }
});

Deno.test("WS: a malformed first message is bad_request, closed with 4400", async () => {
  await withHello({}, async ({ server }) => {
    await helloFails(server, "{not json", "bad_request", 4400);
    await helloFails(server, { op: "nope" }, "bad_request", 4400);
    await helloFails(server, { op: "ping" }, "bad_request", 4400);
    await helloFails(server, [1, 2], "bad_request", 4400);
    await helloFails(server, { op: "hello", token: 42 }, "bad_request", 4400);
  });
});

Deno.test("WS: bad credentials get a hello_ack with the reason, then 4003, and no session", async () => {
  const server = await startHelloServer();
  const users = await createUsers(5);
  const [invalid, missing, expired, revoked, stranger] = users as [
    TestUser,
    TestUser,
    TestUser,
    TestUser,
    TestUser,
  ];
  try {
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<{ name: string; user: TestUser; token?: string; error: string }> = [
      {
        name: "tampered signature",
        user: invalid,
        token: await (async () => {
          const good = await tokenFor(server, invalid);
          const other = await tokenFor(server, invalid, "ES256", { jti: "other" });
          const [h, p] = good.split(".");
          return `${h}.${p}.${other.split(".")[2]}`;
        })(),
        error: "invalid_token",
      },
      {
        name: "unknown key",
        user: stranger,
        token: await sign(
          server.keys,
          accessClaims(server.issuer, stranger.userId, stranger.authSessionId),
          "stranger",
        ),
        error: "invalid_token",
      },
      { name: "no token", user: missing, error: "jwt_required" },
      {
        name: "expired",
        user: expired,
        token: await tokenFor(server, expired, "ES256", { iat: now - 7_200, exp: now - 3_600 }),
        error: "token_expired",
      },
    ];
    await withAdmin(async (sql) => {
      await sql`delete from auth.sessions where id = ${revoked.authSessionId}`;
    });
    cases.push({
      name: "revoked",
      user: revoked,
      token: await tokenFor(server, revoked),
      error: "token_revoked",
    });

    for (const { name, user, token, error } of cases) {
      const { ack, close } = await helloFails(
        server,
        token === undefined ? { op: "hello" } : { op: "hello", token },
        error,
        4003,
      );
      assert.equal(close.code, 4003, name);
      if (token !== undefined) assertNoToken(token, ack, close.reason);
      assert.equal(await sessionCount([user]), 0, `${name}: no session`);
    }
    assert.equal(await sessionCount(users), 0);
  } finally {
    await deleteUsers(users);
    await server.close();
  }
});

Deno.test("WS: the 11th hello of a user within a minute is rate_limited (scope user), 4029", async () => {
  const server = await startHelloServer();
  const [user] = await createUsers(1) as [TestUser];
  const clients: Client[] = [];
  try {
    const ip = uniqueIp();
    const token = await tokenFor(server, user);
    for (let i = 0; i < 10; i++) {
      const { client, ack } = await helloOk(server, ip, { op: "hello", token });
      clients.push(client);
      assert.equal(ack.resumed, false, `hello ${i + 1}`);
      client.send({ op: "bye" });
      assert.equal((await client.closed()).code, 1000, `hello ${i + 1} closes with bye`);
    }
    const client = await connect(server, ip);
    clients.push(client);
    client.send({ op: "hello", token });
    const ack = await client.next();
    const close = await client.closed();
    assert.equal(ack.op, "hello_ack");
    assert.equal(ack.ok, false);
    assert.equal(ack.error, "rate_limited");
    assert.equal(ack.scope, "user");
    assert.ok(
      typeof ack.retry_after === "number" && ack.retry_after > 0 && ack.retry_after <= 60,
      `retry_after: ${ack.retry_after}`,
    );
    assert.equal(close.code, 4029, `close ${close.code} ${close.reason}`);
    assertNoToken(token, ack, close.reason);
    assert.equal(await sessionCount([user]), 10);
  } finally {
    await closeAll(clients);
    await deleteUsers([user]);
    await server.close();
  }
});

Deno.test("WS: an oversized message closes with 1009, a binary one with 1003", async () => {
  const server = await startHelloServer();
  const [user] = await createUsers(1) as [TestUser];
  const clients: Client[] = [];
  try {
    // As the first message.
    const big = await connect(server, uniqueIp());
    clients.push(big);
    big.send(JSON.stringify({ op: "hello", token: "x".repeat(17_000) }));
    assert.equal((await big.closed()).code, 1009);

    const plainBig = await connect(server, uniqueIp());
    clients.push(plainBig);
    plainBig.send("a".repeat(17_000));
    assert.equal((await plainBig.closed()).code, 1009);

    const binary = await connect(server, uniqueIp());
    clients.push(binary);
    binary.ws.send(new TextEncoder().encode(JSON.stringify({ op: "hello" })));
    assert.equal((await binary.closed()).code, 1003);

    // After a successful hello too; the session is then left disconnected, not closed.
    const { client, ack } = await helloOk(server, uniqueIp(), {
      op: "hello",
      token: await tokenFor(server, user),
    });
    clients.push(client);
    client.ws.send(new Uint8Array([1, 2, 3]));
    assert.equal((await client.closed()).code, 1003);
    await waitForStatus(ack.session.id, "disconnected");
  } finally {
    await closeAll(clients);
    await deleteUsers([user]);
    await server.close();
  }
});

Deno.test("WS: an unreachable database is unavailable, closed with 1011", async () => {
  const port = freePort();
  await withHello({
    users: 1,
    env: {
      SUPABASE_DB_URL: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`,
    },
  }, async ({ server, users }) => {
    const [user] = users as [TestUser];
    const token = await tokenFor(server, user);
    const started = Date.now();
    const { ack, close } = await helloFails(server, { op: "hello", token }, "unavailable", 1011);
    assert.ok(Date.now() - started < 5_000, "fails fast");
    assert.equal(ack.retry_after, 5);
    assertNoToken(token, ack, close.reason);
    assert.ok(!JSON.stringify(ack).includes(String(port)), "no connection details");
    assert.ok(!JSON.stringify(ack).includes("postgres"), "no connection details");
    // A malformed hello is recorded in the database too, so it is unavailable as well.
    await helloFails(server, { op: "nope" }, "unavailable", 1011);
    assert.equal(await sessionCount([user]), 0);
  });
});

Deno.test("WS: a burst of pings is answered in full, with one database write per second at most", async () => {
  const server = await startHelloServer();
  const [user] = await createUsers(1);
  const clients: Client[] = [];
  try {
    const { client } = await helloOk(server, uniqueIp(), {
      op: "hello",
      token: await tokenFor(server, user!),
    });
    clients.push(client);
    for (let i = 0; i < 30; i++) client.send({ op: "ping" });
    const pongs: Json[] = [];
    for (let i = 0; i < 30; i++) pongs.push(await client.next());
    assert.ok(pongs.every((pong) => pong.op === "pong"), "every ping got its pong");
    assert.equal(
      new Set(pongs.map((pong) => pong.expires_at)).size,
      1,
      "the burst moved the expiry once: one touch, not thirty",
    );
  } finally {
    await closeAll(clients);
    await deleteUsers([user!]);
    await server.close();
  }
});

Deno.test("WS: a ping right after the session was closed elsewhere is refused, not answered with a pong", async () => {
  const server = await startHelloServer();
  const [user] = await createUsers(1);
  const clients: Client[] = [];
  try {
    const { client, ack } = await helloOk(server, uniqueIp(), {
      op: "hello",
      token: await tokenFor(server, user!),
    });
    clients.push(client);
    client.send({ op: "ping" });
    assert.equal((await client.next()).op, "pong");
    // Closed through the sessions API (here its SQL) within the same second.
    await withAdmin((sql) =>
      sql`select ok from mcp_private.close_session(${ack.session.id}, ${user!.userId})`
    );
    client.send({ op: "ping" });
    const refused = await client.next();
    assert.equal(refused.op, "error");
    assert.equal(refused.error, "session_expired");
    assert.equal((await client.closed()).code, 4003);
  } finally {
    await closeAll(clients);
    await deleteUsers([user!]);
    await server.close();
  }
});
