// The seed-style WebSocket daemon (examples/ws_daemon.ts) against the test stack: a client that
// said hello is accepted with its session token; an unknown, closed or garbage token is refused
// with close 4003; a first message that is not auth is refused with 4400.
import assert from "node:assert/strict";
import { createMcpClient } from "../client/mcp_client.js";
import { startWsDaemon } from "../examples/ws_daemon.ts";
import { testStack } from "./_helpers/stack.ts";
import { withUploadUsers } from "./_helpers/uploads.ts";

const state = testStack();

/** Opens a socket to `url`, sends `first`, and collects messages until it closes. */
function session(url: string, first: unknown, then: unknown[] = []) {
  return new Promise<{ messages: Record<string, unknown>[]; code: number }>((resolve, reject) => {
    const socket = new WebSocket(url);
    const messages: Record<string, unknown>[] = [];
    const timer = setTimeout(() => reject(new Error("the daemon did not answer")), 10_000);
    socket.onopen = () => socket.send(JSON.stringify(first));
    socket.onmessage = (event) => {
      const message = JSON.parse(String(event.data));
      messages.push(message);
      if (message.op === "auth_ack" && message.ok) {
        for (const next of then) socket.send(JSON.stringify(next));
        if (then.length === 0) socket.close(1000);
      }
      if (message.op === "echo" && messages.filter((m) => m.op === "echo").length === then.length) {
        socket.close(1000);
      }
    };
    socket.onclose = (event) => {
      clearTimeout(timer);
      resolve({ messages, code: event.code });
    };
  });
}

Deno.test("ws daemon: a client that said hello is accepted with its session token; others are refused", async () => {
  await withUploadUsers(1, async ({ users: [user] }) => {
    const daemon = startWsDaemon({
      port: 0,
      supabaseUrl: state.apiUrl,
      serverKey: state.serviceRoleKey,
      sessionCacheSeconds: 1,
    });
    try {
      const mcp = createMcpClient({ storage: { from: () => ({}) as never } }, {
        functionsUrl: state.functionsUrl,
        accessToken: () => Promise.resolve(user!.token),
      });
      const { session: opened } = await mcp.hello();
      const accepted = await session(daemon.url, { op: "auth", session_token: opened.token }, [
        { op: "echo", text: "hi" },
      ]);
      assert.deepEqual(accepted.messages, [
        { op: "auth_ack", ok: true, user_id: user!.userId, session_id: opened.id },
        { op: "echo", text: "hi", user_id: user!.userId },
      ]);

      const unknown = await session(daemon.url, {
        op: "auth",
        session_token: "mcps_" + "A".repeat(43),
      });
      assert.equal(unknown.code, 4003);
      assert.deepEqual(unknown.messages, [{ op: "auth_ack", ok: false, reason: "not_found" }]);
      const garbage = await session(daemon.url, { op: "auth", session_token: "not a token" });
      assert.equal(garbage.code, 4003);
      const wrongFirst = await session(daemon.url, { op: "echo", text: "no auth" });
      assert.equal(wrongFirst.code, 4400);

      // Closed in the project: refused once the kit's cache (1 s here) has let go of it.
      await mcp.sessions.close(opened.id);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const closed = await session(daemon.url, { op: "auth", session_token: opened.token });
      assert.equal(closed.code, 4003);
      assert.deepEqual(closed.messages, [{ op: "auth_ack", ok: false, reason: "closed" }]);
    } finally {
      await daemon.close();
    }
  });
});
