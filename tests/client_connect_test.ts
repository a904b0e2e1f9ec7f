// The client module's connect() against the test stack's hello function over real WebSockets:
// heartbeats, resume after a dropped socket, backoff that honours a rate limit's retry_after, a
// fresh access token before the old one expires, and bye.
import assert from "node:assert/strict";
import { createMcpClient } from "../client/mcp_client.js";
import { loadKeys } from "../scripts/lib/keys.ts";
import { mintAccessToken } from "../scripts/lib/tokens.ts";
import { withAdmin } from "./_helpers/hello.ts";
import { testStack } from "./_helpers/stack.ts";
import { withUploadUsers } from "./_helpers/uploads.ts";

const state = testStack();
const noStorage = { storage: { from: () => ({}) as never } };

type Event = { type: string; detail?: Record<string, unknown> };

/** Resolves with the first event that `match` accepts, within `ms`. */
function waitFor(events: Event[], match: (event: Event) => boolean, ms = 10_000): Promise<Event> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = () => {
      const found = events.find(match);
      if (found) return resolve(found);
      if (Date.now() - started > ms) {
        return reject(new Error(`No such event within ${ms} ms: ${JSON.stringify(events)}`));
      }
      setTimeout(poll, 20);
    };
    poll();
  });
}

Deno.test("connect(): hello, pongs from the heartbeat, and bye closes the session", async () => {
  await withUploadUsers(1, async ({ users: [user] }) => {
    const mcp = createMcpClient(noStorage, {
      functionsUrl: state.functionsUrl,
      accessToken: () => Promise.resolve(user!.token),
    });
    const events: Event[] = [];
    const connection = mcp.connect({
      client: { name: "ws-test", version: "1" },
      heartbeatSeconds: 0.1,
    });
    connection.onEvent = (event: Event) => events.push(event);
    const ack = await connection.ready;
    assert.equal(ack.ok, true);
    assert.equal(ack.resumed, false);
    await waitFor(events, (e) => e.type === "pong");
    await connection.close();
    const { session } = await mcp.sessions.get(ack.session.id);
    assert.equal(session.connection_status, "closed");
    assert.equal(connection.socket, null);
  });
});

Deno.test("connect(): a dropped socket is replaced, resuming the same session", async () => {
  await withUploadUsers(1, async ({ users: [user] }) => {
    const mcp = createMcpClient(noStorage, {
      functionsUrl: state.functionsUrl,
      accessToken: () => Promise.resolve(user!.token),
    });
    const events: Event[] = [];
    const connection = mcp.connect({ heartbeatSeconds: 5 });
    connection.onEvent = (event: Event) => events.push(event);
    const ack = await connection.ready;
    const firstToken = connection.session!.token;
    connection.socket!.close(4000, "cut by the test");
    await waitFor(events, (e) => e.type === "drop");
    const reopened = await waitFor(events, (e) => e.type === "open" && e.detail?.resumed === true);
    assert.equal(reopened.detail?.session_id, ack.session.id);
    assert.notEqual(connection.session!.token, firstToken, "a resume rotates the session token");
    await connection.close();
  });
});

Deno.test("connect(): after a drop, a rate-limited resume waits at least retry_after, then succeeds", async () => {
  await withUploadUsers(1, async ({ users: [user] }) => {
    const [saved] = await withAdmin((sql) =>
      sql<[{ max_requests: number; per: string }]>`
        select max_requests, per::text from mcp_private.rate_limit_policies where name = 'hello_user'
      `
    );
    await withAdmin((sql) =>
      sql`update mcp_private.rate_limit_policies set max_requests = 1, per = interval '3 seconds'
          where name = 'hello_user'`
    );
    try {
      const mcp = createMcpClient(noStorage, {
        functionsUrl: state.functionsUrl,
        accessToken: () => Promise.resolve(user!.token),
      });
      const events: Event[] = [];
      const connection = mcp.connect({ heartbeatSeconds: 30 });
      connection.onEvent = (event: Event) => events.push(event);
      const ack = await connection.ready;
      const cut = Date.now();
      connection.socket!.close(4000, "cut by the test");
      const reopened = await waitFor(
        events,
        (e) => e.type === "open" && e.detail?.resumed === true,
        15_000,
      );
      assert.equal(reopened.detail?.session_id, ack.session.id);
      const waits = events.filter((e) => e.type === "retry").map((e) => Number(e.detail?.delay_ms));
      assert.ok(waits.length >= 2, `a quick retry, then a rate-limited one: ${waits}`);
      assert.ok(Math.max(...waits) >= 1000, `the limited retry waited retry_after: ${waits}`);
      assert.ok(Date.now() - cut >= 1000);
      await connection.close();
    } finally {
      await withAdmin((sql) =>
        sql`update mcp_private.rate_limit_policies
            set max_requests = ${saved!.max_requests}, per = ${saved!.per}::interval
            where name = 'hello_user'`
      );
    }
  });
});

Deno.test("connect(): asks for a fresh access token before the old one expires, and resumes with it", async () => {
  await withUploadUsers(1, async ({ users: [user] }) => {
    const keys = await loadKeys(state.keysFile);
    const [short, fresh] = await withAdmin(async (sql) => [
      (await mintAccessToken(sql, keys, { email: user!.email, apiUrl: state.apiUrl, expiresIn: 4 }))
        .token,
      (await mintAccessToken(sql, keys, { email: user!.email, apiUrl: state.apiUrl })).token,
    ]);
    let asked = 0;
    const mcp = createMcpClient(noStorage, {
      functionsUrl: state.functionsUrl,
      accessToken: () => Promise.resolve(asked++ === 0 ? short : fresh),
    });
    const events: Event[] = [];
    const connection = mcp.connect({ heartbeatSeconds: 30, refreshMarginSeconds: 3 });
    connection.onEvent = (event: Event) => events.push(event);
    const ack = await connection.ready;
    await waitFor(events, (e) => e.type === "refresh", 5_000);
    assert.equal(asked, 2, "the token was asked for again before it expired");
    // Past the first token's expiry (and its 30 s of tolerance does not matter: the new token
    // is what the next hello sends).
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    connection.socket!.close(4000, "cut by the test");
    const reopened = await waitFor(events, (e) => e.type === "open" && e.detail?.resumed === true);
    assert.equal(reopened.detail?.session_id, ack.session.id);
    assert.ok(asked >= 3, "the resume asked for the current token");
    await connection.close();
  });
});
