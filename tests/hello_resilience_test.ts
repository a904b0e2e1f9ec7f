// The hello function when what it depends on fails (docs/auth.md): the JWKS endpoint goes down
// (keys fetched earlier keep working, an unknown kid is a 401, never a 5xx), and the database
// goes away and comes back (503 `unavailable` with Retry-After, fast, no session; then service
// resumes on the same handler once the database is back).
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
  withHello,
} from "./_helpers/hello.ts";
import { testStack } from "./_helpers/stack.ts";
import { accessClaims, sign } from "./_helpers/tokens.ts";
import { type Client, closeAll, connect, within } from "./_helpers/ws.ts";

function closeQuietly(closer: { close(): void }) {
  try {
    closer.close();
  } catch {
    // Already closed.
  }
}

/**
 * Copies `from` to `to` until either side ends, then closes both. Each chunk waits for `gate`
 * first, which lets the proxy freeze traffic without closing anything.
 */
async function pump(from: Deno.Conn, to: Deno.Conn, gate: () => Promise<void>): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const n = await from.read(buffer);
      if (n === null) break;
      await gate();
      let written = 0;
      while (written < n) written += await to.write(buffer.subarray(written, n));
    }
  } catch {
    // The other side or stop() closed a connection.
  } finally {
    closeQuietly(from);
    closeQuietly(to);
  }
}

/**
 * A TCP proxy on a fixed loopback port in front of `targetPort`: `stop()` is "the database is
 * down" (nothing listens, every proxied connection is cut), `start()` brings it back on the
 * same port.
 */
class TcpProxy {
  readonly port = freePort();
  readonly #target: number;
  #listener: Deno.Listener | undefined;
  #acceptLoop: Promise<void> | undefined;
  readonly #conns = new Set<Deno.Conn>();
  readonly #tasks = new Set<Promise<void>>();
  /** Client connections accepted so far. */
  accepted = 0;
  #frozen: (() => void)[] | undefined;

  constructor(targetPort: number) {
    this.#target = targetPort;
  }

  start(): void {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: this.port });
    this.#listener = listener;
    this.#acceptLoop = (async () => {
      try {
        for await (const conn of listener) this.#handle(conn);
      } catch {
        // The listener was closed.
      }
    })();
  }

  #handle(conn: Deno.Conn): void {
    this.accepted++;
    this.#conns.add(conn);
    const task = (async () => {
      let upstream: Deno.Conn | undefined;
      try {
        upstream = await Deno.connect({ hostname: "127.0.0.1", port: this.#target });
        this.#conns.add(upstream);
        const gate = () => this.#gate();
        await Promise.all([pump(conn, upstream, gate), pump(upstream, conn, gate)]);
      } catch {
        // Could not reach the target: the client sees its connection closed.
      } finally {
        closeQuietly(conn);
        if (upstream) closeQuietly(upstream);
        this.#conns.delete(conn);
        if (upstream) this.#conns.delete(upstream);
      }
    })();
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }

  #gate(): Promise<void> {
    const waiting = this.#frozen;
    return waiting ? new Promise((resolve) => waiting.push(resolve)) : Promise.resolve();
  }

  /** "The database hangs": connections stay open, but nothing passes through any more. */
  freeze(): void {
    this.#frozen ??= [];
  }

  /** Lets traffic through again. */
  thaw(): void {
    const waiting = this.#frozen ?? [];
    this.#frozen = undefined;
    for (const resume of waiting) resume();
  }

  /** Stops listening and cuts every open connection; resolves once all are gone. */
  async stop(): Promise<void> {
    this.thaw();
    if (this.#listener) closeQuietly(this.#listener);
    this.#listener = undefined;
    await this.#acceptLoop;
    this.#acceptLoop = undefined;
    for (const conn of this.#conns) closeQuietly(conn);
    await within(Promise.all([...this.#tasks]), 5_000, "the proxied connections to close");
  }
}

/** The test stack's PgBouncer URL, with the port of `proxy` instead. */
function proxiedDatabaseUrl(proxy: TcpProxy): string {
  const url = new URL(testStack().poolerUrl);
  url.port = String(proxy.port);
  return url.href;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("JWKS endpoint down: fetched keys keep working, an unknown kid is a 401", async () => {
  await withHello({ users: 1 }, async ({ server, users }) => {
    const [user] = users as [TestUser];
    assert.equal(server.jwks.requests, 0);
    const first = await postHello(server, { op: "hello", token: await tokenFor(server, user) }, {
      ip: uniqueIp(),
    });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(server.jwks.requests, 1, "the first ES256 token fetches the JWKS");

    server.jwks.up = false;
    // New tokens (different claims, so the verified-token cache cannot answer for them).
    const es256 = await tokenFor(server, user, "ES256", { jti: crypto.randomUUID() });
    const stale = await postHello(server, { op: "hello", token: es256 }, { ip: uniqueIp() });
    assert.equal(stale.status, 200, `stale keys keep working: ${JSON.stringify(stale.body)}`);
    assert.equal(stale.body.ok, true);
    const rs256 = await tokenFor(server, user, "RS256", { jti: crypto.randomUUID() });
    const staleRs = await postHello(server, { op: "hello", token: rs256 }, { ip: uniqueIp() });
    assert.equal(staleRs.status, 200, JSON.stringify(staleRs.body));

    // A key the project does not know: refused as a bad token, not as a server failure.
    const unknown = await sign(
      server.keys,
      accessClaims(server.issuer, user.userId, user.authSessionId, { jti: crypto.randomUUID() }),
      "stranger",
    );
    for (let i = 0; i < 3; i++) {
      const response = await postHello(server, { op: "hello", token: unknown }, {
        ip: uniqueIp(),
      });
      assert.equal(response.status, 401, JSON.stringify(response.body));
      assert.equal(response.body.error, "invalid_token");
      assert.match(response.headers.get("www-authenticate")!, /^Bearer error="invalid_token"/);
      assert.ok(!JSON.stringify(response.body).includes(unknown.split(".")[2]!));
    }
    // Within the 30 s cooldown nothing is fetched again, whatever the unknown kids.
    assert.equal(server.jwks.requests, 1, "no fetch while the endpoint is down and cooling down");
    assert.equal(await sessionCount([user]), 3);
  });
});

Deno.test("JWKS endpoint down from the start: ES256 tokens are a 401, never a 5xx", async () => {
  await withHello({ users: 1 }, async ({ server, users }) => {
    const [user] = users as [TestUser];
    server.jwks.up = false;
    for (let i = 0; i < 3; i++) {
      const response = await postHello(server, {
        op: "hello",
        token: await tokenFor(server, user, "ES256", { jti: crypto.randomUUID() }),
      }, { ip: uniqueIp() });
      assert.equal(response.status, 401, JSON.stringify(response.body));
      assert.equal(response.body.error, "invalid_token");
    }
    assert.equal(server.jwks.requests, 1, "one attempt, then the cooldown holds");
    // HS256 does not depend on the JWKS.
    const hs = await postHello(server, {
      op: "hello",
      token: await tokenFor(server, user, "HS256"),
    }, { ip: uniqueIp() });
    assert.equal(hs.status, 200, JSON.stringify(hs.body));
    assert.equal(await sessionCount([user]), 1);
  });
});

Deno.test("database down: 503 unavailable with Retry-After, fast, no session; back up: 200", async () => {
  const proxy = new TcpProxy(testStack().ports.pooler);
  proxy.start();
  let server: HelloServer | undefined;
  const users = await createUsers(2);
  const [before, during] = users as [TestUser, TestUser];
  try {
    server = await startHelloServer({ SUPABASE_DB_URL: proxiedDatabaseUrl(proxy) });
    const ok = await postHello(server, { op: "hello", token: await tokenFor(server, before) }, {
      ip: uniqueIp(),
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.ok(proxy.accepted > 0, "the function reached the database through the proxy");

    await proxy.stop();
    const token = await tokenFor(server, during);
    const started = performance.now();
    const down = await postHello(server, { op: "hello", token }, { ip: uniqueIp() });
    const elapsed = performance.now() - started;
    assert.equal(down.status, 503, JSON.stringify(down.body));
    assert.equal(down.body.op, "hello_ack");
    assert.equal(down.body.ok, false);
    assert.equal(down.body.error, "unavailable");
    assert.equal(typeof down.body.message, "string");
    assert.match(down.headers.get("retry-after") ?? "", /^[1-9]\d*$/, "Retry-After is set");
    assert.ok(elapsed < 5_000, `answered in ${Math.round(elapsed)} ms`);
    assert.ok(!JSON.stringify(down.body).includes(String(proxy.port)), "no connection details");
    assert.ok(!JSON.stringify(down.body).includes(token.split(".")[2]!), "no token");

    // A bad credential too: its failure must be counted against the IP, which needs the
    // database, so it is a 503 as well (never a 500).
    const bad = await postHello(server, { op: "hello", token: "not.a.jwt" }, { ip: uniqueIp() });
    assert.equal(bad.status, 503, JSON.stringify(bad.body));
    assert.equal(bad.body.error, "unavailable");

    assert.equal(await sessionCount([during]), 0, "the 503 attempt created no session");

    // The database comes back on the same address; the same handler recovers by itself.
    proxy.start();
    const deadline = Date.now() + 5_000;
    let last: Awaited<ReturnType<typeof postHello>>;
    while (true) {
      last = await postHello(server, { op: "hello", token }, { ip: uniqueIp() });
      if (last.status === 200) break;
      assert.equal(last.status, 503, `only 503 while recovering: ${JSON.stringify(last.body)}`);
      if (Date.now() > deadline) assert.fail(`still ${last.status} after 5 s`);
      await sleep(100);
    }
    assert.equal(last.body.ok, true);
    assert.equal(await sessionCount([during]), 1);
    assert.equal(await sessionCount([before]), 1);
  } finally {
    await proxy.stop();
    await server?.close();
    await deleteUsers(users);
  }
});

Deno.test("database down over WebSocket: ping and hello close with 1011; back up: hello works", async () => {
  const proxy = new TcpProxy(testStack().ports.pooler);
  proxy.start();
  let server: HelloServer | undefined;
  const clients: Client[] = [];
  const users = await createUsers(2);
  const [open, late] = users as [TestUser, TestUser];
  try {
    server = await startHelloServer({ SUPABASE_DB_URL: proxiedDatabaseUrl(proxy) });
    const socket = await connect(server, uniqueIp());
    clients.push(socket);
    socket.send({ op: "hello", token: await tokenFor(server, open) });
    const ack = await socket.next();
    assert.equal(ack.ok, true, JSON.stringify(ack));

    await proxy.stop();
    // An open session whose ping cannot reach the database.
    socket.send({ op: "ping" });
    const error = await socket.next();
    assert.equal(error.ok, false);
    assert.equal(error.error, "unavailable", JSON.stringify(error));
    assert.equal((await socket.closed()).code, 1011);

    // A new hello while the database is down.
    const token = await tokenFor(server, late);
    const down = await connect(server, uniqueIp());
    clients.push(down);
    const started = performance.now();
    down.send({ op: "hello", token });
    const downAck = await down.next();
    const close = await down.closed();
    assert.ok(performance.now() - started < 5_000, "fails fast");
    assert.equal(downAck.op, "hello_ack");
    assert.equal(downAck.ok, false);
    assert.equal(downAck.error, "unavailable");
    assert.equal(close.code, 1011, `close ${close.code} ${close.reason}`);
    assert.ok(!JSON.stringify(downAck).includes(token.split(".")[2]!));
    assert.equal(await sessionCount([late]), 0, "no session while the database is down");

    proxy.start();
    const deadline = Date.now() + 5_000;
    while (true) {
      const retry = await connect(server, uniqueIp());
      clients.push(retry);
      retry.send({ op: "hello", token });
      const retryAck = await retry.next();
      if (retryAck.ok === true) {
        retry.send({ op: "ping" });
        assert.equal((await retry.next()).op, "pong");
        retry.send({ op: "bye" });
        assert.equal((await retry.closed()).code, 1000);
        break;
      }
      assert.equal(retryAck.error, "unavailable", JSON.stringify(retryAck));
      assert.equal((await retry.closed()).code, 1011);
      if (Date.now() > deadline) assert.fail("the WebSocket hello did not recover within 5 s");
      await sleep(100);
    }
    assert.equal(await sessionCount([late]), 1);
  } finally {
    await closeAll(clients);
    await proxy.stop();
    await server?.close();
    await deleteUsers(users);
  }
});

Deno.test("database hangs (connections open, no answers): 503 after the query time limit, not a hung request", async () => {
  const proxy = new TcpProxy(testStack().ports.pooler);
  proxy.start();
  // A time limit of 1 s instead of the default 5 s, so the test waits less.
  const server = await startHelloServer({ SUPABASE_DB_URL: proxiedDatabaseUrl(proxy) }, {
    queryTimeoutMs: 1_000,
  });
  const users = await createUsers(1);
  try {
    const ok = await postHello(server, { op: "hello", token: await tokenFor(server, users[0]!) }, {
      ip: uniqueIp(),
    });
    assert.equal(ok.status, 200);

    proxy.freeze();
    const started = performance.now();
    const hung = await within(
      postHello(server, { op: "hello", token: await tokenFor(server, users[0]!, "HS256") }, {
        ip: uniqueIp(),
      }),
      15_000,
      "an answer while the database hangs",
    );
    const elapsed = performance.now() - started;
    assert.equal(hung.status, 503);
    assert.equal(hung.body.error, "unavailable");
    assert.ok(hung.headers.get("retry-after"));
    assert.ok(
      elapsed >= 900 && elapsed < 5_000,
      `answered after the time limit (${elapsed} ms)`,
    );
  } finally {
    await proxy.stop();
    await deleteUsers(users);
    await server.close();
  }
});
